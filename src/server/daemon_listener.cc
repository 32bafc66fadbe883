// Daemon's Unix socket (daemon.h): bound with socket.mode, accepting with
// a back-off on errors, each connection checked against socket.allowed_uids
// and limits.max_connections, and the session table that shutdown drains.
#include "server/daemon.h"

#include <boost/asio/post.hpp>

#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "server/log.h"
#include "server/unix_socket.h"

namespace sidewal::server {

namespace asio = boost::asio;

Status Daemon::listen_unix() {
  const std::string& path = config_.socket_path;
  SIDEWAL_RETURN_IF_ERROR(ensure_parent_dir(path, "socket.path"));
  SIDEWAL_RETURN_IF_ERROR(claim_socket_path(path));
  boost::system::error_code ec;
  acceptor_.open(asio::local::stream_protocol(), ec);
  if (ec) return Status::IoError("socket.path " + path + ": socket(): " + ec.message());
  // The file is created by bind() with the umask applied: restrict it so the
  // socket never exists, even briefly, with wider permissions than socket.mode.
  const mode_t old_mask = ::umask(static_cast<mode_t>(~config_.socket_mode & 0777));
  acceptor_.bind(asio::local::stream_protocol::endpoint(path), ec);
  ::umask(old_mask);
  if (ec) return Status::IoError("socket.path " + path + ": bind(): " + ec.message());
  if (::chmod(path.c_str(), static_cast<mode_t>(config_.socket_mode)) != 0) {
    return Status::FromErrno(errno, "chmod socket.path " + path);
  }
  acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return Status::IoError("socket.path " + path + ": listen(): " + ec.message());
  return Status::Ok();
}

void Daemon::accept_next() {
  // The new connection's thread is chosen before it arrives: the
  // io_context with the fewest open connections now (lowest index on a tie).
  std::vector<size_t> open(ios_.size(), 0);
  {
    MutexLock lock(sessions_mu_);
    for (const auto& [id, e] : sessions_) ++open[e.io];
  }
  const size_t io = static_cast<size_t>(std::min_element(open.begin(), open.end()) - open.begin());
  acceptor_.async_accept(asio::make_strand(*ios_[io]),
                         [this, io](const boost::system::error_code& ec, Session::Socket socket) {
                           on_accept(ec, std::move(socket), io);
                         });
}

void Daemon::on_accept(const boost::system::error_code& ec, Session::Socket socket, size_t io) {
  if (shutting_down_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // EMFILE and friends: back off briefly instead of spinning on accept.
    log::warn("accept failed; retrying in 100 ms", {{"error", ec.message()}});
    accept_retry_timer_.expires_after(std::chrono::milliseconds(100));
    accept_retry_timer_.async_wait([this](const boost::system::error_code& e) {
      if (!e && !shutting_down_) accept_next();
    });
    return;
  }
  bool authorized = true;
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    log::warn("SO_PEERCRED failed; closing connection", {{"errno", errno}});
    authorized = false;
  } else if (!config_.socket_allowed_uids.empty()) {
    authorized = std::find(config_.socket_allowed_uids.begin(), config_.socket_allowed_uids.end(),
                           cred.uid) != config_.socket_allowed_uids.end();
    if (!authorized) {
      log::warn("rejected connection from a UID not in socket.allowed_uids",
                {{"uid", cred.uid}, {"pid", cred.pid}});
    }
  }
  std::shared_ptr<Session> conn;
  {
    MutexLock lock(sessions_mu_);
    if (sessions_.size() >= config_.max_connections) {
      log::warn("limits.max_connections reached; closing new connection",
                {{"max_connections", config_.max_connections}, {"pid", cred.pid}});
      boost::system::error_code ignored;
      socket.close(ignored);
    } else {
      const uint64_t id = next_conn_id_++;
      conn = std::make_shared<Session>(std::move(socket), &ctx_, id);
      sessions_.emplace(id, SessionEntry{conn, io});
    }
  }
  if (conn) {
    log::debug("connection opened", {{"conn", conn->id()}, {"uid", cred.uid}, {"pid", cred.pid}});
    conn->start(authorized);
  }
  accept_next();
}

void Daemon::on_connection_closed(uint64_t id) {
  {
    MutexLock lock(sessions_mu_);
    sessions_.erase(id);
  }
  log::debug("connection closed", {{"conn", id}});
  asio::post(control_, [this] { maybe_finish(); });
}

}  // namespace sidewal::server
