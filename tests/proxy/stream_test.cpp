#include "proxy/stream.h"

#include <gtest/gtest.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/write.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace usher::proxy {
namespace {

using tcp = asio::ip::tcp;

TEST(SkipWritten, DropsWholeBuffersAndCutsIntoThePartlyWrittenOne) {
  const std::string a = "head", b = "body", c = "\r\n";
  const std::vector<asio::const_buffer> buffers{asio::buffer(a), asio::buffer(b), asio::buffer(c)};
  struct Case {
    size_t done;
    std::string rest;
  };
  for (const Case& test : {Case{0, "headbody\r\n"}, Case{2, "adbody\r\n"}, Case{4, "body\r\n"},
                           Case{7, "y\r\n"}, Case{10, ""}}) {
    std::vector<asio::const_buffer> storage;
    std::string rest;
    for (const asio::const_buffer& buffer : skip_written(buffers, test.done, storage))
      rest.append(static_cast<const char*>(buffer.data()), buffer.size());
    EXPECT_EQ(rest, test.rest) << "after " << test.done << " bytes";
  }
}

/// A connected pair: `stream` under test, `peer` the other end.
class TcpStreamTest : public ::testing::Test {
 protected:
  TcpStreamTest() : acceptor_(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    tcp::socket client(io);
    client.connect(acceptor_.local_endpoint());
    peer = acceptor_.accept();
    stream = std::make_unique<TcpStream>(std::move(client));
  }

  asio::io_context io;
  tcp::socket peer{io};
  std::unique_ptr<TcpStream> stream;

 private:
  tcp::acceptor acceptor_;
};

TEST_F(TcpStreamTest, ReadNowSaysWhenItMustWait) {
  char buffer[16];
  size_t n = 0;
  std::error_code ec;
  EXPECT_FALSE(stream->read_now(buffer, n, ec));  // nothing sent yet
  asio::write(peer, asio::buffer(std::string("hello")));
  ASSERT_TRUE(stream->read_now(buffer, n, ec));
  EXPECT_FALSE(ec);
  EXPECT_EQ(std::string(buffer, n), "hello");
  peer.close();
  ASSERT_TRUE(stream->read_now(buffer, n, ec));
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(TcpStreamTest, WriteNowTakesWhatFitsAndWriteSendsTheRest) {
  // Far more than the socket buffers hold, so that the first try is partial.
  std::string data(32 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i)
    data[i] = static_cast<char>(i * 7 + i / 4096);
  const asio::const_buffer buffer = asio::buffer(data);
  std::error_code ec;
  const size_t done = stream->write_now(std::span<const asio::const_buffer>(&buffer, 1), ec);
  EXPECT_FALSE(ec);
  EXPECT_GT(done, 0u);
  ASSERT_LT(done, data.size());

  std::error_code rest_error = asio::error::in_progress;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        std::vector<asio::const_buffer> storage;
        rest_error = co_await stream->write(
            skip_written(std::span<const asio::const_buffer>(&buffer, 1), done, storage));
      },
      asio::detached);
  std::string received(data.size(), '\0');
  std::thread reader([&] { asio::read(peer, asio::buffer(received)); });
  io.run();
  reader.join();
  EXPECT_FALSE(rest_error);
  EXPECT_TRUE(received == data);
}

}  // namespace
}  // namespace usher::proxy
