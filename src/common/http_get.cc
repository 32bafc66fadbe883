#include "common/http_get.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <limits>

namespace sidewal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Result<HttpReply> http_get(const std::string& host, const std::string& port,
                           const std::string& target, std::chrono::milliseconds timeout) {
  const std::string what = "GET http://" + host + ":" + port + target;
  asio::io_context io;
  beast::error_code ec;
  const auto endpoints = tcp::resolver(io).resolve(host, port, ec);
  if (ec) return Status::InvalidArgument(what + ": " + ec.message());

  // Every step is asynchronous so that one deadline bounds them all: when it
  // passes, tcp_stream closes the socket and the pending step ends with an
  // error; run() returns when the last handler has.
  beast::tcp_stream stream(io);
  stream.expires_after(timeout);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, host);
  req.keep_alive(false);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  const char* step = "connect";
  beast::error_code result;
  stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) {
    if (e) {
      result = e;
      return;
    }
    step = "send";
    http::async_write(stream, req, [&](beast::error_code e, size_t) {
      if (e) {
        result = e;
        return;
      }
      step = "read";
      http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { result = e; });
    });
  });
  io.run();
  if (result) return Status::IoError(what + ": " + step + ": " + result.message());
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  HttpReply reply;
  reply.status = static_cast<int>(parser.get().result_int());
  reply.body = std::move(parser.get().body());
  return reply;
}

}  // namespace sidewal
