#include "server/admin_http.h"

#include <boost/asio/ip/address.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <chrono>
#include <memory>

#include "server/log.h"

namespace sidewal::server {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One HTTP/1.1 connection; keep-alive, one request at a time.
class AdminSession : public std::enable_shared_from_this<AdminSession> {
 public:
  AdminSession(tcp::socket socket, const AdminServer::Handler* handler)
      : stream_(std::move(socket)), handler_(handler) {}

  void read() {
    request_ = {};
    // Probes and scrapes are tiny; an idle or stuck peer is dropped.
    stream_.expires_after(std::chrono::seconds(30));
    http::async_read(stream_, buffer_, request_,
                     [self = shared_from_this()](beast::error_code ec, size_t) {
                       self->on_read(ec);
                     });
  }

 private:
  void on_read(beast::error_code ec) {
    if (ec) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    auto res = std::make_shared<http::response<http::string_body>>();
    res->version(request_.version());
    res->keep_alive(request_.keep_alive());
    res->set(http::field::server, "sidewald");
    if (request_.method() != http::verb::get && request_.method() != http::verb::head) {
      res->result(http::status::method_not_allowed);
      res->set(http::field::content_type, "text/plain; charset=utf-8");
      res->body() = "only GET and HEAD\n";
    } else {
      std::string target(request_.target());
      const auto q = target.find('?');
      if (q != std::string::npos) target.resize(q);
      AdminResponse r = (*handler_)(target);
      res->result(static_cast<http::status>(r.status));
      res->set(http::field::content_type, r.content_type);
      if (request_.method() != http::verb::head) res->body() = std::move(r.body);
    }
    res->prepare_payload();
    response_ = res;
    http::async_write(stream_, *res, [self = shared_from_this()](beast::error_code ec, size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    const bool keep = response_ && response_->keep_alive();
    response_.reset();
    if (ec || !keep) {
      beast::error_code ignored;
      stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
      return;
    }
    read();
  }

  beast::tcp_stream stream_;
  const AdminServer::Handler* handler_;
  beast::flat_buffer buffer_{8192};
  http::request<http::string_body> request_;
  std::shared_ptr<http::response<http::string_body>> response_;
};

}  // namespace

AdminServer::AdminServer(asio::io_context& io, Handler handler)
    : io_(io), acceptor_(io), handler_(std::move(handler)) {}

Status AdminServer::listen(const std::string& host, uint16_t port) {
  const std::string where = host + ":" + std::to_string(port);
  beast::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) return Status::InvalidArgument("admin.listen " + where + ": " + ec.message());
  tcp::endpoint ep(addr, port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return Status::Busy("admin.listen " + where + ": cannot listen: " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void AdminServer::start() { accept(); }

void AdminServer::stop() {
  beast::error_code ignored;
  acceptor_.close(ignored);
}

void AdminServer::accept() {
  acceptor_.async_accept(io_, [this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      std::make_shared<AdminSession>(std::move(socket), &handler_)->read();
    } else {
      log::warn("admin: accept failed", {{"error", ec.message()}});
    }
    accept();
  });
}

}  // namespace sidewal::server
