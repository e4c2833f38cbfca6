#include "proxy/stream.h"

#include <openssl/err.h>

#include <asio/error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/write.hpp>

#include <cerrno>
#include <utility>
#include <vector>

namespace usher::proxy {

namespace {

// Buffers up to this size are copied together so that a response head and
// the first body bytes leave in one TLS record (one syscall, fewer bytes on
// the wire); larger buffers are handed to SSL_write as they are.
constexpr size_t kTlsCoalesceLimit = 16 * 1024;

// SSL_get_error() needs an empty error queue before each TLS operation.
// Looking first is cheaper than ERR_clear_error() on a queue that is almost
// always empty (it resets all of its slots).
void clear_error_queue() {
  if (ERR_peek_error() != 0) ERR_clear_error();
}

}  // namespace

std::span<const asio::const_buffer> skip_written(std::span<const asio::const_buffer> buffers,
                                                 size_t done,
                                                 std::vector<asio::const_buffer>& storage) {
  if (done == 0) return buffers;
  storage.clear();
  for (const asio::const_buffer& buffer : buffers) {
    if (done >= buffer.size()) {
      done -= buffer.size();
      continue;
    }
    storage.push_back(buffer + done);
    done = 0;
  }
  return storage;
}

// ---------------------------------------------------------------- TcpStream

TcpStream::TcpStream(asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
  // Non-blocking for the synchronous first tries in read_some() and write();
  // a socket opened later (upstream dials) gets it at its first write.
  std::error_code ignored;
  if (socket_.is_open()) socket_.non_blocking(true, ignored);
}

asio::awaitable<std::error_code> TcpStream::read_some(std::span<char> buffer, size_t& n) {
  if (std::exchange(readable_, false) && socket_.non_blocking()) {
    // Bytes are very likely there: wait_readable() just said so, or the last
    // read filled its whole buffer. Read them now rather than through a
    // posted completion, which costs an epoll_wait and a trip through the
    // event loop (once per request, or per 16 KiB of a relayed body).
    std::error_code ec;
    n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
    if (ec != asio::error::would_block && ec != asio::error::try_again) {
      readable_ = !ec && n == buffer.size();
      co_return ec;
    }
  }
  auto [ec, count] =
      co_await socket_.async_read_some(asio::buffer(buffer.data(), buffer.size()), kNoThrow);
  n = count;
  readable_ = !ec && n == buffer.size();
  co_return ec;
}

bool TcpStream::read_now(std::span<char> buffer, size_t& n, std::error_code& ec) {
  n = 0;
  readable_ = false;
  if (!socket_.non_blocking()) return false;
  n = socket_.read_some(asio::buffer(buffer.data(), buffer.size()), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) return false;
  readable_ = !ec && n == buffer.size();
  return true;
}

size_t TcpStream::write_now(std::span<const asio::const_buffer> buffers, std::error_code& ec) {
  readable_ = false;  // an answer to what is written now is not there yet
  ec.clear();
  if (!socket_.non_blocking()) socket_.non_blocking(true, ec);
  const size_t sent = ec ? 0 : socket_.write_some(buffers, ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) ec.clear();
  return sent;
}

asio::awaitable<std::error_code> TcpStream::write(std::span<const asio::const_buffer> buffers) {
  // Nearly every write fits in the socket buffer: one non-blocking sendmsg
  // first saves the trip through the event loop (a posted completion and an
  // extra epoll_wait per write). Only what did not fit waits for the socket.
  std::error_code ec;
  const size_t sent = write_now(buffers, ec);
  if (ec) co_return ec;
  if (sent == asio::buffer_size(buffers)) co_return std::error_code{};
  std::vector<asio::const_buffer> storage;
  auto [write_ec, count] =
      co_await asio::async_write(socket_, skip_written(buffers, sent, storage), kNoThrow);
  (void)count;
  co_return write_ec;
}

asio::awaitable<std::error_code> TcpStream::wait_readable() {
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, kNoThrow);
  readable_ = !ec;
  co_return ec;
}

asio::awaitable<void> TcpStream::shutdown() {
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  co_return;
}

void TcpStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

// ---------------------------------------------------------------- TlsStream

TlsStream::TlsStream(asio::ip::tcp::socket socket, core::SslPtr ssl)
    : socket_(std::move(socket)), ssl_(std::move(ssl)) {
  std::error_code ignored;
  socket_.non_blocking(true, ignored);
  SSL_set_fd(ssl_.get(), socket_.native_handle());
  SSL_set_accept_state(ssl_.get());
}

