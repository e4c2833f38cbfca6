#include "proxy/upstream_pool.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/write.hpp>

#include <memory>
#include <vector>

#include "proxy/worker_context.h"

namespace usher::proxy {
namespace {

using namespace std::chrono_literals;
using tcp = asio::ip::tcp;

/// A listening socket and the server ends of the connections made to it.
class PoolTest : public ::testing::Test {
 protected:
  PoolTest() : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}

  /// A connected upstream connection; its server end is kept in `peers`.
  std::shared_ptr<UpstreamConnection> connect() {
    tcp::socket client(io);
    client.connect(acceptor_.local_endpoint());
    peers.push_back(std::make_unique<tcp::socket>(acceptor_.accept()));
    return std::make_shared<UpstreamConnection>(io, std::make_unique<TcpStream>(std::move(client)));
  }

  void run_for(std::chrono::milliseconds d) {
    io.restart();
    io.run_for(d);
  }

  asio::io_context io;
  UpstreamPools pools{io};
  std::vector<std::unique_ptr<tcp::socket>> peers;
  const std::string key = "tcp:127.0.0.1:1";

 private:
  tcp::acceptor acceptor_;
};

TEST_F(PoolTest, HasNothingToGiveAtFirst) {
  EXPECT_EQ(pools.acquire(key), nullptr);
}

TEST_F(PoolTest, GivesBackAReleasedConnectionMarkedReused) {
  auto connection = connect();
  EXPECT_FALSE(connection->reused());
  UpstreamConnection* raw = connection.get();
  pools.release(key, std::move(connection), PoolSettings{});
  EXPECT_EQ(pools.idle(key), 1u);
  auto again = pools.acquire(key);
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again.get(), raw);
  EXPECT_TRUE(again->reused());
  EXPECT_EQ(pools.idle(key), 0u);
  EXPECT_EQ(pools.acquire("tcp:other:1"), nullptr);
}

TEST_F(PoolTest, GivesTheMostRecentlyUsedConnectionFirst) {
  auto a = connect();
  auto b = connect();
  UpstreamConnection* newest = b.get();
  pools.release(key, std::move(a), PoolSettings{});
  pools.release(key, std::move(b), PoolSettings{});
  EXPECT_EQ(pools.acquire(key).get(), newest);
}

TEST_F(PoolTest, ClosesTheOldestConnectionBeyondTheIdleCapWithoutLinger) {
  PoolSettings settings;
  settings.max_idle = 2;
  settings.surplus_linger = 0ms;
  std::vector<UpstreamConnection*> raw;
  for (int i = 0; i < 3; ++i) {
    auto c = connect();
    raw.push_back(c.get());
    pools.release(key, std::move(c), settings);
  }
  EXPECT_EQ(pools.idle(key), 2u);
  EXPECT_EQ(pools.acquire(key).get(), raw[2]);
  EXPECT_EQ(pools.acquire(key).get(), raw[1]);
  EXPECT_EQ(pools.acquire(key), nullptr);
}

TEST_F(PoolTest, ClosesTheOldestSurplusOnceItWentUnusedForTheLinger) {
  PoolSettings settings{.max_idle = 2, .surplus_linger = 40ms};
  std::vector<UpstreamConnection*> raw;
  for (int i = 0; i < 5; ++i) {
    auto c = connect();
    raw.push_back(c.get());
    pools.release(key, std::move(c), settings);
  }
  EXPECT_EQ(pools.idle(key), 5u);  // the burst is over only when it stays over
  run_for(10ms);
  EXPECT_EQ(pools.idle(key), 5u);
  run_for(100ms);
  ASSERT_EQ(pools.idle(key), 2u);
  EXPECT_EQ(pools.acquire(key).get(), raw[4]);
  EXPECT_EQ(pools.acquire(key).get(), raw[3]);
  EXPECT_EQ(peers.size(), 5u);
}

