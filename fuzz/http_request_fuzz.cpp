// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the HTTP request path: raw bytes → Beast's parser (with the server's limits) → Request → the API's
// router, authentication and handlers, against a claimed device with an in-memory database.
// The literal "@TOKEN@" in an input is replaced by a valid admin session token, so the fuzzer reaches the
// authenticated handlers too.
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/beast/http/parser.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "support/device_state.hpp"
#include "web/api.hpp"
#include "web/wire.hpp"

namespace asio = boost::asio;
namespace http = boost::beast::http;
using namespace freehold;

namespace {

// A claimed device with an admin and its session; the API over it.
struct State : test::DeviceState {
  asio::thread_pool pool{1};
  asio::io_context io;
  std::optional<web::Api> api;
  std::string token;

  State() {
    add_user("admin", Role::admin, "fuzzing-password");
    token = sessions.create("admin", Role::admin, std::chrono::steady_clock::now()).token;
    api.emplace(web::ApiDeps{model, *accounts, *audit, sessions, lockout, pool.get_executor(), {}, 443, {}, {}});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static State state;
  if (size > 96 * 1024) return -1;
  std::string input(reinterpret_cast<const char*>(data), size);
  for (auto at = input.find("@TOKEN@"); at != std::string::npos; at = input.find("@TOKEN@", at)) {
    input.replace(at, 7, state.token);
    at += state.token.size();
  }

  http::request_parser<http::string_body> parser;
  parser.header_limit(16 * 1024);
  parser.body_limit(64 * 1024);
  boost::beast::error_code ec;
  std::string_view rest = input;
  while (!parser.is_done() && !rest.empty()) {
    size_t n = parser.put(asio::buffer(rest.data(), rest.size()), ec);
    if (ec == http::error::need_more) ec = {};
    if (ec || n == 0) break;
    rest.remove_prefix(n);
  }
  if (!ec && !parser.is_done() && parser.got_some()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;

  // Vary the peer so the per-address lockout does not close every path after five failures.
  auto req = web::to_request(parser.get(), web::Peer{"192.0.2." + std::to_string(size % 250 + 1), "192.0.2.254"}, true);
  bool done = false;
  asio::co_spawn(state.io, state.api->handle(std::move(req)), [&](std::exception_ptr e, web::Response r) {
    if (e) std::abort();  // handle() must turn every failure into a response
    if (r.status < 100 || r.status > 599) std::abort();
    if (r.stream) r.stream->close();
    done = true;
  });
  state.io.restart();
  state.io.run();
  if (!done) std::abort();
  return 0;
}
