#include "proxy/connection_registry.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

#include <memory>
#include <vector>

#include "proxy/stream.h"

namespace usher::proxy {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;
using Clock = ConnectionEntry::Clock;

/// Registered connections over real loopback sockets, so that a sweep's
/// close is seen on the socket.
class RegistryTest : public ::testing::Test {
 protected:
  RegistryTest() : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  ~RegistryTest() override {
    for (auto& e : entries_)
      registry_.remove(*e);
  }

  ConnectionEntry& connect() {
    tcp::socket client(io_);
    client.connect(acceptor_.local_endpoint());
    peers_.push_back(std::make_unique<tcp::socket>(acceptor_.accept()));
    streams_.push_back(std::make_unique<TcpStream>(std::move(client)));
    entries_.push_back(std::make_unique<ConnectionEntry>());
    entries_.back()->stream = streams_.back().get();
    registry_.add(*entries_.back());
    return *entries_.back();
  }
  static bool open(const ConnectionEntry& e) { return e.stream->socket().is_open(); }

  asio::io_context io_;
  tcp::acceptor acceptor_;
  ConnectionRegistry registry_;
  std::vector<std::unique_ptr<tcp::socket>> peers_;
  std::vector<std::unique_ptr<TcpStream>> streams_;
  std::vector<std::unique_ptr<ConnectionEntry>> entries_;
};

TEST_F(RegistryTest, SweepLeavesConnectionsWhoseDeadlinesAreAhead) {
  ConnectionEntry& waiting = connect();
  waiting.read_expires_after(10s);
  waiting.write_expires_after(10s);
  ConnectionEntry& unarmed = connect();
  EXPECT_EQ(registry_.sweep(Clock::now()), 0u);
  EXPECT_TRUE(open(waiting));
  EXPECT_TRUE(open(unarmed));
  EXPECT_FALSE(waiting.timed_out);
}

TEST_F(RegistryTest, SweepClosesAStalledReadWhileWritesComeAndGo) {
  // The body read waits; the response writes meanwhile, each write arming
  // and clearing its own deadline. The read's deadline must survive them.
  ConnectionEntry& e = connect();
  e.read_expires_after(1s);
  for (int i = 0; i < 3; ++i) {
    e.write_expires_after(30s);
    e.clear_write_deadline();
  }
  EXPECT_EQ(registry_.sweep(Clock::now() + 2s), 1u);
  EXPECT_TRUE(e.timed_out);
  EXPECT_FALSE(open(e));
}

TEST_F(RegistryTest, SweepClosesAStalledWriteWhileNoReadWaits) {
  ConnectionEntry& e = connect();
  e.write_expires_after(1s);
  EXPECT_EQ(registry_.sweep(Clock::now() + 2s), 1u);
  EXPECT_TRUE(e.timed_out);
}

TEST_F(RegistryTest, SweepClosesOnTheEarlierOfTheTwoDeadlines) {
  ConnectionEntry& e = connect();
  e.read_expires_after(30s);
  e.write_expires_after(1s);
  EXPECT_EQ(e.deadline(), e.write_deadline);
  EXPECT_EQ(registry_.sweep(Clock::now() + 2s), 1u);
  // Closed once: a later sweep does not count it again.
  EXPECT_EQ(registry_.sweep(Clock::now() + 60s), 0u);
}

TEST_F(RegistryTest, ClearDeadlineEndsBothWaits) {
  ConnectionEntry& e = connect();
  e.read_expires_after(1s);
  e.write_expires_after(1s);
  e.clear_deadline();
  EXPECT_EQ(e.deadline(), Clock::time_point::max());
  EXPECT_EQ(registry_.sweep(Clock::now() + 60s), 0u);
  EXPECT_TRUE(open(e));
}

TEST(RegistrySweeper, RunsTheSweepHookEachSecond) {
  asio::io_context io;
  ConnectionRegistry registry;
  int calls = 0;
  registry.on_sweep([&] {
    if (++calls == 2) registry.stop();
  });
  asio::co_spawn(io, registry.run_sweeper(), asio::detached);
  io.run_for(5s);  // returns once the sweeper stopped, after about 2 s
  EXPECT_EQ(calls, 2);
}

}  // namespace
}  // namespace usher::proxy
