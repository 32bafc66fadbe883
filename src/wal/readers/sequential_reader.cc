#include "wal/readers/sequential_reader.h"

#include <algorithm>

#include "common/endian.h"
#include "wal/dwb.h"
#include "wal/io/file_window.h"
#include "wal/segment_file.h"

namespace sidewal::wal {

SequentialReader::SequentialReader(IoBackend* io, size_t alignment, SegmentLocator locate,
                                   SequentialReaderOptions options)
    : io_(io), align_(alignment), locate_(std::move(locate)), opts_(options) {}

SequentialReader::~SequentialReader() { close_segment(); }

void SequentialReader::close_segment() {
  window_.reset();
  seg_key_.reset();
  if (file_ >= 0) (void)io_->close(file_);
  file_ = -1;
}

Status SequentialReader::corruption(uint64_t offset, const std::string& what) const {
  return Status::Corruption("segment " + seg_.path + " offset " + std::to_string(offset) +
                            ": reading lsn " + std::to_string(expected_) + ": " + what);
}

Status SequentialReader::seek(uint64_t from_lsn, uint64_t last_lsn) {
  if (from_lsn == 0) return Status::InvalidArgument("read from lsn 0: LSNs start at 1");
  close_segment();
  expected_ = from_lsn;
  last_lsn_ = last_lsn;
  return Status::Ok();
}

// Opens the segment holding `lsn` and walks from its closest index entry to
// `lsn`. Leaves expected_ == lsn and pos_ at that record.
Status SequentialReader::open_segment(uint64_t lsn) {
  close_segment();
  locate_failed_ = false;
  Status located = locate_(lsn, &seg_);
  if (!located.ok()) {
    locate_failed_ = true;
    return located;
  }
  OpenOptions o;
  o.writable = false;
  o.direct = opts_.direct;
  Result<FileHandle> f = io_->open(seg_.path, o);
  if (!f.ok()) {
    // Truncation may have deleted it since locate(): say so if it did.
    SegmentRef again;
    Status st = locate_(lsn, &again);
    if (!st.ok()) return st;
    return f.status();
  }
  file_ = *f;
  ++stats_.segments_opened;
  Result<uint64_t> size = io_->file_size(file_);
  if (!size.ok()) return size.status();
  window_ = std::make_unique<FileWindow>(io_, file_, seg_.path, *size, align_, opts_.window_bytes);
  // Records end where the double-write slots begin (docs/format.md).
  window_->set_records_end(dwb::records_end(*size, align_));
  if (*size < format::kPreambleBytes) return corruption(0, "file shorter than its preamble");
  if (!seg_.have_preamble) {
    const uint8_t* pre = nullptr;
    const uint64_t n = std::min<uint64_t>(*size, format::kMaxPreambleBytes);
    SIDEWAL_RETURN_IF_ERROR(window_->get(0, n, &pre));
    SIDEWAL_RETURN_IF_ERROR(format::decode_preamble(pre, n, seg_.path, &seg_.preamble));
    seg_.have_preamble = true;
    seg_.id = seg_.preamble.segment_id;
  }
  if (seg_.preamble.cipher != format::kCipherNone) {
    if (opts_.keys == nullptr) {
      return Status::NotFound("segment " + seg_.path + " is encrypted with key id " +
                              std::to_string(seg_.preamble.key_id) +
                              " and this reader was given no keys");
    }
    Result<std::shared_ptr<const SecureKey>> k = opts_.keys->segment_key(seg_.preamble, seg_.path);
    if (!k.ok()) return k.status();
    seg_key_ = *k;
    if (cipher_ == nullptr) cipher_ = std::make_unique<RecordCipher>();
  }
  if (seg_.start.lsn == 0) {
    seg_.start = IndexEntry{seg_.first_lsn, format::records_offset(seg_.preamble)};
  }
  pos_ = seg_.start.offset;
  expected_ = seg_.start.lsn;
  // Walk headers (no CRC, no payload reads beyond the window) up to `lsn`.
  while (expected_ < lsn) {
    if (pos_ + format::kHeaderBytes > window_->records_end()) {
      return corruption(pos_, "segment ends before lsn " + std::to_string(lsn));
    }
    const uint8_t* h = nullptr;
    SIDEWAL_RETURN_IF_ERROR(window_->get(pos_, format::kHeaderBytes, &h));
    const format::RecordHeader hd = format::decode_header(h);
    if (hd.lsn != expected_ || hd.payload_len > kHardMaxRecordBytes) {
      return corruption(pos_, "header of lsn " + std::to_string(hd.lsn) + " (payload_len " +
                                  std::to_string(hd.payload_len) + ") while seeking lsn " +
                                  std::to_string(lsn));
    }
    pos_ += format::record_bytes(hd.payload_len);
    ++expected_;
  }
  return Status::Ok();
}

Status SequentialReader::next(RecordRef* rec, bool* got) {
  *got = false;
  if (expected_ == 0) return Status::InvalidArgument("SequentialReader: next() before seek()");
  if (expected_ > last_lsn_) return Status::Ok();
  if (file_ < 0 || expected_ >= seg_.next_first_lsn) {
    Status st = open_segment(expected_);
    // An offline reader past the last record of the log: the end.
    if (locate_failed_ && st.code() == Code::kNotFound && last_lsn_ == UINT64_MAX) {
      return Status::Ok();
    }
    SIDEWAL_RETURN_IF_ERROR(st);
  }
  const uint64_t size = window_->records_end();
  const uint64_t avail = size - std::min(size, pos_);
  if (avail < format::kHeaderBytes) {
    if (seg_.next_first_lsn == UINT64_MAX && last_lsn_ == UINT64_MAX) return Status::Ok();
    return corruption(pos_, "segment full before lsn " + std::to_string(expected_));
  }
  const uint8_t* p = nullptr;
  // After a large record stepped over, a window read here would mostly fetch
  // the next large payload nobody asked for: read the header's page only.
  const uint64_t read_bytes = opts_.headers_only && skipped_large_ ? align_ : 0;
  SIDEWAL_RETURN_IF_ERROR(window_->get(pos_, format::kHeaderBytes, &p, read_bytes));
  const format::RecordHeader h = format::decode_header(p);
  bool zero = true;
  for (size_t i = 0; i < format::kHeaderBytes; ++i) zero = zero && p[i] == 0;
  if (zero) {
    // The end of the records: the end of a closed log only in its last segment.
    if (seg_.next_first_lsn == UINT64_MAX && last_lsn_ == UINT64_MAX) return Status::Ok();
    return corruption(pos_, "records end here");
  }
  const uint64_t whole = format::kHeaderBytes + uint64_t{h.payload_len};
  if (h.payload_len > kHardMaxRecordBytes || whole > avail) {
    return corruption(pos_, "payload length " + std::to_string(h.payload_len) +
                                " runs past the end of the segment or the 16 MiB ceiling");
  }
  const bool load = !opts_.headers_only || window_->holds(pos_, whole);
  skipped_large_ = !load && format::record_bytes(h.payload_len) >= opts_.window_bytes;
  rec->payload = nullptr;
  rec->crc_checked = false;
  if (load) {
    const uint8_t* r = nullptr;
    SIDEWAL_RETURN_IF_ERROR(window_->get(pos_, whole, &r));
    format::RecordHeader checked;
    std::string why;
    if (format::check_record(r, avail, seg_.id, expected_, &checked, &why) !=
        format::RecordCheck::kValid) {
      return corruption(pos_, why);
    }
    rec->crc_checked = true;
    ++stats_.crc_checked;
    if (seg_key_ == nullptr) {
      rec->payload = r + format::kHeaderBytes;
    } else if (!opts_.headers_only) {
      SIDEWAL_RETURN_IF_ERROR(decrypt(r, pos_));
      rec->payload = plain_.data();
    }
  } else {
    // Headers only, record beyond the buffer: check what the header alone
    // can tell; the CRC waits for load_payload().
    if (h.lsn != expected_) {
      return corruption(pos_,
                        "lsn " + std::to_string(h.lsn) + ", expected " + std::to_string(expected_));
    }
    if ((h.flags & ~format::kKnownFlags) != 0) {
      return corruption(pos_, "unknown flags " + std::to_string(h.flags));
    }
    ++stats_.payloads_skipped;
  }
  if (seg_key_ != nullptr && h.payload_len < kTagBytes) {
    return corruption(pos_, "payload_len " + std::to_string(h.payload_len) +
                                " is shorter than the 16-byte tag of an encrypted record");
  }
  rec->header = h;
  if (seg_key_ != nullptr) rec->header.payload_len -= kTagBytes;  // plaintext length
  rec->offset = pos_;
  rec->segment = &seg_.path;
  last_offset_ = pos_;
  last_len_ = h.payload_len;
  ++stats_.records;
  stats_.payload_bytes += rec->header.payload_len;
  pos_ += format::record_bytes(h.payload_len);
  ++expected_;
  *got = true;
  return Status::Ok();
}

Status SequentialReader::load_payload(RecordRef* rec) {
  SW_ASSERT(window_ != nullptr && rec->offset == last_offset_);
  if (rec->payload != nullptr) return Status::Ok();
  const uint64_t whole = format::kHeaderBytes + uint64_t{last_len_};
  if (!window_->holds(last_offset_, whole)) ++stats_.payload_loads;
  const uint8_t* r = nullptr;
  SIDEWAL_RETURN_IF_ERROR(window_->get(last_offset_, whole, &r));
  format::RecordHeader checked;
  std::string why;
  if (format::check_record(r, window_->records_end() - last_offset_, seg_.id, rec->header.lsn,
                           &checked, &why) != format::RecordCheck::kValid) {
    return Status::Corruption("segment " + seg_.path + " offset " + std::to_string(last_offset_) +
                              ": loading the payload of lsn " + std::to_string(rec->header.lsn) +
                              ": " + why);
  }
  if (seg_key_ != nullptr) {
    SIDEWAL_RETURN_IF_ERROR(decrypt(r, last_offset_));
    rec->payload = plain_.data();
  } else {
    rec->payload = r + format::kHeaderBytes;
  }
  rec->crc_checked = true;
  ++stats_.crc_checked;
  return Status::Ok();
}

Status SequentialReader::decrypt(const uint8_t* rec, uint64_t offset) {
  const format::RecordHeader h = format::decode_header(rec);
  // One byte at least, so data() is never null for an empty payload.
  plain_.resize(std::max<size_t>(1, h.payload_len >= kTagBytes ? h.payload_len - kTagBytes : 0));
  return open_record(*cipher_, *seg_key_, seg_.id, h, rec + format::kHeaderBytes, plain_.data(),
                     seg_.path, offset);
}

Status SequentialReader::read(const ReadLimits& limits, std::vector<Record>* out) {
  out->clear();
  uint64_t bytes = 0;
  for (;;) {
    if (!out->empty() && limits.max_records && out->size() >= limits.max_records) break;
    RecordRef r;
    bool got = false;
    SIDEWAL_RETURN_IF_ERROR(next(&r, &got));
    if (!got) break;
    if (opts_.headers_only) SIDEWAL_RETURN_IF_ERROR(load_payload(&r));
    if (!out->empty() && limits.max_bytes && bytes + r.header.payload_len > limits.max_bytes) {
      // Step back: the record stays the next one (its segment is open).
      expected_ = r.header.lsn;
      pos_ = r.offset;
      --stats_.records;
      stats_.payload_bytes -= r.header.payload_len;
      break;
    }
    Record& o = out->emplace_back();
    o.lsn = r.header.lsn;
    o.type = r.header.type;
    o.flags = r.header.flags;
    o.tenant = r.header.tenant;
    o.payload.assign(r.payload, r.payload + r.header.payload_len);
    bytes += r.header.payload_len;
  }
  return Status::Ok();
}

Status SequentialReader::read_headers(const ReadLimits& limits,
                                      std::vector<RecordHeaderInfo>* out) {
  SW_ASSERT_MSG(opts_.headers_only, "read_headers() needs a headers-only reader");
  out->clear();
  uint64_t bytes = 0;
  for (;;) {
    if (!out->empty() && limits.max_records && out->size() >= limits.max_records) break;
    RecordRef r;
    bool got = false;
    SIDEWAL_RETURN_IF_ERROR(next(&r, &got));
    if (!got) break;
    if (!out->empty() && limits.max_bytes && bytes + r.header.payload_len > limits.max_bytes) {
      // Step back, as read() does.
      expected_ = r.header.lsn;
      pos_ = r.offset;
      --stats_.records;
      stats_.payload_bytes -= r.header.payload_len;
      break;
    }
    out->push_back(RecordHeaderInfo{.lsn = r.header.lsn,
                                    .type = r.header.type,
                                    .flags = r.header.flags,
                                    .tenant = r.header.tenant,
                                    .payload_len = r.header.payload_len});
    bytes += r.header.payload_len;
  }
  return Status::Ok();
}

// ---- DirSegments.

Result<std::shared_ptr<DirSegments>> DirSegments::open(IoBackend* io, const std::string& dir) {
  Result<std::vector<std::string>> names = io->list_dir(dir);
  if (!names.ok()) return names.status();
  std::vector<std::pair<uint64_t, std::string>> files;
  for (const std::string& n : *names) {
    uint64_t first = 0;
    if (format::parse_segment_file_name(n, &first)) files.emplace_back(first, join_path(dir, n));
  }
  std::sort(files.begin(), files.end());
  auto d = std::make_shared<DirSegments>();
  for (auto& [first, path] : files) {
    d->firsts_.push_back(first);
    d->paths_.push_back(std::move(path));
  }
  return d;
}

Status DirSegments::locate(uint64_t lsn, SegmentRef* ref) const {
  if (firsts_.empty()) return Status::NotFound("the log has no segment");
  if (lsn < firsts_.front()) {
    return Status::Truncated("lsn " + std::to_string(lsn) +
                             " was truncated; the log starts at lsn " +
                             std::to_string(firsts_.front()));
  }
  const size_t i = std::upper_bound(firsts_.begin(), firsts_.end(), lsn) - firsts_.begin() - 1;
  *ref = SegmentRef{};
  ref->path = paths_[i];
  ref->first_lsn = firsts_[i];
  if (i + 1 < firsts_.size()) ref->next_first_lsn = firsts_[i + 1];
  return Status::Ok();
}

SegmentLocator DirSegments::locator() const {
  return
      [self = shared_from_this()](uint64_t lsn, SegmentRef* ref) { return self->locate(lsn, ref); };
}

}  // namespace sidewal::wal
