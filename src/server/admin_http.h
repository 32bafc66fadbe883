// AdminServer: the one admin HTTP port (Boost.Beast): /metrics, /healthz,
// /readyz. It runs on its own io_context and thread so that scrapes and
// probes answer even when the connection threads are saturated.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <functional>
#include <string>

#include "common/status.h"

namespace sidewal::server {

struct AdminResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

class AdminServer {
 public:
  // `handler` maps a request path ("/metrics") to a response; it runs on the
  // admin thread.
  using Handler = std::function<AdminResponse(const std::string& path)>;

  AdminServer(boost::asio::io_context& io, Handler handler);

  // Binds and listens; kBusy when the address is taken.
  Status listen(const std::string& host, uint16_t port);
  uint16_t port() const { return port_; }
  void start();  // starts accepting
  void stop();   // stops accepting (call on the admin io_context)

 private:
  void accept();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  Handler handler_;
  uint16_t port_ = 0;
};

}  // namespace sidewal::server
