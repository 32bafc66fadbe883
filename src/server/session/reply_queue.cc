// The ordered reply queue and its writer. Every request takes a slot when it
// is read; replies leave in slot order, gathered into one async_write at a
// time. A READ at the front streams its own frames (read_streaming.cc).
#include <boost/asio/write.hpp>

#include <algorithm>

#include "server/log.h"
#include "server/session/session.h"

namespace sidewal::server {

namespace asio = boost::asio;

namespace {

// Frames gathered into one async_write.
constexpr size_t kMaxGather = 64;
// Written frames up to this size are kept for reuse (ACKs are 32 bytes).
constexpr size_t kSpareFrameBytes = 4u << 10;
constexpr size_t kMaxSpareFrames = 64;

}  // namespace

uint64_t Session::open_slot() {
  Slot& s = slots_.emplace_back();
  s.request_id = header_.request_id;
  s.frame_bytes = frame_bytes_;
  s.received = received_at_;
  return front_seq_ + slots_.size() - 1;
}

Session::Slot& Session::slot(uint64_t seq) {
  SW_ASSERT(seq >= front_seq_ && seq - front_seq_ < slots_.size());
  return slots_[seq - front_seq_];
}

void Session::complete(uint64_t seq, std::vector<uint8_t> reply) {
  Slot& s = slot(seq);
  s.reply = std::move(reply);
  s.done = true;
  if (!answering_appends_) flush_slots();
}

void Session::complete_error(uint64_t seq, proto::ErrorCode code, std::string_view message) {
  complete(seq, error_frame(slot(seq).request_id, code, message));
}

void Session::flush_slots() {
  // Re-entered from pump() -> finish_read(): the running loop continues.
  if (flushing_) return;
  flushing_ = true;
  while (!slots_.empty()) {
    Slot& s = slots_.front();
    if (s.is_read && !s.done) {
      auto it = reads_.find(s.request_id);
      SW_ASSERT(it != reads_.end());
      if (!it->second.turn) {
        it->second.turn = true;
        // A follower streams beside later replies from now on.
        if (it->second.follow) s.done = true;
        pump(s.request_id);  // may complete s
      }
      if (!s.done) break;  // a plain READ is still sending
    }
    if (!s.done) break;
    if (!s.reply.empty()) enqueue(std::move(s.reply));
    const uint64_t frame_bytes = s.frame_bytes;
    slots_.pop_front();
    ++front_seq_;
    release(frame_bytes);
  }
  flushing_ = false;
  if (writing_frames_ == 0 && !out_.empty() && !closed()) write_queued();
  progress();
}

std::vector<uint8_t> Session::error_frame(uint64_t request_id, proto::ErrorCode code,
                                          std::string_view message) {
  ctx_->metrics->error(code);
  log::debug("connection: error reply", {{"conn", id_},
                                         {"request_id", request_id},
                                         {"code", proto::error_code_name(code)},
                                         {"message", message}});
  // Messages are for humans; the cut keeps every reply within the advertised
  // max_reply_body. Cut at a UTF-8 character boundary.
  if (message.size() > proto::kMaxErrorMessageBytes) {
    size_t cut = proto::kMaxErrorMessageBytes;
    while (cut > 0 && (static_cast<uint8_t>(message[cut]) & 0xC0) == 0x80) --cut;
    message = message.substr(0, cut);
  }
  std::vector<uint8_t> frame;
  proto::encode_error(request_id, code, message, &frame);
  return frame;
}

std::vector<uint8_t> Session::take_frame_buffer() {
  if (spare_frames_.empty()) return {};
  std::vector<uint8_t> frame = std::move(spare_frames_.back());
  spare_frames_.pop_back();
  frame.clear();
  return frame;
}

void Session::enqueue(std::vector<uint8_t> frame) {
  if (closed()) return;
  acquire(frame.size());
  out_bytes_ += frame.size();
  out_.push_back(std::move(frame));
  // flush_slots() writes what it queued in one go when its loop ends.
  if (writing_frames_ == 0 && !flushing_) write_queued();
}

void Session::write_queued() {
  SW_ASSERT(writing_frames_ == 0 && !out_.empty());
  const size_t n = std::min(out_.size(), kMaxGather);
  write_bufs_.clear();
  for (size_t i = 0; i < n; ++i) write_bufs_.push_back(asio::buffer(out_[i]));
  writing_frames_ = n;
  // A span, not the vector: the write operation copies its buffer sequence.
  asio::async_write(socket_, std::span<const asio::const_buffer>(write_bufs_),
                    [self = shared_from_this(), n](const boost::system::error_code& ec, size_t) {
                      self->on_written(ec, n);
                    });
}

void Session::on_written(const boost::system::error_code& ec, size_t frames) {
  SW_ASSERT(frames == writing_frames_);
  writing_frames_ = 0;
  for (size_t i = 0; i < frames; ++i) {
    const uint64_t n = out_.front().size();
    out_bytes_ -= n;
    release(n);
    if (out_.front().capacity() <= kSpareFrameBytes && spare_frames_.size() < kMaxSpareFrames) {
      spare_frames_.push_back(std::move(out_.front()));
    }
    out_.pop_front();
  }
  if (ec || closed()) {
    if (!closed()) {
      log::debug("connection: write failed", {{"conn", id_}, {"error", ec.message()}});
    }
    close();
    return;
  }
  if (!out_.empty()) write_queued();
  pump_all();  // room in the write window: READs produce their next frame
  progress();
}

}  // namespace sidewal::server
