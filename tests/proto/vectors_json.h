// A reader for the JSON subset tests/protocol_vectors/README.md allows:
// objects, arrays, strings without escape sequences, unsigned integers up to
// u64, true, false, null. Test code only; it throws std::runtime_error naming
// the byte offset on anything outside the subset, so a vector file that
// drifts from its documented format fails loudly rather than being misread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace sidewal::test {

struct JsonValue {
  enum class Kind { kNull, kBool, kInt, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  uint64_t integer = 0;
  std::string string;
  std::vector<JsonValue> array;
  std::map<std::string, JsonValue> object;

  bool is_null() const { return kind == Kind::kNull; }
  // Member access that fails loudly on a missing key or a wrong kind.
  const JsonValue& at(const std::string& key) const {
    expect(Kind::kObject, key.c_str());
    auto it = object.find(key);
    if (it == object.end()) throw std::runtime_error("missing key \"" + key + "\"");
    return it->second;
  }
  bool has(const std::string& key) const { return kind == Kind::kObject && object.count(key) != 0; }
  uint64_t u64() const { return expect(Kind::kInt, "integer").integer; }
  bool b() const { return expect(Kind::kBool, "bool").boolean; }
  const std::string& str() const { return expect(Kind::kString, "string").string; }
  const std::vector<JsonValue>& arr() const { return expect(Kind::kArray, "array").array; }

 private:
  const JsonValue& expect(Kind k, const char* what) const {
    if (kind != k) throw std::runtime_error(std::string("JSON value is not a ") + what);
    return *this;
  }
};

class JsonSubsetParser {
 public:
  explicit JsonSubsetParser(const std::string& text) : s_(text) {}

  JsonValue parse() {
    JsonValue v = value();
    skip_ws();
    if (i_ != s_.size()) fail("trailing bytes after the top-level value");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error("vectors JSON at byte " + std::to_string(i_) + ": " + why);
  }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n')) ++i_;
  }
  char peek() {
    skip_ws();
    if (i_ >= s_.size()) fail("unexpected end");
    return s_[i_];
  }
  void eat(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++i_;
  }
  bool literal(const char* word) {
    const std::string w(word);
    if (s_.compare(i_, w.size(), w) != 0) return false;
    i_ += w.size();
    return true;
  }
  std::string string_token() {
    eat('"');
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("unterminated string");
      const char c = s_[i_++];
      if (c == '"') return out;
      if (c == '\\') fail("escape sequences are outside the subset");
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      out.push_back(c);
    }
  }
  JsonValue value() {
    JsonValue v;
    const char c = peek();
    if (c == '{') {
      ++i_;
      v.kind = JsonValue::Kind::kObject;
      if (peek() == '}') {
        ++i_;
        return v;
      }
      while (true) {
        std::string key = string_token();
        eat(':');
        if (!v.object.emplace(key, value()).second) fail("duplicate key \"" + key + "\"");
        if (peek() == ',') {
          ++i_;
          continue;
        }
        eat('}');
        return v;
      }
    }
    if (c == '[') {
      ++i_;
      v.kind = JsonValue::Kind::kArray;
      if (peek() == ']') {
        ++i_;
        return v;
      }
      while (true) {
        v.array.push_back(value());
        if (peek() == ',') {
          ++i_;
          continue;
        }
        eat(']');
        return v;
      }
    }
    if (c == '"') {
      v.kind = JsonValue::Kind::kString;
      v.string = string_token();
      return v;
    }
    if (c >= '0' && c <= '9') {
      v.kind = JsonValue::Kind::kInt;
      uint64_t n = 0;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') {
        const uint64_t d = static_cast<uint64_t>(s_[i_] - '0');
        if (n > (UINT64_MAX - d) / 10) fail("integer above u64");
        n = n * 10 + d;
        ++i_;
      }
      if (i_ < s_.size() && (s_[i_] == '.' || s_[i_] == 'e' || s_[i_] == 'E')) {
        fail("non-integer numbers are outside the subset");
      }
      v.integer = n;
      return v;
    }
    if (literal("true")) {
      v.kind = JsonValue::Kind::kBool;
      v.boolean = true;
      return v;
    }
    if (literal("false")) {
      v.kind = JsonValue::Kind::kBool;
      return v;
    }
    if (literal("null")) return v;
    fail(std::string("unexpected character '") + c + "'");
  }

  const std::string& s_;
  size_t i_ = 0;
};

}  // namespace sidewal::test
