// Encryption at rest through the engine (docs/encryption.md, docs/format.md
// "Encrypted segments"): round trip through every reader, tampering detected
// (CRC first; the GCM tag when the CRC is fixed up), wrong/missing key refused
// with the files untouched, rotation and mixed logs, a crash at every I/O
// step with encryption on, and nonce uniqueness checked on the written files.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "common/endian.h"
#include "testing/sim_disk.h"
#include "wal/codecs/format.h"
#include "wal/codecs/record_cipher.h"
#include "wal/codecs/secure_key.h"
#include "wal/codecs/segment_keys.h"
#include "wal/control/replay.h"
#include "wal/readers/mmap_reader.h"
#include "wal/wal.h"
#include "wal_test_util.h"

namespace sidewal::wal {
namespace {

using testing::make_payload;
using testing::read_all;
using testing::ScratchDir;

std::unique_ptr<SecureKey> test_key(uint8_t seed) {
  std::vector<uint8_t> b(kKeyBytes);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(seed * 31 + i + 1);
  auto k = SecureKey::from_bytes(b, "test key " + std::to_string(seed));
  EXPECT_TRUE(k.ok());
  return std::move(k).value();
}

// A ring of (id, seed) keys, `current` 0 for none.
std::shared_ptr<const KeyRing> ring(std::vector<std::pair<uint16_t, uint8_t>> keys,
                                    uint16_t current) {
  auto r = std::make_shared<KeyRing>();
  for (auto [id, seed] : keys) EXPECT_TRUE(r->add(id, test_key(seed)).ok());
  if (current != 0) {
    EXPECT_TRUE(r->set_current(current).ok());
  }
  return r;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}
void write_bytes(const std::string& path, const std::vector<uint8_t>& b) {
  std::fstream f(path, std::ios::binary | std::ios::in | std::ios::out);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

std::map<std::string, std::vector<uint8_t>> dir_bytes(const std::string& dir) {
  std::map<std::string, std::vector<uint8_t>> m;
  for (const std::string& n : testing::wal_files(dir)) m[n] = file_bytes(dir + "/" + n);
  return m;
}

std::vector<std::string> segment_paths(const std::string& dir) {
  std::vector<std::string> v;
  for (const std::string& n : testing::wal_files(dir)) {
    uint64_t first = 0;
    if (format::parse_segment_file_name(n, &first)) v.push_back(dir + "/" + n);
  }
  return v;
}

WalOptions enc_options(const std::string& dir, std::shared_ptr<const KeyRing> keys,
                       uint64_t segment_bytes = 1 << 20) {
  WalOptions o;
  o.dir = dir;
  o.segment_bytes = segment_bytes;
  o.max_record_bytes = 8192;
  o.keys = std::move(keys);
  return o;
}

// Appends `n` records (sizes cycle through 0, 1, 100, 4096, 37) tagged from
// `tag`; returns what was appended by LSN.
std::map<uint64_t, std::vector<uint8_t>> append_some(Wal& wal, int n, uint64_t tag) {
  static const size_t kSizes[] = {0, 1, 100, 4096, 37};
  std::map<uint64_t, std::vector<uint8_t>> out;
  for (int i = 0; i < n; i += 2) {
    std::vector<uint8_t> a = make_payload(tag + i, kSizes[i % 5]);
    std::vector<uint8_t> b = make_payload(tag + i + 1, kSizes[(i + 1) % 5]);
    RecordIn batch[2];
    batch[0].type = 3;
    batch[0].tenant = 9;
    batch[0].payload = a;
    batch[1].type = 4;
    batch[1].tenant = 10;
    batch[1].payload = b;
    auto lsn = wal.append_sync(batch);
    EXPECT_TRUE(lsn.ok()) << lsn.status().ToString();
    if (!lsn.ok()) break;
    out[*lsn] = a;
    out[*lsn + 1] = b;
  }
  return out;
}

void expect_records(const std::vector<Record>& got,
                    const std::map<uint64_t, std::vector<uint8_t>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (const Record& r : got) {
    auto it = want.find(r.lsn);
    ASSERT_NE(it, want.end()) << "lsn " << r.lsn;
    EXPECT_EQ(r.payload, it->second) << "lsn " << r.lsn;
  }
}

bool contains(const std::vector<uint8_t>& hay, const std::vector<uint8_t>& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

format::Preamble preamble_of(const std::string& path) {
  std::vector<uint8_t> b = file_bytes(path);
  format::Preamble p;
  EXPECT_TRUE(format::decode_preamble(b.data(), b.size(), path, &p).ok()) << path;
  return p;
}

TEST(WalEncryption, RoundTripThroughEveryReader) {
  ScratchDir d;
  auto keys = ring({{1, 1}}, 1);
  std::map<uint64_t, std::vector<uint8_t>> want;
  {
    auto wal = Wal::open(enc_options(d.log(), keys), nullptr);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    want = append_some(**wal, 40, 100);
    expect_records(read_all(**wal), want);  // tail window: plaintext
    ASSERT_TRUE((*wal)->close().ok());
  }
  // On disk: cipher 1, key id 1, records at 40, and no plaintext.
  for (const std::string& p : segment_paths(d.log())) {
    format::Preamble pre = preamble_of(p);
    EXPECT_EQ(pre.cipher, format::kCipherAes256Gcm);
    EXPECT_EQ(pre.key_id, 1);
    EXPECT_EQ(pre.key_fingerprint, keys->current().fingerprint());
    std::vector<uint8_t> bytes = file_bytes(p);
    EXPECT_EQ(get_u64(bytes.data() + 40), 1u) << "first record at offset 40";
    for (const auto& [lsn, payload] : want) {
      if (payload.size() >= 100) {
        EXPECT_FALSE(contains(bytes, payload)) << "plaintext of " << lsn;
      }
    }
  }
  // Reopen: reads from disk (SequentialReader) decrypt.
  auto wal = Wal::open(enc_options(d.log(), keys), nullptr);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  expect_records(read_all(**wal), want);
  // A read from the middle (sparse index start, not the segment start).
  std::vector<Record> part;
  uint64_t next = 0;
  ASSERT_TRUE((*wal)->read(17, ReadLimits{3, 0}, &part, &next).ok());
  ASSERT_EQ(part.size(), 3u);
  EXPECT_EQ(part[0].payload, want[17]);
  ASSERT_TRUE((*wal)->close().ok());

  auto sk = std::make_shared<SegmentKeys>(keys);
  // Offline: inspect_dir, mmap_replay, the headers-only reader.
  std::vector<Record> inspected;
  RecoveryReport rep;
  auto io = make_backend(BackendKind::kPwrite, nullptr);
  std::vector<SegmentInfo> infos;
  ASSERT_TRUE(inspect_dir(
                  d.log(), io.get(), [&](const SegmentInfo& s) { infos.push_back(s); },
                  [&](const Record& r) { inspected.push_back(r); }, &rep, keys)
                  .ok());
  EXPECT_FALSE(rep.corruption) << rep.corruption_at;
  expect_records(inspected, want);
  for (const SegmentInfo& s : infos) {
    EXPECT_EQ(s.key_id, 1);
    EXPECT_TRUE(s.key_problem.empty()) << s.key_problem;
  }
  std::map<uint64_t, std::vector<uint8_t>> mm;
  MmapReaderStats ms;
  ASSERT_TRUE(mmap_replay(
                  d.log(), 1, UINT64_MAX,
                  [&](const MmapRecord& m) {
                    mm[m.header.lsn].assign(m.payload, m.payload + m.header.payload_len);
                    return true;
                  },
                  &ms, 8ull << 20, sk)
                  .ok());
  EXPECT_EQ(mm, want);
  uint64_t first = 0;
  auto reader = open_dir_reader(io.get(), d.log(), /*headers_only=*/true, &first, sk);
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE((*reader)->seek(first).ok());
  size_t n = 0;
  for (;;) {
    RecordRef r;
    bool got = false;
    ASSERT_TRUE((*reader)->next(&r, &got).ok());
    if (!got) break;
    EXPECT_EQ(r.header.payload_len, want[r.header.lsn].size()) << "lazy reader: plaintext length";
    EXPECT_EQ(r.payload, nullptr) << "lazy reader decrypts only on load_payload()";
    ASSERT_TRUE((*reader)->load_payload(&r).ok());
    EXPECT_EQ(std::vector<uint8_t>(r.payload, r.payload + r.header.payload_len),
              want[r.header.lsn]);
    ++n;
  }
  EXPECT_EQ(n, want.size());
  // Without keys: CRCs checked, key ids reported, no payload handed out.
  inspected.clear();
  infos.clear();
  ASSERT_TRUE(inspect_dir(
                  d.log(), io.get(), [&](const SegmentInfo& s) { infos.push_back(s); },
                  [&](const Record& r) { inspected.push_back(r); }, &rep)
                  .ok());
  EXPECT_FALSE(rep.corruption);
  EXPECT_TRUE(inspected.empty());
  ASSERT_FALSE(infos.empty());
  EXPECT_EQ(infos[0].key_id, 1);
  EXPECT_NE(infos[0].key_problem.find("key id 1"), std::string::npos) << infos[0].key_problem;
  EXPECT_EQ(mmap_replay(
                d.log(), 1, UINT64_MAX, [](const MmapRecord&) { return true; }, &ms)
                .code(),
            Code::kNotFound);
}

// Flips one bit of the record `lsn` at byte `at` of it (0 = its header);
// with fix_crc, recomputes the CRC so that only the GCM tag can catch it.
void tamper(const std::string& log, uint64_t lsn, size_t at, bool fix_crc) {
  for (const std::string& p : segment_paths(log)) {
    std::vector<uint8_t> b = file_bytes(p);
    format::Preamble pre = preamble_of(p);
    uint64_t pos = format::records_offset(pre);
    while (pos + format::kHeaderBytes <= b.size()) {
      format::RecordHeader h = format::decode_header(b.data() + pos);
      if (h.lsn == 0) break;
      if (h.lsn == lsn) {
        b[pos + at] ^= 0x10;
        if (fix_crc) {
          const uint32_t len = format::decode_header(b.data() + pos).payload_len;
          put_u32(b.data() + pos + format::kCrcOffset,
                  format::record_crc(pre.segment_id, b.data() + pos,
                                     b.data() + pos + format::kHeaderBytes, len));
        }
        write_bytes(p, b);
        return;
      }
      pos += format::record_bytes(h.payload_len);
    }
  }
  FAIL() << "lsn " << lsn << " not found";
}

class WalEncryptionTamper : public ::testing::Test {
 protected:
  void SetUp() override {
    auto wal = Wal::open(enc_options(d_.log(), keys_), nullptr);
    ASSERT_TRUE(wal.ok());
    want_ = append_some(**wal, 20, 7);
    ASSERT_TRUE((*wal)->close().ok());
  }
  // Reopens and reads every record from disk: must fail naming the segment
  // and offset, and never hand out the tampered record.
  void expect_read_fails(uint64_t lsn, const char* what) {
    RecoveryReport rep;
    auto wal = Wal::open(enc_options(d_.log(), keys_), &rep);
    ASSERT_TRUE(wal.ok()) << what << ": " << wal.status().ToString();
    std::vector<Record> out;
    uint64_t next = 0;
    Status st = (*wal)->read(lsn, ReadLimits{}, &out, &next);
    EXPECT_EQ(st.code(), Code::kCorruption) << what << ": " << st.ToString();
    EXPECT_NE(st.message().find("segment "), std::string::npos) << st.message();
    EXPECT_NE(st.message().find("offset "), std::string::npos) << st.message();
    for (const Record& r : out) EXPECT_NE(r.lsn, lsn) << what;
    // verify (inspect_dir) reports it as corruption too.
    auto io = make_backend(BackendKind::kPwrite, nullptr);
    RecoveryReport irep;
    std::vector<uint64_t> handed;
    ASSERT_TRUE(
        inspect_dir(
            d_.log(), io.get(), {}, [&](const Record& r) { handed.push_back(r.lsn); }, &irep, keys_)
            .ok());
    EXPECT_TRUE(irep.corruption) << what;
    EXPECT_EQ(std::count(handed.begin(), handed.end(), lsn), 0) << what;
  }
  ScratchDir d_;
  std::shared_ptr<const KeyRing> keys_ = ring({{1, 1}}, 1);
  std::map<uint64_t, std::vector<uint8_t>> want_;
};

TEST_F(WalEncryptionTamper, CiphertextBitFlipIsCaughtByTheCrc) {
  tamper(d_.log(), 5, format::kHeaderBytes + 3, /*fix_crc=*/false);
  RecoveryReport rep;
  auto wal = Wal::open(enc_options(d_.log(), keys_), &rep);
  // Record 5 is followed by valid ones: recovery refuses (corruption), and
  // nothing was changed.
  EXPECT_EQ(wal.status().code(), Code::kCorruption) << wal.status().ToString();
  EXPECT_NE(rep.corruption_at.find("crc mismatch"), std::string::npos) << rep.corruption_at;
}

TEST_F(WalEncryptionTamper, CiphertextBitFlipWithFixedCrcFailsTheTag) {
  tamper(d_.log(), 5, format::kHeaderBytes + 3, /*fix_crc=*/true);
  expect_read_fails(5, "ciphertext");
}

TEST_F(WalEncryptionTamper, TagBitFlipWithFixedCrcFailsTheTag) {
  // Record 1 has a 0-byte payload: its 16 on-disk bytes are all tag.
  ASSERT_EQ(want_[1].size(), 0u);
  tamper(d_.log(), 1, format::kHeaderBytes + 15, /*fix_crc=*/true);
  expect_read_fails(1, "tag");
}

TEST_F(WalEncryptionTamper, HeaderBitFlipWithFixedCrcFailsTheTag) {
  tamper(d_.log(), 6, 12, /*fix_crc=*/true);  // tenant: authenticated as AAD
  expect_read_fails(6, "header");
}

TEST(WalEncryption, WrongOrMissingKeyIsRefusedAndNothingIsWritten) {
  ScratchDir d;
  {
    auto wal = Wal::open(enc_options(d.log(), ring({{1, 1}}, 1)), nullptr);
    ASSERT_TRUE(wal.ok());
    append_some(**wal, 6, 1);
    // Leave an incomplete state recovery would repair (a spare), so that an
    // accepted open would visibly change the directory.
    ASSERT_TRUE((*wal)->close().ok());
  }
  const auto before = dir_bytes(d.log());
  // Same id, other bytes: the fingerprint tells.
  auto wrong = Wal::open(enc_options(d.log(), ring({{1, 2}}, 1)), nullptr);
  EXPECT_EQ(wrong.status().code(), Code::kInvalidArgument) << wrong.status().ToString();
  EXPECT_NE(wrong.status().message().find("key id 1"), std::string::npos);
  EXPECT_NE(wrong.status().message().find("test key 2"), std::string::npos) << "names the key file";
  EXPECT_NE(wrong.status().message().find(".wal"), std::string::npos) << "names the segment";
  // The id is not configured.
  auto missing = Wal::open(enc_options(d.log(), ring({{2, 1}}, 2)), nullptr);
  EXPECT_EQ(missing.status().code(), Code::kNotFound) << missing.status().ToString();
  // No keys at all.
  auto none = Wal::open(enc_options(d.log(), nullptr), nullptr);
  EXPECT_EQ(none.status().code(), Code::kNotFound) << none.status().ToString();
  EXPECT_EQ(dir_bytes(d.log()), before) << "a refused open must not change a byte";
}

TEST(WalEncryption, RotationAndMixedLogsReadBack) {
  ScratchDir d;
  std::map<uint64_t, std::vector<uint8_t>> want;
  auto add = [&](std::shared_ptr<const KeyRing> keys, uint64_t tag) {
    auto wal = Wal::open(enc_options(d.log(), keys, 64 * 1024), nullptr);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    auto got = append_some(**wal, 30, tag);
    want.insert(got.begin(), got.end());
    expect_records(read_all(**wal), want);
    ASSERT_TRUE((*wal)->close().ok());
  };
  add(nullptr, 1000);                    // plaintext
  add(ring({{1, 1}}, 1), 2000);          // encrypted under key 1
  add(ring({{1, 1}, {2, 2}}, 2), 3000);  // rotated to key 2
  add(ring({{1, 1}, {2, 2}}, 0), 4000);  // encryption off again, keys kept to read
  std::set<std::pair<int, int>> cipher_key;
  for (const std::string& p : segment_paths(d.log())) {
    format::Preamble pre = preamble_of(p);
    cipher_key.insert({pre.cipher, pre.key_id});
  }
  EXPECT_EQ(cipher_key, (std::set<std::pair<int, int>>{{0, 0}, {1, 1}, {1, 2}}));
  // Reading everything back after a reopen (disk reads) with both keys.
  auto wal = Wal::open(enc_options(d.log(), ring({{1, 1}, {2, 2}}, 2), 64 * 1024), nullptr);
  ASSERT_TRUE(wal.ok()) << wal.status().ToString();
  expect_records(read_all(**wal), want);
  ASSERT_TRUE((*wal)->close().ok());
  // Key 1 cannot be dropped while a segment uses it.
  auto dropped = Wal::open(enc_options(d.log(), ring({{2, 2}}, 2), 64 * 1024), nullptr);
  EXPECT_EQ(dropped.status().code(), Code::kNotFound) << dropped.status().ToString();
}

// Every segment on disk: salt, key id, segment id, and the LSNs sealed in it.
// No (segment key, nonce) pair may repeat, and no two salts may be equal.
void check_nonces_unique(const std::vector<std::pair<std::string, std::vector<uint8_t>>>& files,
                         const KeyRing& keys) {
  std::set<std::vector<uint8_t>> salts;
  std::set<std::vector<uint8_t>> pairs;  // segment key bytes || nonce
  size_t records = 0;
  for (const auto& [path, b] : files) {
    format::Preamble pre;
    ASSERT_TRUE(format::decode_preamble(b.data(), b.size(), path, &pre).ok()) << path;
    if (pre.cipher == format::kCipherNone) continue;
    EXPECT_TRUE(salts.insert(std::vector<uint8_t>(pre.salt.begin(), pre.salt.end())).second)
        << "salt repeated in " << path;
    auto k = keys.get(pre.key_id);
    ASSERT_TRUE(k.ok());
    auto sk = derive_segment_key(**k, pre.salt, pre.segment_id);
    ASSERT_TRUE(sk.ok());
    const auto kb = (*sk)->bytes();
    uint64_t pos = format::records_offset(pre);
    while (pos + format::kHeaderBytes <= b.size()) {
      format::RecordHeader h = format::decode_header(b.data() + pos);
      if (h.lsn == 0 || pos + format::record_bytes(h.payload_len) > b.size()) break;
      Nonce n = derive_nonce(pre.segment_id, h.lsn);
      std::vector<uint8_t> pair(kb.begin(), kb.end());
      pair.insert(pair.end(), n.begin(), n.end());
      EXPECT_TRUE(pairs.insert(pair).second) << "(key, nonce) reused: " << path << " lsn " << h.lsn;
      ++records;
      pos += format::record_bytes(h.payload_len);
    }
  }
  EXPECT_GT(records, 0u);
  EXPECT_GE(salts.size(), 2u);
}

// Restarts, crashes (power loss with unsynced writes dropped or torn, so LSNs
// are reassigned after a cut) and rollovers, on the simulated disk; then the
// written files (including the bytes recovery cut, as an attacker with an
// old snapshot would have them) are checked for nonce reuse.
TEST(WalEncryption, NonceUniqueAcrossRestartsCrashesAndRolloverOnTheWrittenFiles) {
  auto disk = std::make_shared<SimDisk>(77, SimDisk::CrashModel::kRandom);
  auto keys = ring({{1, 1}, {2, 2}}, 1);
  WalOptions o;
  o.dir = "/enc/wal";
  o.segment_bytes = 32 * 1024;
  o.max_record_bytes = 512;
  o.io = disk;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> seen;  // every version ever on disk
  auto snapshot = [&] {
    auto names = disk->list_dir(o.dir);
    if (!names.ok()) return;  // a crash before the directory was durable
    for (const std::string& n : *names) {
      uint64_t v = 0;
      if (!format::parse_segment_file_name(n, &v)) continue;
      const std::string p = o.dir + "/" + n;
      OpenOptions ro;
      ro.writable = false;
      ro.direct = false;
      auto f = disk->open(p, ro);
      ASSERT_TRUE(f.ok());
      auto size = disk->file_size(*f);
      ASSERT_TRUE(size.ok());
      std::vector<uint8_t> b(*size);
      size_t got = 0;
      ASSERT_TRUE(disk->read(*f, 0, b.data(), b.size(), &got).ok());
      ASSERT_TRUE(disk->close(*f).ok());
      seen.emplace_back(p, std::move(b));
    }
  };
  uint64_t tag = 1;
  for (int life = 0; life < 8; ++life) {
    if (life == 4) keys = ring({{1, 1}, {2, 2}}, 2);  // rotation mid-way
    o.keys = keys;
    if (life % 2 == 1) disk->crash_after_io(25 + life * 7);  // crash mid-run
    {
      auto wal = Wal::open(o, nullptr);
      if (wal.ok()) {
        for (int i = 0; i < 40; ++i) {
          std::vector<uint8_t> p = make_payload(tag++, 50 + (i * 37) % 400);
          if (!testing::append_one(**wal, p).ok()) break;
        }
        if (life % 2 == 0) {
          ASSERT_TRUE((*wal)->close().ok());
        }
        snapshot();  // before power loss: includes what recovery will cut
      }
    }
    disk->restart();
    snapshot();
  }
  // Each segment file version appears many times; dedupe by (path, bytes):
  // the same record seen twice is the same sealing, not a reuse.
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  // Collapse versions of one file whose records agree; the check needs each
  // distinct (segment, lsn, ciphertext) once.
  std::map<std::tuple<std::string, uint64_t>, std::vector<uint8_t>> sealed;
  std::vector<std::pair<std::string, std::vector<uint8_t>>> unique_files;
  std::set<std::vector<uint8_t>> salts_per_file;
  for (auto& [path, b] : seen) {
    format::Preamble pre;
    if (!format::decode_preamble(b.data(), b.size(), path, &pre).ok()) continue;
    uint64_t pos = format::records_offset(pre);
    std::vector<uint8_t> filtered(b.begin(), b.begin() + static_cast<ptrdiff_t>(pos));
    filtered.resize(b.size(), 0);
    bool any = false;
    while (pos + format::kHeaderBytes <= b.size()) {
      format::RecordHeader h;
      std::string why;
      // Only whole records (a torn one is not a sealing that reached disk).
      if (format::check_record(b.data() + pos, b.size() - pos, pre.segment_id, 0, &h, &why) !=
          format::RecordCheck::kValid) {
        break;
      }
      const uint64_t len = format::record_bytes(h.payload_len);
      std::vector<uint8_t> rec(b.begin() + static_cast<ptrdiff_t>(pos),
                               b.begin() + static_cast<ptrdiff_t>(pos + len));
      auto key = std::make_tuple(path + "#" + std::to_string(pre.segment_id) + "#" +
                                     std::string(pre.salt.begin(), pre.salt.end()),
                                 h.lsn);
      auto [it, fresh] = sealed.emplace(key, rec);
      if (fresh) {
        std::copy(rec.begin(), rec.end(), filtered.begin() + static_cast<ptrdiff_t>(pos));
        any = true;
      } else {
        EXPECT_EQ(it->second, rec)
            << path << " lsn " << h.lsn << ": same segment (same salt) sealed twice differently";
      }
      pos += len;
    }
    if (any) unique_files.emplace_back(path, std::move(filtered));
  }
  check_nonces_unique(unique_files, *keys);
}

// The crash-at-every-I/O loop of crash_test.cc, single appender, with
// encryption on: every acknowledged record comes back decrypted and equal.
TEST(WalEncryption, CrashAtEveryIoStepKeepsEveryAckedRecord) {
  auto keys = ring({{1, 1}}, 1);
  auto run = [&](const std::shared_ptr<SimDisk>& disk) {
    WalOptions o;
    o.dir = "/enc/wal";
    o.segment_bytes = 48 * 1024;  // 8 pages of records + the DWB slots: rollovers in the run
    o.max_record_bytes = 512;
    o.io = disk;
    o.keys = keys;
    return o;
  };
  uint64_t steps = 0;
  {
    auto disk = std::make_shared<SimDisk>(5);
    std::map<uint64_t, std::vector<uint8_t>> acked;
    auto wal = Wal::open(run(disk), nullptr);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    for (int i = 0; i < 60; ++i) {
      ASSERT_TRUE(testing::append_one(**wal, make_payload(i, 20 + i * 13 % 300)).ok());
    }
    ASSERT_TRUE((*wal)->close().ok());
    steps = disk->io_count() + 4;
  }
  for (uint64_t k = 0; k < steps; ++k) {
    SCOPED_TRACE("crash after I/O step " + std::to_string(k));
    auto disk = std::make_shared<SimDisk>(100 + k, SimDisk::CrashModel::kRandom);
    disk->crash_after_io(k);
    std::map<uint64_t, std::vector<uint8_t>> acked;
    {
      auto wal = Wal::open(run(disk), nullptr);
      if (wal.ok()) {
        for (int i = 0; i < 60; ++i) {
          std::vector<uint8_t> p = make_payload(i, 20 + i * 13 % 300);
          auto lsn = testing::append_one(**wal, p);
          if (!lsn.ok()) break;
          acked[*lsn] = p;
        }
      }
    }
    disk->restart();
    RecoveryReport rep;
    auto wal = Wal::open(run(disk), &rep);
    ASSERT_TRUE(wal.ok()) << wal.status().ToString();
    std::vector<Record> all = read_all(**wal);
    ASSERT_GE(all.size(), acked.size());
    for (const auto& [lsn, p] : acked) EXPECT_EQ(all[lsn - 1].payload, p) << "acked lsn " << lsn;
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i].payload, make_payload(i, 20 + i * 13 % 300)) << "lsn " << i + 1;
    }
    // The recovered log takes appends (in a new segment) that survive again.
    auto extra = testing::append_one(**wal, make_payload(999, 64));
    ASSERT_TRUE(extra.ok()) << extra.status().ToString();
    EXPECT_EQ(*extra, all.size() + 1);
    ASSERT_TRUE((*wal)->close().ok());
    disk->restart();
    auto again = Wal::open(run(disk), nullptr);
    ASSERT_TRUE(again.ok()) << again.status().ToString();
    EXPECT_EQ(read_all(**again).back().payload, make_payload(999, 64));
    if (::testing::Test::HasFailure()) return;
  }
}

}  // namespace
}  // namespace sidewal::wal
