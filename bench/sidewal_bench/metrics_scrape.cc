#include "metrics_scrape.h"

#include <chrono>
#include <cstdlib>

#include "common/http_get.h"

namespace sidewal::bench {

Result<std::string> admin_get(const std::string& address, const std::string& path, int timeout_ms) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return Status::InvalidArgument("admin address '" + address + "': expected host:port");
  }
  auto reply = sidewal::http_get(address.substr(0, colon), address.substr(colon + 1), path,
                                 std::chrono::milliseconds(timeout_ms));
  if (!reply.ok()) return reply.status();
  if (reply.value().status != 200) {
    return Status::IoError("GET " + path + " from " + address + ": HTTP status " +
                           std::to_string(reply.value().status));
  }
  return std::move(reply.value().body);
}

std::optional<double> metric_value(std::string_view text, std::string_view name) {
  std::optional<double> total;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.empty() || line.front() == '#' || !line.starts_with(name)) continue;
    std::string_view rest = line.substr(name.size());
    if (!rest.empty() && rest.front() == '{') {
      const size_t close = rest.find('}');
      if (close == std::string_view::npos) continue;
      rest.remove_prefix(close + 1);
    }
    if (rest.empty() || rest.front() != ' ') continue;  // a longer name sharing the prefix
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::string value(rest.substr(0, rest.find(' ')));  // drop an optional timestamp
    char* parse_end = nullptr;
    const double v = std::strtod(value.c_str(), &parse_end);
    if (parse_end == value.c_str()) continue;
    total = total.value_or(0) + v;
  }
  return total;
}

std::optional<double> records_per_flush(std::string_view before, std::string_view after) {
  const auto s0 = metric_value(before, "sidewal_group_commit_records_sum");
  const auto c0 = metric_value(before, "sidewal_group_commit_records_count");
  const auto s1 = metric_value(after, "sidewal_group_commit_records_sum");
  const auto c1 = metric_value(after, "sidewal_group_commit_records_count");
  if (!s0 || !c0 || !s1 || !c1 || *c1 <= *c0) return std::nullopt;
  return (*s1 - *s0) / (*c1 - *c0);
}

}  // namespace sidewal::bench
