#include "server/config_parse.h"

#include <charconv>
#include <cmath>

namespace sidewal::server::config_parse {

Status key_error(const std::string& key, const std::string& what) {
  return Status::InvalidArgument(key + ": " + what);
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Null: return "null";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Map: return "a mapping";
    case YAML::NodeType::Scalar: return "'" + n.Scalar() + "'";
    default: return "nothing";
  }
}

// Whole-string unsigned integer; rejects signs, spaces and trailing junk.
bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

Status get_string(const YAML::Node& n, const std::string& key, std::string* out) {
  if (!n.IsScalar()) return key_error(key, "expected a string, got " + describe(n));
  *out = n.Scalar();
  return Status::Ok();
}

Status get_u64(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max,
               uint64_t* out) {
  uint64_t v = 0;
  if (!n.IsScalar() || !parse_u64(n.Scalar(), &v)) {
    return key_error(key, "expected a non-negative integer, got " + describe(n));
  }
  if (v < min || v > max) {
    return key_error(key, "value " + std::to_string(v) + " is out of range [" +
                              std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = v;
  return Status::Ok();
}

// A byte size: an integer, or an integer with a KiB/MiB/GiB suffix ("64MiB").
Status get_size(const YAML::Node& n, const std::string& key, uint64_t min, uint64_t max,
                uint64_t* out) {
  if (!n.IsScalar()) return key_error(key, "expected a byte size, got " + describe(n));
  std::string s = n.Scalar();
  uint64_t unit = 1;
  for (auto [suffix, mult] :
       {std::pair<const char*, uint64_t>{"KiB", kKiB}, {"MiB", kMiB}, {"GiB", kGiB}, {"B", 1}}) {
    std::string_view sv(s);
    std::string_view sfx(suffix);
    if (sv.size() > sfx.size() && sv.substr(sv.size() - sfx.size()) == sfx) {
      s.resize(s.size() - sfx.size());
      while (!s.empty() && s.back() == ' ') s.pop_back();
      unit = mult;
      break;
    }
  }
  uint64_t v = 0;
  if (!parse_u64(s, &v) || (v != 0 && unit > UINT64_MAX / v)) {
    return key_error(key,
                     "expected a byte size (an integer, optionally with KiB, MiB or GiB), got " +
                         describe(n));
  }
  v *= unit;
  if (v < min || v > max) {
    return key_error(key, "value " + std::to_string(v) + " bytes is out of range [" +
                              std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  *out = v;
  return Status::Ok();
}

Status get_bool(const YAML::Node& n, const std::string& key, bool* out) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    if (s == "true") {
      *out = true;
      return Status::Ok();
    }
    if (s == "false") {
      *out = false;
      return Status::Ok();
    }
  }
  return key_error(key, "expected true or false, got " + describe(n));
}

Status get_seconds(const YAML::Node& n, const std::string& key, double max, double* out) {
  if (n.IsScalar()) {
    const std::string& s = n.Scalar();
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec == std::errc() && p == s.data() + s.size() && std::isfinite(v)) {
      if (v < 0 || v > max) {
        return key_error(key, "value " + s + " is out of range [0, " +
                                  std::to_string(static_cast<int>(max)) + "] seconds");
      }
      *out = v;
      return Status::Ok();
    }
  }
  return key_error(key, "expected a number of seconds, got " + describe(n));
}

Status walk_map(const YAML::Node& node, const std::string& prefix,
                const std::map<std::string, KeyParser>& keys) {
  const std::string where = prefix.empty() ? "the top level" : prefix;
  if (!node.IsMap()) {
    return key_error(prefix.empty() ? "config" : prefix,
                     "expected a mapping, got " + describe(node));
  }
  for (const auto& kv : node) {
    if (!kv.first.IsScalar()) return key_error(where, "keys must be strings");
    const std::string name = kv.first.Scalar();
    const std::string dotted = prefix.empty() ? name : prefix + "." + name;
    auto it = keys.find(name);
    if (it == keys.end()) {
      std::string known;
      for (const auto& [k, _] : keys) known += (known.empty() ? "" : ", ") + k;
      return key_error(dotted, "unknown key (known keys in " + where + ": " + known + ")");
    }
    SIDEWAL_RETURN_IF_ERROR(it->second(kv.second, dotted));
  }
  return Status::Ok();
}

KeyParser section(std::map<std::string, KeyParser> keys) {
  return [keys = std::move(keys)](const YAML::Node& n, const std::string& dotted) {
    return walk_map(n, dotted, keys);
  };
}

}  // namespace sidewal::server::config_parse
