// SPDX-License-Identifier: GPL-3.0-or-later
// The accept loop's connection cap: it must hold however late a connection's coroutine starts to run.
#include "net/listener.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <vector>

namespace freehold::net {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

struct Served {
  tcp::socket socket;
  ConnectionSlot slot;
};

// Regression: the cap used to count connections that had registered themselves, which they did only once their
// coroutine ran; a burst accepted in one wake-up got past it. Here the connections start later (posted), as a
// coroutine that suspends before it registers would, and 7 clients connect at once against a cap of 4.
TEST(AcceptLoop, CapHoldsForABurstOfConnectionsThatStartLate) {
  asio::io_context io;
  tcp::acceptor acc(io);
  ASSERT_EQ(listen(acc, "127.0.0.1", 0), std::nullopt);
  const tcp::endpoint server{asio::ip::make_address("127.0.0.1"), acc.local_endpoint().port()};
  std::vector<tcp::socket> clients;
  for (int i = 0; i < 7; ++i) clients.emplace_back(io).connect(server);  // all wait in the backlog

  std::vector<Served> served;
  ConnectionLimit limit(4);
  AcceptPolicy policy{"test", limit, [] { return false; }, [&](tcp::socket s, ConnectionSlot slot) {
                        auto held = std::make_shared<Served>(Served{std::move(s), std::move(slot)});
                        asio::post(io, [&served, held] { served.push_back(std::move(*held)); });
                      }};
  asio::co_spawn(io, accept_loop(acc, std::move(policy)), asio::detached);
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served.size(), 4u);
  EXPECT_EQ(limit.open(), 4u);

  // The refused clients see their connection closed; the served ones do not.
  int closed = 0;
  for (auto& c : clients) {
    c.non_blocking(true);
    char byte;
    boost::system::error_code ec;
    c.read_some(asio::buffer(&byte, 1), ec);
    closed += ec == asio::error::eof || ec == asio::error::connection_reset;
  }
  EXPECT_EQ(closed, 3);

  // A connection that ends gives its place back: the next client is served.
  served.pop_back();
  EXPECT_EQ(limit.open(), 3u);
  tcp::socket late(io);
  late.connect(server);
  io.restart();
  io.run_for(std::chrono::milliseconds(300));
  EXPECT_EQ(served.size(), 4u);
  EXPECT_EQ(limit.open(), 4u);
}

TEST(ConnectionLimit, CopiesShareOneCount) {
  ConnectionLimit a(2);
  ConnectionLimit b = a;  // e.g. the plain and the TLS listener of one server
  auto s1 = a.take();
  auto s2 = b.take();
  ASSERT_TRUE(s1 && s2);
  EXPECT_FALSE(a.take());
  EXPECT_FALSE(b.take());
  s1.reset();
  EXPECT_EQ(b.open(), 1u);
  EXPECT_TRUE(b.take());
}

}  // namespace
}  // namespace freehold::net
