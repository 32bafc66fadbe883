#include "archive/archive_names.h"

#include <openssl/rand.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>

namespace sidewal::archive {
namespace {

std::string d20(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(v));
  return buf;
}

// Reads exactly 20 digits at s[*pos]; advances *pos.
bool take20(const std::string& s, size_t* pos, uint64_t* v) {
  if (*pos + 20 > s.size()) return false;
  uint64_t x = 0;
  for (size_t i = 0; i < 20; ++i) {
    char c = s[*pos + i];
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (x > (UINT64_MAX - d) / 10) return false;
    x = x * 10 + d;
  }
  *pos += 20;
  *v = x;
  return true;
}

bool take(const std::string& s, size_t* pos, char c) {
  if (*pos >= s.size() || s[*pos] != c) return false;
  ++*pos;
  return true;
}

}  // namespace

std::string key_root(const std::string& prefix) { return prefix.empty() ? "" : prefix + "/"; }
std::string generations_prefix(const std::string& prefix) {
  return key_root(prefix) + "generations/";
}
std::string generation_prefix(const std::string& prefix, const std::string& generation) {
  return generations_prefix(prefix) + generation + "/";
}
std::string segments_prefix(const std::string& prefix, const std::string& generation) {
  return generation_prefix(prefix, generation) + "segments/";
}
std::string generation_marker_key(const std::string& prefix, const std::string& generation) {
  return generation_prefix(prefix, generation) + "GENERATION";
}

std::string piece_key(const std::string& prefix, const std::string& generation,
                      const PieceName& n) {
  return segments_prefix(prefix, generation) + d20(n.segment_first_lsn) + "/" + d20(n.begin) + "-" +
         d20(n.end) + "." + d20(n.first_lsn) + "-" + d20(n.last_lsn) + "." + d20(n.segment_id) +
         "." + d20(n.file_bytes) + "." + d20(n.stamp_us) + ".piece";
}

bool parse_piece_suffix(const std::string& s, PieceName* out) {
  PieceName n;
  size_t p = 0;
  bool ok = take20(s, &p, &n.segment_first_lsn) && take(s, &p, '/') && take20(s, &p, &n.begin) &&
            take(s, &p, '-') && take20(s, &p, &n.end) && take(s, &p, '.') &&
            take20(s, &p, &n.first_lsn) && take(s, &p, '-') && take20(s, &p, &n.last_lsn) &&
            take(s, &p, '.') && take20(s, &p, &n.segment_id) && take(s, &p, '.') &&
            take20(s, &p, &n.file_bytes) && take(s, &p, '.') && take20(s, &p, &n.stamp_us);
  if (!ok || s.compare(p, std::string::npos, ".piece") != 0) return false;
  if (n.begin >= n.end || n.first_lsn == 0 || n.first_lsn > n.last_lsn ||
      n.segment_first_lsn == 0 || n.segment_first_lsn > n.first_lsn || n.end > n.file_bytes ||
      n.segment_id == 0 || n.begin % 8 != 0 || n.end % 8 != 0) {
    return false;
  }
  *out = n;
  return true;
}

bool valid_generation_id(const std::string& id) {
  if (id.size() != 16) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Result<std::string> new_generation_id() {
  unsigned char b[8];
  if (RAND_bytes(b, sizeof b) != 1)
    return Status::IoError("RAND_bytes failed to draw a generation id");
  static const char* kHex = "0123456789abcdef";
  std::string id;
  for (unsigned char c : b) {
    id.push_back(kHex[c >> 4]);
    id.push_back(kHex[c & 15]);
  }
  return id;
}

Status parse_archive_url(const std::string& url, std::string* bucket, std::string* prefix) {
  const std::string scheme = "s3://";
  if (url.compare(0, scheme.size(), scheme) != 0) {
    return Status::InvalidArgument("archive URL '" + url + "' does not start with s3://");
  }
  std::string rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  *bucket = rest.substr(0, slash);
  std::string p = slash == std::string::npos ? "" : rest.substr(slash + 1);
  while (!p.empty() && p.back() == '/') p.pop_back();
  while (!p.empty() && p.front() == '/') p.erase(0, 1);
  *prefix = p;
  if (bucket->empty()) return Status::InvalidArgument("archive URL '" + url + "' names no bucket");
  return Status::Ok();
}

std::string format_stamp(uint64_t stamp_us) {
  time_t secs = static_cast<time_t>(stamp_us / 1000000);
  struct tm tm {};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lluZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned long long>(stamp_us % 1000000));
  return buf;
}

bool parse_rfc3339(const std::string& t, uint64_t* stamp_us) {
  struct tm tm {};
  int consumed = 0;
  if (std::sscanf(t.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6 ||
      consumed != 19) {
    return false;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  size_t p = 19;
  uint64_t frac_us = 0;
  if (p < t.size() && t[p] == '.') {
    ++p;
    uint64_t scale = 100000;
    size_t digits = 0;
    while (p < t.size() && t[p] >= '0' && t[p] <= '9') {
      frac_us += static_cast<uint64_t>(t[p] - '0') * scale;
      scale /= 10;
      ++p;
      ++digits;
    }
    if (digits == 0) return false;
  }
  int64_t offset_s = 0;
  if (p < t.size() && (t[p] == 'Z' || t[p] == 'z')) {
    ++p;
  } else if (p < t.size() && (t[p] == '+' || t[p] == '-')) {
    int hh = 0, mm = 0;
    if (p + 6 != t.size() || std::sscanf(t.c_str() + p + 1, "%2d:%2d", &hh, &mm) != 2) return false;
    offset_s = (t[p] == '+' ? 1 : -1) * (hh * 3600 + mm * 60);
    p += 6;
  } else {
    return false;
  }
  if (p != t.size()) return false;
  time_t secs = timegm(&tm);
  if (secs < 0) return false;
  int64_t utc = static_cast<int64_t>(secs) - offset_s;
  if (utc < 0) return false;
  *stamp_us = static_cast<uint64_t>(utc) * 1000000 + frac_us;
  return true;
}

uint64_t now_stamp_us() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

}  // namespace sidewal::archive
