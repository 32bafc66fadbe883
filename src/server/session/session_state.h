// SessionState: where a session is in its life. One value, changed only on
// the session's strand through Session::enter(), which asserts that the
// transition is one of these:
//
//   kOpen -> kPeerClosed      the peer shut down its sending side (EOF on a
//                             read): no more requests are read; replies still
//                             go out, and a follow READ keeps streaming (a
//                             follower may keep a half-closed connection).
//   kOpen -> kFinishing       drain (SIGTERM), an unauthorized peer, or
//                             FRAME_TOO_LARGE: no more requests are read
//   kPeerClosed -> kFinishing (a pending read is shut down); followers end
//                             with END; requests already read are answered.
//   kOpen, kPeerClosed,
//   kFinishing -> kClosed     close(): everything answered and written
//                             (progress()), a write failed, or force_close()
//                             after the drain timeout. The socket is closed;
//                             the daemon forgets the session.
//
// kClosed is final. An EOF that arrives in kFinishing changes nothing (the
// session is already on its way out). Every other pair is refused.
#pragma once

#include <cstdint>

namespace sidewal::server {

enum class SessionState : uint8_t { kOpen, kPeerClosed, kFinishing, kClosed };

constexpr bool session_transition_allowed(SessionState from, SessionState to) {
  switch (from) {
    case SessionState::kOpen:
      return to == SessionState::kPeerClosed || to == SessionState::kFinishing ||
             to == SessionState::kClosed;
    case SessionState::kPeerClosed:
      return to == SessionState::kFinishing || to == SessionState::kClosed;
    case SessionState::kFinishing: return to == SessionState::kClosed;
    case SessionState::kClosed: return false;
  }
  return false;
}

const char* session_state_name(SessionState s);

}  // namespace sidewal::server