asio::awaitable<std::error_code> TlsStream::wait_for(int ssl_result, bool& retry) {
  retry = false;
  int error = SSL_get_error(ssl_.get(), ssl_result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) {
    auto wait = error == SSL_ERROR_WANT_READ ? asio::ip::tcp::socket::wait_read
                                             : asio::ip::tcp::socket::wait_write;
    auto [ec] = co_await socket_.async_wait(wait, kNoThrow);
    retry = !ec;
    co_return ec;
  }
  co_return failure(error);
}

std::error_code TlsStream::failure(int ssl_error) {
  if (ssl_error == SSL_ERROR_ZERO_RETURN) return asio::error::eof;
  if (ssl_error == SSL_ERROR_SYSCALL) {
    ERR_clear_error();
    // errno 0 means the peer closed the TCP connection without close_notify.
    return errno == 0 ? std::error_code(asio::error::eof)
                      : std::error_code(errno, std::system_category());
  }
  unsigned long code = ERR_peek_last_error();
  ERR_clear_error();
  return std::error_code(static_cast<int>(code), asio::error::get_ssl_category());
}

asio::awaitable<std::error_code> TlsStream::handshake() {
  for (;;) {
    clear_error_queue();
    int result = SSL_do_handshake(ssl_.get());
    if (result == 1) co_return std::error_code{};
    bool retry = false;
    auto ec = co_await wait_for(result, retry);
    if (!retry) co_return ec ? ec : std::error_code(asio::error::connection_aborted);
  }
}

asio::awaitable<std::error_code> TlsStream::client_handshake() {
  SSL_set_connect_state(ssl_.get());
  co_return co_await handshake();
}

bool TlsStream::read_now(std::span<char> buffer, size_t& n, std::error_code& ec) {
  n = 0;
  clear_error_queue();
  const int result = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
  if (result == 1) {
    ec.clear();
    return true;
  }
  const int error = SSL_get_error(ssl_.get(), result);
  if (error == SSL_ERROR_WANT_READ || error == SSL_ERROR_WANT_WRITE) return false;
  ec = failure(error);
  return true;
}

asio::awaitable<std::error_code> TlsStream::read_some(std::span<char> buffer, size_t& n) {
  n = 0;
  for (;;) {
    clear_error_queue();
    int result = SSL_read_ex(ssl_.get(), buffer.data(), buffer.size(), &n);
    if (result == 1) co_return std::error_code{};
    bool retry = false;
    auto ec = co_await wait_for(result, retry);
    if (!retry) co_return ec;
  }
}

int TlsStream::ssl_write_until_blocked(std::span<const char>& data) {
  while (!data.empty()) {
    size_t written = 0;
    clear_error_queue();
    const int result = SSL_write_ex(ssl_.get(), data.data(), data.size(), &written);
    if (result != 1) return result;
    data = data.subspan(written);
  }
  return 1;
}

