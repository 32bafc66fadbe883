// Structured logging: one JSON object per line on stdout, as Kubernetes log
// collectors expect: {"ts":"...","level":"info","msg":"...","fields":{...}}.
// spdlog does the I/O and the timestamp; nlohmann-json (common/json.h) writes
// the body.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

namespace sidewal::server::log {

// A field value: strings are escaped, numbers and booleans are written bare.
using Value = std::variant<std::string_view, std::string, int64_t, uint64_t, double, bool>;
struct Field {
  std::string_view key;
  Value value;
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, const char* v) : key(k), value(std::string_view(v)) {}
  Field(std::string_view k, bool v) : key(k), value(v) {}
  Field(std::string_view k, double v) : key(k), value(v) {}
  template <typename I>
  requires std::is_integral_v<I> Field(std::string_view k, I v)
      : key(k),
        value(std::is_signed_v<I> ? Value(static_cast<int64_t>(v))
                                  : Value(static_cast<uint64_t>(v))) {}
};
using Fields = std::initializer_list<Field>;

// Installs the stdout JSON logger; `level` is trace, debug, info, warn or error.
void init(const std::string& level);

void debug(std::string_view msg, Fields fields = {});
void info(std::string_view msg, Fields fields = {});
void warn(std::string_view msg, Fields fields = {});
void error(std::string_view msg, Fields fields = {});

// The part of a line after "ts" and "level": "msg":"...","fields":{...}, the
// fields in the order given (exposed for the tests).
std::string render(std::string_view msg, Fields fields);

}  // namespace sidewal::server::log
