// The connection: connect, reconnect with backoff (and the limits HELLO of
// each new connection), close. The requests are in client_async.cc and
// client_blocking.cc; daemon ERRORs become Statuses in client_errors.cc.
#include "client/client.h"

#include <algorithm>
#include <utility>

#include "client/channel.h"

namespace sidewal::client {

Client::Client(const ClientOptions& options) : options_(options) {}

Client::~Client() { close(); }

Result<std::unique_ptr<Client>> Client::connect(const std::string& socket_path) {
  ClientOptions options;
  options.socket_path = socket_path;
  return connect(options);
}

Result<std::unique_ptr<Client>> Client::connect(const ClientOptions& options) {
  std::unique_ptr<Client> client(new Client(options));
  auto conn = client->live_connection();
  if (!conn.ok()) return conn.status();
  return client;
}

bool Client::on_reader_thread() const { return Channel::current_owner() == this; }

Result<std::shared_ptr<Channel>> Client::live_connection() {
  {
    MutexLock lk(state_mu_);
    if (closed_) return Status::Closed("sidewal client is closed");
    if (conn_ && !conn_->broken()) return conn_;
  }
  MutexLock connect_lk(connect_mu_);
  std::vector<std::shared_ptr<Channel>> to_join;
  {
    MutexLock lk(state_mu_);
    if (closed_) return Status::Closed("sidewal client is closed");
    if (conn_ && !conn_->broken()) return conn_;  // another thread reconnected
    if (conn_) retired_.push_back(std::move(conn_));
    // Join broken connections' reader threads, except our own (a callback
    // reconnecting): that one is joined by a later reconnect or close().
    auto self = std::partition(retired_.begin(), retired_.end(),
                               [](const auto& c) { return c->is_reader_thread(); });
    to_join.assign(std::make_move_iterator(self), std::make_move_iterator(retired_.end()));
    retired_.erase(self, retired_.end());
  }
  for (auto& c : to_join) c->join();

  const auto deadline = std::chrono::steady_clock::now() + options_.connect_timeout;
  auto backoff = options_.backoff_initial;
  int attempts = 0;
  for (;;) {
    ++attempts;
    Result<int> fd = connect_unix(options_.socket_path);
    if (fd.ok()) {
      auto conn = std::make_shared<Channel>(fd.value(), options_, this, &next_id_);
      conn->start();
      if (options_.discover_limits) {
        // The limits HELLO is answered before the connection is used, so
        // the first APPEND is already checked against the daemon's limits.
        {
          MutexLock lk(state_mu_);
          if (closed_) {
            conn->shutdown(Status::Closed("sidewal client is closed"));
            retired_.push_back(conn);
            return Status::Closed("sidewal client is closed");
          }
          connecting_ = conn;  // close() breaks it, which ends the wait
        }
        if (conn->ask_limits(options_.name)) conn->wait_limits(deadline);
        Status broke = conn->broken_status();
        if (!broke.ok()) {
          // Refused (an unsolicited ERROR such as UNAUTHORIZED) or hung up
          // before the HELLO was answered: report why, do not retry.
          MutexLock lk(state_mu_);
          connecting_.reset();
          retired_.push_back(conn);
          return broke;
        }
        MutexLock lk(state_mu_);
        connecting_.reset();
      } else if (!options_.name.empty()) {
        // Pipelined: the reply only confirms the version; an error reply
        // (UNSUPPORTED_VERSION) is left for the daemon to enforce on the
        // requests that follow.
        Pending p;
        p.id = next_id_.fetch_add(1);
        p.expect = proto::Opcode::kHelloOk;
        p.complete = [](const Pending&) {};
        proto::Hello hello;
        hello.name = options_.name;
        uint64_t id = p.id;
        (void)conn->submit(std::move(p), [&](auto* out) { proto::encode_hello(id, hello, out); });
      }
      MutexLock lk(state_mu_);
      if (closed_) {
        conn->shutdown(Status::Closed("sidewal client is closed"));
        retired_.push_back(conn);
        return Status::Closed("sidewal client is closed");
      }
      conn_ = conn;
      return conn;
    }
    if (fd.status().code() == Code::kInvalidArgument) return fd.status();
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return Status(fd.status().code(), fd.status().message() + " (gave up after " +
                                            std::to_string(attempts) + " attempts in " +
                                            std::to_string(options_.connect_timeout.count()) +
                                            " ms)");
    }
    // Backoff between attempts; close() cuts it short.
    MutexLock lk(state_mu_);
    auto wait = std::min<std::chrono::steady_clock::duration>(backoff, deadline - now);
    if (close_cv_.wait_for(state_mu_, wait, [&]() REQUIRES(state_mu_) { return closed_; })) {
      return Status::Closed("sidewal client is closed");
    }
    backoff = std::min(backoff * 2, options_.backoff_max);
  }
}

void Client::close() {
  SW_ASSERT_MSG(!on_reader_thread(), "sidewal client closed from its own callback");
  std::vector<std::shared_ptr<Channel>> conns;
  {
    MutexLock lk(state_mu_);
    closed_ = true;
    close_cv_.notify_all();
    // A connect waiting for its HELLO reply: breaking it ends the wait, and
    // that connect retires it (and close() below or the destructor joins it).
    if (connecting_) connecting_->shutdown(Status::Closed("sidewal client closed"));
    if (conn_) conns.push_back(std::move(conn_));
    for (auto& c : retired_) conns.push_back(std::move(c));
    retired_.clear();
  }
  for (auto& c : conns) {
    c->shutdown(Status::Closed("sidewal client closed"));
    c->join();
  }
}

Result<ServerLimits> Client::server_limits() {
  auto conn = live_connection();
  if (!conn.ok()) return conn.status();
  if (options_.discover_limits && (*conn)->ask_limits_again(options_.name) && !on_reader_thread()) {
    (*conn)->wait_limits(std::chrono::steady_clock::now() + options_.connect_timeout);
  }
  return (*conn)->limits();
}

size_t Client::in_flight() const {
  MutexLock lk(state_mu_);
  return conn_ ? conn_->in_flight() : 0;
}

}  // namespace sidewal::client
