// Frame decoder (src/proto): any bytes a client might send. peek_frame and
// every decode_* must reject or accept without crashing, and an accepted
// request must re-encode to exactly the bytes it was decoded from (nothing
// invented, nothing dropped).
#include <vector>

#include "fuzz_target.h"
#include "proto/protocol.h"

namespace {

using namespace sidewal::proto;

int fuzz_frame(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  FrameHeader h;
  const FrameStatus fs = peek_frame(in, kDefaultMaxFrameBody, &h);
  (void)fs;
  if (size < kHeaderSize) return 0;
  h = decode_header(data);
  (void)check_request_header(h);
  std::span<const uint8_t> body = in.subspan(kHeaderSize);
  if (body.size() > h.body_len) body = body.first(h.body_len);

  std::vector<uint8_t> out;
  std::vector<AppendRecord> recs;
  if (decode_append(body, &recs).ok()) {
    encode_append(h.request_id, recs, &out);
    FUZZ_CHECK(out.size() == kHeaderSize + body.size());
    FUZZ_CHECK(std::equal(body.begin(), body.end(), out.begin() + kHeaderSize));
  }
  ReadRequest rr;
  if (decode_read(body, &rr).ok()) {
    out.clear();
    encode_read(h.request_id, rr, &out);
    FUZZ_CHECK(out.size() == kHeaderSize + body.size());
  }
  Hello hello;
  (void)decode_hello(body, &hello);
  uint64_t lsn = 0;
  (void)decode_truncate(body, &lsn);
  (void)decode_empty(body);
  // Replies too (the client library decodes them).
  HelloOk ho;
  (void)decode_hello_ok(body, &ho);
  Ack ack;
  (void)decode_ack(body, &ack);
  std::vector<ReadRecord> rrs;
  if (decode_records(body, &rrs).ok()) {
    size_t total = 0;
    for (const auto& r : rrs) total += 20 + r.payload.size();
    FUZZ_CHECK(total == body.size());
  }
  (void)decode_end(body, &lsn);
  (void)decode_ok(body, &lsn);
  StatusReply st;
  (void)decode_status_ok(body, &st);
  ErrorReply er;
  (void)decode_error(body, &er);
  return 0;
}

}  // namespace

SIDEWAL_FUZZ_TARGET(frame, fuzz_frame)