TEST_F(PoolTest, KeepsASurplusThatTrafficKeepsUsing) {
  // Four requests in flight again and again, with an idle cap of two: the
  // cap must not make every round dial two new connections.
  // Trims fire during the rounds (200 ms in all); each round reuses all four.
  PoolSettings settings{.max_idle = 2, .surplus_linger = 50ms};
  std::vector<std::shared_ptr<UpstreamConnection>> busy;
  for (int i = 0; i < 4; ++i)
    busy.push_back(connect());
  for (int round = 0; round < 20; ++round) {
    for (auto& c : busy)
      pools.release(key, std::move(c), settings);
    busy.clear();
    run_for(10ms);
    while (auto c = pools.acquire(key))
      busy.push_back(std::move(c));
    ASSERT_EQ(busy.size(), 4u) << "round " << round;
  }
  EXPECT_EQ(peers.size(), 4u);  // no connection was dialed again
  for (auto& c : busy)
    EXPECT_TRUE(c->stream().socket().is_open());
}

TEST_F(PoolTest, TrimsOnlyTheSurplusThatStayedIdle) {
  PoolSettings settings{.max_idle = 1, .surplus_linger = 100ms};
  for (int i = 0; i < 4; ++i)
    pools.release(key, connect(), settings);
  // Two of the four are needed during the linger: only the other two are
  // unused, so the trim leaves three, and the next one the cap.
  auto a = pools.acquire(key);
  auto b = pools.acquire(key);
  pools.release(key, std::move(a), settings);
  pools.release(key, std::move(b), settings);
  run_for(150ms);
  EXPECT_EQ(pools.idle(key), 2u);
  run_for(150ms);
  EXPECT_EQ(pools.idle(key), 1u);
}

TEST_F(PoolTest, KeepsNothingWhenKeepAliveIsOff) {
  PoolSettings settings;
  settings.idle_timeout = 0ms;
  pools.release(key, connect(), settings);
  EXPECT_EQ(pools.idle(key), 0u);
}

TEST_F(PoolTest, ClosesConnectionsIdleLongerThanTheTimeout) {
  PoolSettings settings;
  settings.idle_timeout = 30ms;
  pools.release(key, connect(), settings);
  run_for(10ms);
  EXPECT_EQ(pools.idle(key), 1u);
  run_for(100ms);
  EXPECT_EQ(pools.idle(key), 0u);
}

TEST_F(PoolTest, DropsAConnectionTheUpstreamClosed) {
  pools.release(key, connect(), PoolSettings{});
  peers[0]->close();
  run_for(UpstreamConnection::kIdleWatchDelay + 100ms);
  EXPECT_EQ(pools.idle(key), 0u);
}

TEST_F(PoolTest, DropsAConnectionTheUpstreamClosesWhileWatched) {
  pools.release(key, connect(), PoolSettings{});
  run_for(UpstreamConnection::kIdleWatchDelay + 50ms);
  EXPECT_EQ(pools.idle(key), 1u);
  peers[0]->close();
  run_for(50ms);
  EXPECT_EQ(pools.idle(key), 0u);
}

TEST_F(PoolTest, AConnectionTakenBackAfterItsWatchBeganIsLeftAlone) {
  pools.release(key, connect(), PoolSettings{});
  run_for(UpstreamConnection::kIdleWatchDelay + 50ms);  // the watch is on
  auto connection = pools.acquire(key);
  ASSERT_NE(connection, nullptr);
  asio::write(*peers[0], asio::buffer("HTTP/1.1 200 OK\r\n", 17));  // an answer, not a close
  run_for(50ms);
  EXPECT_TRUE(connection->stream().socket().is_open());
  char byte = 0;
  EXPECT_EQ(connection->stream().socket().receive(asio::buffer(&byte, 1)), 1u);
  EXPECT_EQ(byte, 'H');  // the watch only peeked
}

TEST_F(PoolTest, StopsWatchingAConnectionOnceAcquired) {
  pools.release(key, connect(), PoolSettings{.max_idle = 32, .idle_timeout = 30ms});
  auto connection = pools.acquire(key);
  ASSERT_NE(connection, nullptr);
  run_for(80ms);  // past the idle timeout: an acquired connection is not closed
  EXPECT_TRUE(connection->stream().socket().is_open());
  EXPECT_FALSE(connection->timed_out());
}