asio::awaitable<std::error_code> TlsStream::write_rest(std::span<const char> data, int result) {
  // OpenSSL wants the same bytes again after a WANT_WRITE: `data` only
  // moves on for what was written.
  while (!data.empty()) {
    bool retry = false;
    auto ec = co_await wait_for(result, retry);
    if (!retry) co_return ec ? ec : std::error_code(asio::error::broken_pipe);
    result = ssl_write_until_blocked(data);
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> TlsStream::write(std::span<const asio::const_buffer> buffers) {
  // The common shapes are one buffer (a relayed body piece) and a response
  // head with the first body bytes: the first is written from where it is,
  // the second copied into one record (one syscall, fewer bytes on the wire).
  size_t pieces = 0;
  size_t total = 0;
  std::span<const char> data;
  for (const asio::const_buffer& buffer : buffers) {
    if (buffer.size() == 0) continue;
    ++pieces;
    total += buffer.size();
    data = std::span<const char>(static_cast<const char*>(buffer.data()), buffer.size());
  }
  if (pieces > 1) {
    if (total > kTlsCoalesceLimit) co_return co_await write_large(buffers);
    pending_.clear();
    for (const asio::const_buffer& buffer : buffers)
      pending_.append(static_cast<const char*>(buffer.data()), buffer.size());
    data = pending_;
  }
  // Nearly every write completes at once; only one that must wait for the
  // socket costs another coroutine frame.
  const int result = ssl_write_until_blocked(data);
  std::error_code ec;
  if (!data.empty()) ec = co_await write_rest(data, result);
  release_pending();
  co_return ec;
}

asio::awaitable<std::error_code> TlsStream::write_large(
    std::span<const asio::const_buffer> buffers) {
  auto write_all = [this](std::span<const char> data) -> asio::awaitable<std::error_code> {
    const int result = ssl_write_until_blocked(data);
    if (data.empty()) co_return std::error_code{};
    co_return co_await write_rest(data, result);
  };
  // Small buffers are copied together so that they leave in one record; a
  // buffer with nothing left to join (the last one, or a large one) is
  // written from where it is, so relayed body chunks are never copied.
  pending_.clear();
  for (size_t i = 0; i < buffers.size(); ++i) {
    std::span<const char> data(static_cast<const char*>(buffers[i].data()), buffers[i].size());
    const bool last = i + 1 == buffers.size();
    if (pending_.empty() && (last || data.size() > kTlsCoalesceLimit)) {
      if (auto ec = co_await write_all(data)) co_return ec;
      continue;
    }
    if (pending_.size() + data.size() <= kTlsCoalesceLimit) {
      pending_.append(data.data(), data.size());
      continue;
    }
    // Top the pending bytes up to one full record (a response head and the
    // start of its body), send it, then go on with the rest of this buffer.
    const size_t room = kTlsCoalesceLimit - pending_.size();
    pending_.append(data.data(), room);
    if (auto ec = co_await write_all(pending_)) co_return ec;
    pending_.clear();
    data = data.subspan(room);
    if (last || data.size() > kTlsCoalesceLimit) {
      if (auto ec = co_await write_all(data)) co_return ec;
    } else {
      pending_.assign(data.data(), data.size());
    }
  }
  std::error_code ec;
  if (!pending_.empty()) ec = co_await write_all(pending_);
  release_pending();
  co_return ec;
}

void TlsStream::release_pending() {
  // A connection that keeps its buffers (see keep_buffers) reuses this one
  // for every response and frees it in trim(); others free a large one now.
  if (!keep_buffers_ && pending_.capacity() > 4096) std::string().swap(pending_);
  pending_.clear();
}

asio::awaitable<std::error_code> TlsStream::wait_readable() {
  // SSL_has_pending, not SSL_pending: with read-ahead, whole records may
  // wait in OpenSSL's buffer that nothing on the socket would announce.
  if (SSL_has_pending(ssl_.get()) == 1) co_return std::error_code{};
  auto [ec] = co_await socket_.async_wait(asio::ip::tcp::socket::wait_read, kNoThrow);
  co_return ec;
}

asio::awaitable<void> TlsStream::shutdown() {
  // Send close_notify once; waiting for the peer's would only hold the
  // connection open (RFC 8446 §6.1 allows closing after sending it).
  ERR_clear_error();
  SSL_shutdown(ssl_.get());
  ERR_clear_error();
  std::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ignored);
  co_return;
}

void TlsStream::trim() {
  std::string().swap(pending_);
  SSL_free_buffers(ssl_.get());  // does nothing while a record is half read or written
}

void TlsStream::keep_buffers(bool keep) {
  // With SSL_MODE_RELEASE_BUFFERS, OpenSSL frees its 17 KiB read buffer
  // each time it empties and its write buffer after each record, then
  // allocates them again: four large malloc/free per keep-alive request.
  // A kept buffer is freed by the owner's idle trim() instead.
  keep_buffers_ = keep;
  if (keep) {
    SSL_clear_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  } else {
    SSL_set_mode(ssl_.get(), SSL_MODE_RELEASE_BUFFERS);
  }
}

void TlsStream::close() {
  std::error_code ignored;
  socket_.close(ignored);
}

std::string TlsStream::version() const {
  return SSL_get_version(ssl_.get());
}

std::string TlsStream::alpn() const {
  const unsigned char* data = nullptr;
  unsigned int length = 0;
  SSL_get0_alpn_selected(ssl_.get(), &data, &length);
  return data == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(data), length);
}

std::string TlsStream::server_name() const {
  const char* name = SSL_get_servername(ssl_.get(), TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string() : std::string(name);
}

}  // namespace usher::proxy
