// Fuzzes the HTTP/2 server session: the input (after the connection
// preface, which the target adds so that every input reaches the frame
// layer) is fed to serve_http2 in pieces whose sizes the first byte
// chooses, with a fake handler that reads each request body and answers
// with a body, trailers, or a tunnel for extended CONNECT. Whatever the
// client sends, the session must end, every handler must finish, and
// nothing may touch freed memory (ASan in the libFuzzer build).
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include "proxy/http2_session.h"

namespace {

using namespace usher::proxy;

/// A stream that reads the fuzz input and swallows what is written.
class FuzzStream final : public Stream {
 public:
  FuzzStream(asio::io_context& io, std::string input, size_t piece)
      : socket_(io), input_(std::move(input)), piece_(piece) {}

  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override {
    n = std::min({buffer.size(), piece_, input_.size() - offset_});
    if (n == 0) co_return std::error_code(asio::error::eof);
    std::copy_n(input_.data() + offset_, n, buffer.data());
    offset_ += n;
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> write(std::span<const asio::const_buffer> buffers) override {
    for (const auto& b : buffers)
      written_ += b.size();
    co_return std::error_code{};
  }
  asio::awaitable<std::error_code> wait_readable() override { co_return std::error_code{}; }
  asio::awaitable<void> shutdown() override { co_return; }
  void close() override {}
  asio::ip::tcp::socket& socket() override { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
  std::string input_;
  size_t piece_;
  size_t offset_ = 0;
  size_t written_ = 0;
};

asio::awaitable<void> handle(Exchange& exchange) {
  BodySource::Chunk chunk;
  size_t body = 0;
  while (!co_await exchange.body().read(chunk) && !chunk.end)
    body += chunk.data.size();
  ResponseSink& sink = exchange.response();
  ResponseHead head;
  if (exchange.request().upgrade) {
    head.status = 101;
    if (co_await sink.write_head(head)) co_return;
    if (UpgradedStream* tunnel = exchange.upgraded_stream()) {
      char buffer[64];
      size_t n = 0;
      while (!co_await tunnel->read_some(buffer, n) && n > 0)
        if (co_await tunnel->write(std::span<const char>(buffer, n))) break;
      co_await tunnel->shutdown_send();
    }
    co_return;
  }
  if (exchange.request().expect_continue) {
    ResponseHead interim;
    interim.status = 103;
    co_await sink.write_interim(interim);
  }
  head.status = 200;
  head.headers.add("X-Body", std::to_string(body));
  if (co_await sink.write_head(head)) co_return;
  std::string out(body % 100000, 'r');
  if (co_await sink.write_body(out, true)) co_return;
  Headers trailers;
  trailers.add("x-done", "1");
  co_await sink.finish(&trailers);
}

asio::awaitable<void> run_session(Stream& stream, const Http2Environment& env,
                                  ConnectionEntry& entry, bool& done) {
  ConnectionInfo info;
  co_await serve_http2(stream, info, env, entry);
  done = true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t piece = 1 + data[0] * 64u;
  std::string input(kHttp2Preface);
  input.append(reinterpret_cast<const char*>(data + 1), size - 1);

  asio::io_context io{1};
  FuzzStream stream(io, std::move(input), piece);
  ConnectionEntry entry;
  entry.stream = &stream;
  Http2Environment env;
  // Short waits: a stream whose body never ends gives up quickly.
  env.settings.read_body = std::chrono::milliseconds(5);
  env.settings.write = std::chrono::milliseconds(5);
  env.settings.max_header_bytes = 4096;
  env.handler = handle;
  bool done = false;
  asio::co_spawn(io, run_session(stream, env, entry, done), asio::detached);
  io.run_for(std::chrono::seconds(5));
  if (!done) std::abort();  // the session must end once its input does
  return 0;
}
