// inspect_dir: the CLI's offline `verify` and `dump`. Read-only: the same
// scan recovery runs (scan_dir), without repair, handing out complete
// batches, decrypting when the keys are given, and naming each segment's
// problem.
#include <chrono>

#include "wal/codecs/format.h"
#include "wal/codecs/record_cipher.h"
#include "wal/codecs/segment_keys.h"
#include "wal/io/io_posix.h"
#include "wal/recovery/recovery.h"
#include "wal/wal.h"

namespace sidewal::wal {

Status inspect_dir(const std::string& dir, IoBackend* io,
                   const std::function<void(const SegmentInfo&)>& on_segment,
                   const std::function<void(const Record&)>& on_record, RecoveryReport* report,
                   std::shared_ptr<const KeyRing> keys) {
  RecoveryReport scratch;
  if (report == nullptr) report = &scratch;
  *report = RecoveryReport{};
  report->backend = io->name();
  const auto t0 = std::chrono::steady_clock::now();
  // O_DIRECT when the filesystem allows it (no page-cache pollution); a
  // read-only scan may fall back to buffered reads, it writes nothing.
  size_t align = posix::kMinDirectAlignment;
  bool direct = true;
  Result<size_t> a = io->direct_alignment(dir);
  if (a.ok()) {
    align = *a;
  } else if (a.status().code() == Code::kUnsupported) {
    direct = false;
  } else {
    return a.status();
  }

  // Records are handed out one complete batch at a time: what recovery keeps.
  std::vector<Record> batch;
  // Decryption state of the segment being scanned (its records come before
  // its on_segment call).
  SegmentKeys seg_keys(std::move(keys));
  RecordCipher cipher;
  std::string key_path;  // segment whose key state is below
  std::shared_ptr<const SecureKey> seg_key;
  std::string key_problem;
  std::string auth_problem;        // first record of the segment whose tag failed
  std::string first_auth_problem;  // of the whole log
  auto key_for = [&](const SegmentScan& s) {
    if (key_path == s.path) return;
    key_path = s.path;
    seg_key.reset();
    key_problem.clear();
    auth_problem.clear();
    if (s.preamble.cipher == format::kCipherNone) return;
    Result<std::shared_ptr<const SecureKey>> k = seg_keys.segment_key(s.preamble, s.path);
    if (k.ok()) {
      seg_key = *k;
    } else {
      key_problem = k.status().ToString() + "; payloads not decrypted (give the key)";
    }
  };
  auto seg_cb = [&](const SegmentScan& s) {
    batch.clear();
    if (s.preamble_status.ok()) key_for(s);
    if (!auth_problem.empty() && first_auth_problem.empty()) first_auth_problem = auth_problem;
    if (!on_segment) return;
    SegmentInfo info;
    info.path = s.path;
    info.segment_id = s.preamble.segment_id;
    info.first_lsn = s.first_lsn;
    info.last_lsn = s.last_lsn;
    info.records = s.records;
    info.valid_bytes = s.valid_end;
    info.cipher = s.preamble.cipher;
    info.key_id = s.preamble.key_id;
    info.key_fingerprint = s.preamble.key_fingerprint;
    info.key_problem = key_problem;
    if (!s.preamble_status.ok()) {
      info.problem = s.preamble_status.message();
    } else if (s.stopped_bad) {
      info.problem = "offset " + std::to_string(s.stop_offset) + ": " + s.stop_why;
    } else if (!auth_problem.empty()) {
      info.problem = auth_problem;
    } else if (s.batch_lsn != s.last_lsn) {
      info.problem = "records after lsn " + std::to_string(s.batch_lsn) +
                     " do not end a batch (incomplete trailing batch)";
    }
    on_segment(info);
  };
  std::function<void(const SegmentScan&, const RecordView&)> rec_cb = [&](const SegmentScan& s,
                                                                          const RecordView& v) {
    key_for(s);
    if (s.preamble.cipher != format::kCipherNone && seg_key == nullptr) return;  // no key
    if (!on_record && s.preamble.cipher == format::kCipherNone) return;
    if (!auth_problem.empty()) return;  // nothing after a failed tag is handed out
    Record r;
    r.lsn = v.header.lsn;
    r.type = v.header.type;
    r.flags = v.header.flags;
    r.tenant = v.header.tenant;
    if (s.preamble.cipher == format::kCipherNone) {
      r.payload.assign(v.payload, v.payload + v.header.payload_len);
    } else {
      r.payload.resize(v.header.payload_len >= kTagBytes ? v.header.payload_len - kTagBytes : 0);
      Status st = open_record(cipher, *seg_key, s.preamble.segment_id, v.header, v.payload,
                              r.payload.data(), s.path, v.offset);
      if (!st.ok()) {
        auth_problem = st.message();
        batch.clear();
        return;
      }
    }
    if (!on_record) return;
    batch.push_back(std::move(r));
    if (v.header.flags & format::kFlagBatchEnd) {
      for (const Record& b : batch) on_record(b);
      batch.clear();
    }
  };
  DirScan scan;
  Status st = scan_dir(io, dir, align, direct, seg_cb, rec_cb, &scan, report);
  if (st.ok() && !first_auth_problem.empty() && !report->corruption) {
    // The CRC holds but the tag does not: altered on purpose, or a bug.
    // Recovery cannot see it (it never decrypts); verify must.
    report->corruption = true;
    report->corruption_at = first_auth_problem;
  }
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return st;
}

}  // namespace sidewal::wal
