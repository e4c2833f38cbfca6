#pragma once

// The byte stream under a downstream connection: plain TCP or TLS. The HTTP
// codecs see only this interface, so one session type serves both.

#include <asio/awaitable.hpp>
#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "core/openssl.h"

namespace usher::proxy {

/// Completion token for operations whose errors are values, not exceptions
/// (design.md §6): `auto [ec, n] = co_await op(..., kNoThrow);`
inline constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

/// A connected, bidirectional byte stream.
class Stream {
 public:
  virtual ~Stream() = default;

  /// Reads at least one byte into `buffer`; n == 0 with asio::error::eof
  /// when the peer closed.
  virtual asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) = 0;
  /// Reads without waiting, for when bytes are known to be there (right
  /// after wait_readable()): true when the read finished (bytes, EOF or an
  /// error in `ec`), false when read_some() must wait after all. Spares the
  /// coroutine frames of a read that needs no wait.
  virtual bool read_now(std::span<char> buffer, size_t& n, std::error_code& ec) {
    (void)buffer;
    (void)ec;
    n = 0;
    return false;
  }
  /// Writes what the socket takes without waiting and returns how many
  /// bytes that was (0 for streams that cannot, such as TLS, whose writes
  /// must be retried whole). A caller writes the rest with write(): a write
  /// that fits costs no coroutine frame.
  virtual size_t write_now(std::span<const asio::const_buffer> buffers, std::error_code& ec) {
    (void)buffers;
    ec.clear();
    return 0;
  }
  /// Writes every byte of every buffer.
  virtual asio::awaitable<std::error_code> write(std::span<const asio::const_buffer> buffers) = 0;
  /// Waits until a read would make progress, without holding a buffer: idle
  /// keep-alive connections cost no read buffer while they wait.
  virtual asio::awaitable<std::error_code> wait_readable() = 0;
  /// Orderly close of the sending direction (TLS close_notify, then FIN).
  virtual asio::awaitable<void> shutdown() = 0;
  /// Cancels pending operations and closes now (deadlines, forced shutdown).
  virtual void close() = 0;

  virtual asio::ip::tcp::socket& socket() = 0;

  /// Frees buffers kept between writes; called on idle connections.
  virtual void trim() {}
  /// Whether I/O buffers are kept from one request to the next instead of
  /// freed whenever they empty: for connections whose idle periods call
  /// trim(), not for long-lived tunnels.
  virtual void keep_buffers(bool keep) { (void)keep; }

  asio::awaitable<std::error_code> write(std::span<const char> data) {
    asio::const_buffer buffer(data.data(), data.size());
    co_return co_await write(std::span<const asio::const_buffer>(&buffer, 1));
  }
};

/// The part of `buffers` after its first `done` bytes; `storage` holds
/// the buffer list when it has to be rebuilt.
std::span<const asio::const_buffer> skip_written(std::span<const asio::const_buffer> buffers,
                                                 size_t done,
                                                 std::vector<asio::const_buffer>& storage);

/// Plain TCP.
class TcpStream final : public Stream {
 public:
  explicit TcpStream(asio::ip::tcp::socket socket);

  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override;
  bool read_now(std::span<char> buffer, size_t& n, std::error_code& ec) override;
  size_t write_now(std::span<const asio::const_buffer> buffers, std::error_code& ec) override;
  asio::awaitable<std::error_code> write(std::span<const asio::const_buffer> buffers) override;
  asio::awaitable<std::error_code> wait_readable() override;
  asio::awaitable<void> shutdown() override;
  void close() override;
  asio::ip::tcp::socket& socket() override { return socket_; }

 private:
  asio::ip::tcp::socket socket_;
  bool readable_ = false;  // bytes are likely waiting: worth a read without waiting first
};

/// TLS driven directly on the non-blocking socket (SSL_set_fd), waiting for
/// readiness with asio. Unlike asio::ssl::stream, it keeps no BIO pair and no
/// 17 KiB staging buffers per connection, and with SSL_MODE_RELEASE_BUFFERS
/// an idle connection holds no record buffers at all (decision 0004).
class TlsStream final : public Stream {
 public:
  /// Takes the accepted socket and a fresh SSL object for it.
  TlsStream(asio::ip::tcp::socket socket, core::SslPtr ssl);

  /// Runs the server side of the handshake.
  asio::awaitable<std::error_code> handshake();
  /// Runs the client side of the handshake instead (connections to
  /// upstreams); SNI and peer verification are set on the SSL object first.
  asio::awaitable<std::error_code> client_handshake();

  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override;
  bool read_now(std::span<char> buffer, size_t& n, std::error_code& ec) override;
  asio::awaitable<std::error_code> write(std::span<const asio::const_buffer> buffers) override;
  asio::awaitable<std::error_code> wait_readable() override;
  asio::awaitable<void> shutdown() override;
  void close() override;
  asio::ip::tcp::socket& socket() override { return socket_; }

  void trim() override;
  void keep_buffers(bool keep) override;

  SSL* ssl() const { return ssl_.get(); }
  /// "TLSv1.3", the negotiated ALPN protocol and the SNI name, for logs and
  /// placeholders; valid after the handshake.
  std::string version() const;
  std::string alpn() const;
  std::string server_name() const;

 private:
  // Turns an SSL_ERROR_WANT_* into a wait for the socket; any other outcome
  // into an error code. Sets `retry` when the operation should be repeated.
  asio::awaitable<std::error_code> wait_for(int ssl_result, bool& retry);
  // The error of an SSL_get_error() outcome other than WANT_READ/WANT_WRITE.
  std::error_code failure(int ssl_error);
  // Writes as much of `data` as OpenSSL takes without waiting; returns the
  // last SSL_write_ex result (1 when everything was written).
  int ssl_write_until_blocked(std::span<const char>& data);
  // Waits for the socket and writes the rest after ssl_write_until_blocked()
  // stopped with `result`.
  asio::awaitable<std::error_code> write_rest(std::span<const char> data, int result);
  // Writes buffers larger together than one record.
  asio::awaitable<std::error_code> write_large(std::span<const asio::const_buffer> buffers);
  void release_pending();

  asio::ip::tcp::socket socket_;
  core::SslPtr ssl_;
  std::string pending_;  // small buffers coalesced into one TLS record
  bool keep_buffers_ = false;
};

}  // namespace usher::proxy
