#include "server/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

namespace sidewal::server::log {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> l;
  return l;
}

std::string render(std::string_view msg, Fields fields) {
  std::string out = "\"msg\":\"" + json_escape(msg) + "\",\"fields\":{";
  bool first = true;
  for (const Field& f : fields) {
    if (!first) out += ',';
    first = false;
    out += '"';
    out += json_escape(f.key);
    out += "\":";
    std::visit(
        [&out](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string_view> || std::is_same_v<T, std::string>) {
            out += '"';
            out += json_escape(v);
            out += '"';
          } else if constexpr (std::is_same_v<T, bool>) {
            out += v ? "true" : "false";
          } else if constexpr (std::is_same_v<T, double>) {
            char buf[64];
            std::snprintf(buf, sizeof buf, "%.9g", v);
            out += buf;
          } else {
            out += std::to_string(v);
          }
        },
        f.value);
  }
  out += '}';
  return out;
}

void emit(spdlog::level::level_enum level, std::string_view msg, Fields fields) {
  auto& l = logger();
  if (!l) init("info");
  if (!l->should_log(level)) return;
  l->log(level, "{}", render(msg, fields));
}

}  // namespace

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void init(const std::string& level) {
  // A multi-threaded stdout sink: several Asio threads log at once and each
  // line must stay whole.
  auto sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  auto l = std::make_shared<spdlog::logger>("sidewald", sink);
  l->set_formatter(std::make_unique<spdlog::pattern_formatter>(
      "{\"ts\":\"%Y-%m-%dT%H:%M:%S.%fZ\",\"level\":\"%l\",%v}", spdlog::pattern_time_type::utc));
  l->set_level(spdlog::level::from_str(level));
  // Every line is flushed: a crash must not lose the lines before it, and the
  // volume is low (no per-request logging at info).
  l->flush_on(spdlog::level::trace);
  logger() = l;
}

void debug(std::string_view msg, Fields fields) { emit(spdlog::level::debug, msg, fields); }
void info(std::string_view msg, Fields fields) { emit(spdlog::level::info, msg, fields); }
void warn(std::string_view msg, Fields fields) { emit(spdlog::level::warn, msg, fields); }
void error(std::string_view msg, Fields fields) { emit(spdlog::level::err, msg, fields); }

}  // namespace sidewal::server::log
