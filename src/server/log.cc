#include "server/log.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "common/json.h"

namespace sidewal::server::log {
namespace {

std::shared_ptr<spdlog::logger>& logger() {
  static std::shared_ptr<spdlog::logger> l;
  return l;
}

void emit(spdlog::level::level_enum level, std::string_view msg, Fields fields) {
  auto& l = logger();
  if (!l) init("info");
  if (!l->should_log(level)) return;
  l->log(level, "{}", render(msg, fields));
}

}  // namespace

std::string render(std::string_view msg, Fields fields) {
  Json f = Json::object();
  for (const Field& field : fields) {
    std::visit([&](const auto& v) { f[std::string(field.key)] = v; }, field.value);
  }
  return "\"msg\":" + json_text(Json(msg)) + ",\"fields\":" + json_text(f);
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