TEST_F(PoolTest, DeadlineClosesTheStreamOfAStalledWait) {
  auto connection = connect();
  connection->arm(20ms);
  bool finished = false;
  std::error_code result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        char data[16];
        size_t n = 0;
        result = co_await connection->stream().read_some(data, n);
        finished = true;
      },
      asio::detached);
  run_for(500ms);
  EXPECT_TRUE(finished);
  EXPECT_TRUE(result);
  EXPECT_TRUE(connection->timed_out());
}

TEST_F(PoolTest, ProgressMovesTheDeadlineOn) {
  auto connection = connect();
  connection->arm(40ms);
  run_for(25ms);
  connection->arm(40ms);
  run_for(25ms);
  EXPECT_FALSE(connection->timed_out());
  connection->disarm();
  run_for(60ms);
  EXPECT_FALSE(connection->timed_out());
  EXPECT_TRUE(connection->stream().socket().is_open());
}

TEST_F(PoolTest, ReusesRelayBuffers) {
  RelayBuffer first = pools.take_buffer();
  EXPECT_EQ(first.data().size(), UpstreamPools::kRelayBufferSize);
  const char* memory = first.data().data();
  pools.give_buffer(std::move(first));
  RelayBuffer second = pools.take_buffer();
  EXPECT_EQ(second.data().data(), memory);
}

TEST_F(PoolTest, KeepsSpareBuffersAboveTheCapWhileTheyAreUsed) {
  // 100 exchanges at once, then 40 at a time: the 40 keep being served
  // from spares without new buffers, and at each (once-a-second) trim the
  // spares nobody took since the last one are freed, down to the cap (64)
  // and no further.
  std::vector<RelayBuffer> burst;
  for (int i = 0; i < 100; ++i)
    burst.push_back(pools.take_buffer());
  pools.trim_spare_buffers();  // a sweep during the burst: every buffer in use
  for (auto& buffer : burst)
    pools.give_buffer(std::move(buffer));
  burst.clear();
  EXPECT_EQ(pools.spare_buffers(), 100u);
  pools.trim_spare_buffers();  // right after the burst: all 100 were needed
  EXPECT_EQ(pools.spare_buffers(), 100u);
  for (int i = 0; i < 40; ++i)
    burst.push_back(pools.take_buffer());
  const char* reused = burst.back().data().data();
  for (auto& buffer : burst)
    pools.give_buffer(std::move(buffer));
  burst.clear();
  pools.trim_spare_buffers();  // 60 stayed unused, 36 of them above the cap
  EXPECT_EQ(pools.spare_buffers(), 64u);
  RelayBuffer warm = pools.take_buffer();
  EXPECT_EQ(warm.data().data(), reused) << "the spare handed out last stays";
  pools.give_buffer(std::move(warm));
  pools.trim_spare_buffers();
  EXPECT_EQ(pools.spare_buffers(), 64u) << "the cap itself is kept";
}

TEST_F(PoolTest, CloseAllEmptiesEveryPool) {
  pools.release(key, connect(), PoolSettings{});
  pools.release("tcp:127.0.0.1:2", connect(), PoolSettings{});
  pools.close_all();
  EXPECT_EQ(pools.idle(key), 0u);
  EXPECT_EQ(pools.idle("tcp:127.0.0.1:2"), 0u);
}

TEST(WorkerContext, ClosesItsUpstreamConnectionsOnRequest) {
  asio::io_context io;
  WorkerContext worker(io, 3);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  tcp::socket server = acceptor.accept();
  worker.upstream_pools().release(
      "k", std::make_shared<UpstreamConnection>(io, std::make_unique<TcpStream>(std::move(client))),
      PoolSettings{});
  EXPECT_EQ(worker.upstream_pools().idle("k"), 1u);
  worker.close_upstream_connections();
  EXPECT_EQ(worker.upstream_pools().idle("k"), 0u);
  EXPECT_EQ(worker.index(), 3);
}

}  // namespace
}  // namespace usher::proxy
