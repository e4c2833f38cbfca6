#include "proxy/http2_session.h"

#include <nghttp2/nghttp2.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <spdlog/spdlog.h>

#include <asio/co_spawn.hpp>
#include <asio/error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/coarse_clock.h"
#include "proxy/http_date.h"
#include "proxy/low_water_mark.h"

namespace usher::proxy {

namespace {

using Clock = ConnectionEntry::Clock;
using std::chrono::milliseconds;

// Bytes read from the socket in one go.
constexpr size_t kReadChunk = 16 * 1024;
// After the session ends, how long the peer gets to read our GOAWAY.
constexpr auto kCloseLinger = std::chrono::seconds(2);
// How long a plain connection's first bytes are re-checked when they are a
// proper prefix of the preface (a client that sends it in pieces).
constexpr auto kPrefacePoll = std::chrono::milliseconds(10);

struct SessionDeleter {
  void operator()(nghttp2_session* s) const { nghttp2_session_del(s); }
};
using SessionPtr = std::unique_ptr<nghttp2_session, SessionDeleter>;
struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* c) const { nghttp2_session_callbacks_del(c); }
};
using CallbacksPtr = std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter>;
struct OptionDeleter {
  void operator()(nghttp2_option* o) const { nghttp2_option_del(o); }
};
using OptionPtr = std::unique_ptr<nghttp2_option, OptionDeleter>;

constexpr char lower(char c) {
  return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c;
}

/// ASCII lower case in place, eight bytes at a time (the bytes >= 'A' and
/// <= 'Z' of each word found with carry-free adds): it runs over the host of
/// every request.
void lower_in_place(char* p, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w = 0;
    std::memcpy(&w, p + i, 8);
    const uint64_t low7 = w & (kOnes * 0x7f);
    const uint64_t at_least_a = low7 + kOnes * (0x80 - 'A');  // top bit: byte >= 'A'
    const uint64_t above_z = low7 + kOnes * (0x7f - 'Z');     // top bit: byte > 'Z'
    const uint64_t upper = ~w & at_least_a & ~above_z & (kOnes * 0x80);
    w |= upper >> 2;  // 0x80 >> 2 == 0x20, the case bit
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i)
    p[i] = lower(p[i]);
}

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

std::string_view view(const uint8_t* data, size_t length) {
  return {reinterpret_cast<const char*>(data), length};
}

// RFC 9113 §8.2.2: connection-specific fields never appear in HTTP/2. The
// length picks the one candidate: this runs for every field of every
// response head.
bool is_connection_specific(std::string_view name) {
  switch (name.size()) {
    case 7:
      return header_name_equals(name, "upgrade");
    case 10:
      return header_name_equals(name, "connection") || header_name_equals(name, "keep-alive");
    case 16:
      return header_name_equals(name, "proxy-connection");
    case 17:
      return header_name_equals(name, "transfer-encoding");
    default:
      return false;
  }
}

/// A number as decimal text, without a heap allocation.
struct Decimal {
  std::array<char, 24> text{};
  size_t size = 0;
  std::string_view view() const { return {text.data(), size}; }
};
template <typename T>
Decimal decimal(T value) {
  Decimal d;
  auto [end, ec] = std::to_chars(d.text.data(), d.text.data() + d.text.size(), value);
  d.size = ec == std::errc() ? static_cast<size_t>(end - d.text.data()) : 0;
  return d;
}

// Bytes a response head adds to its fields: :status, content-length, date.
constexpr size_t kHeadExtraBytes = 96;
// Finished streams a worker thread keeps for its next ones (their object and
// buffers), and the largest buffer one keeps: a stream costs some ten
// allocations to make afresh, on every request. At most about 2 MiB per
// worker (256 × (the object + 7 buffers of 1 KiB)), about 0.4 MiB after
// small responses; 64 spares missed three streams in four under 500
// requests in flight. The sweep frees those a second went by without
// (trim_spare_http2_streams), so a burst's spares do not stay.
constexpr size_t kSpareStreams = 256;
constexpr size_t kSpareBufferBytes = 1024;

/// Host of an authority: without port, lower case, IPv6 without brackets.
/// Written into `out`, whose capacity a recycled stream keeps.
void host_of(std::string_view authority, std::string& out) {
  std::string_view host = authority;
  if (!host.empty() && host.front() == '[') {
    auto close = host.find(']');
    host = host.substr(1, close == std::string_view::npos ? host.size() - 1 : close - 1);
  } else if (auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  out.assign(host);
  lower_in_place(out.data(), out.size());
}

/// A random Sec-WebSocket-Key (RFC 6455 §4.1): the upstream only checks its
/// shape, and its answer (Sec-WebSocket-Accept) is dropped on the way back.
std::string websocket_key() {
  std::array<unsigned char, 16> nonce{};
  if (RAND_bytes(nonce.data(), static_cast<int>(nonce.size())) != 1) nonce.fill(0x5a);
  std::array<unsigned char, 32> encoded{};
  int n = EVP_EncodeBlock(encoded.data(), nonce.data(), static_cast<int>(nonce.size()));
  return std::string(reinterpret_cast<const char*>(encoded.data()), static_cast<size_t>(n));
}

/// Header fields for nghttp2. Every name and value is copied into one buffer
/// and described by one nv entry: a response head costs two allocations,
/// not two per field (it is built once per response, on the hot path of
/// every proxied request). Names keep their case here: the nghttp2_submit_*
/// functions copy the fields and lower-case every name as they do (RFC 9113
/// §8.2.1; documented in nghttp2.h), so doing it here too was a second pass.
class NvList {
 public:
  /// Room for `fields` fields of `bytes` bytes in total, to spare regrowth.
  void reserve(size_t fields, size_t bytes) {
    nv_.reserve(fields);
    bytes_.reserve(bytes);
  }
  void add(std::string_view name, std::string_view value) {
    bytes_.append(name);
    bytes_.append(value);
    // The pointers are set by build(): the buffer may still move.
    nv_.push_back(nghttp2_nv{nullptr, nullptr, name.size(), value.size(), NGHTTP2_NV_FLAG_NONE});
  }
  bool empty() const { return nv_.empty(); }
  /// Empty, with the capacity kept for the next head.
  void clear() {
    bytes_.clear();
    nv_.clear();
  }
  size_t capacity_bytes() const { return bytes_.capacity() + nv_.capacity() * sizeof(nghttp2_nv); }
  /// The fields for nghttp2 (which copies them); valid until the next add().
  std::span<const nghttp2_nv> build() {
    // The cast is nghttp2's API: it takes non-const pointers, reads only.
    auto* at = reinterpret_cast<uint8_t*>(bytes_.data());
    for (nghttp2_nv& nv : nv_) {
      nv.name = at;
      at += nv.namelen;
      nv.value = at;
      at += nv.valuelen;
    }
    return nv_;
  }

 private:
  std::string bytes_;  // name, value, name, value, ... back to back
  std::vector<nghttp2_nv> nv_;
};

/// nghttp2's memory, one pool per worker thread: small blocks it frees go
/// to a free list per size and are handed out again, instead of back to
/// malloc. nghttp2 allocates a few blocks per stream (the stream, its
/// outbound items, decoded header fields) and frees them as the stream
/// ends, so a busy worker reuses the same blocks request after request. Per
/// thread rather than per connection: an idle connection holds none, and
/// what the worker keeps is bounded (kMaxFree per size), and the worker's
/// sweep frees the blocks that stayed unused for a second (decision 0019).
class NghttpPool {
 public:
  NghttpPool() = default;
  NghttpPool(const NghttpPool&) = delete;
  NghttpPool& operator=(const NghttpPool&) = delete;
  ~NghttpPool();

  /// nghttp2_mem-shaped hooks; the session's own hooks (Http2Connection::
  /// mem_*) serve its page-aligned frame buffer and pass the rest here. A
  /// block may be freed on another thread than the one that made it (a
  /// session destroyed with its io_context): each call uses the calling
  /// thread's pool.
  static void* malloc_cb(size_t size, void*) { return allocate(current(), size); }
  static void free_cb(void* p, void*) { release(current(), p); }
  static void* calloc_cb(size_t n, size_t size, void*) {
    if (size != 0 && n > std::numeric_limits<size_t>::max() / size) return nullptr;
    void* p = allocate(current(), n * size);
    if (p != nullptr) std::memset(p, 0, n * size);
    return p;
  }
  static void* realloc_cb(void* p, size_t size, void*) {
    NghttpPool* pool = current();
    if (p == nullptr) return allocate(pool, size);
    Block* b = header(p);
    if (b->size_class == kPlain) {
      // Not pooled: malloc's realloc keeps its in-place growth.
      auto* grown = static_cast<Block*>(std::realloc(b, 16 + size));
      return grown == nullptr ? nullptr : reinterpret_cast<char*>(grown) + 16;
    }
    if (size <= kSizes[b->size_class]) return p;
    void* q = allocate(pool, size);
    if (q == nullptr) return nullptr;
    std::memcpy(q, p, kSizes[b->size_class]);
    release(pool, p);
    return q;
  }

  /// Frees this thread's blocks that stayed in the free lists since the
  /// previous call; returns how many.
  static size_t trim_unused();
  /// Blocks in this thread's free lists.
  static size_t spare_blocks();

 private:
  // Each block starts with this header; the caller's bytes follow at 16
  // (malloc's alignment is kept). A free block links the list through it.
  struct Block {
    size_t size_class;  // index in kSizes, or kSizes.size() for a plain malloc
    Block* next;
  };
  static_assert(sizeof(Block) == 16);
  static constexpr std::array<size_t, 4> kSizes = {64, 128, 256, 512};  // bytes after the header
  static constexpr size_t kPlain = kSizes.size();
  static constexpr size_t kMaxFree = 256;  // cached blocks per size and thread

  /// This thread's pool, or null once it was destroyed (thread exit).
  static NghttpPool* current();

  static size_t class_of(size_t size) {
    for (size_t i = 0; i < kSizes.size(); ++i)
      if (size <= kSizes[i]) return i;
    return kPlain;
  }
  static Block* header(void* p) { return reinterpret_cast<Block*>(static_cast<char*>(p) - 16); }

  static void* allocate(NghttpPool* pool, size_t size) {
    const size_t c = class_of(size);
    Block* b = nullptr;
    if (pool != nullptr && c != kPlain && pool->free_[c] != nullptr) {
      b = pool->free_[c];
      pool->free_[c] = b->next;
      --pool->counts_[c];
      pool->unused_[c].note(pool->counts_[c]);
    } else {
      b = static_cast<Block*>(std::malloc(16 + (c == kPlain ? size : kSizes[c])));
      if (b == nullptr) return nullptr;
      b->size_class = c;
    }
    b->next = nullptr;
    return reinterpret_cast<char*>(b) + 16;
  }
  static void release(NghttpPool* pool, void* p) {
    if (p == nullptr) return;
    Block* b = header(p);
    const size_t c = b->size_class;
    if (pool == nullptr || c == kPlain || pool->counts_[c] >= kMaxFree) {
      std::free(b);
      return;
    }
    b->next = pool->free_[c];
    pool->free_[c] = b;
    ++pool->counts_[c];
  }

  std::array<Block*, kSizes.size()> free_{};
  std::array<size_t, kSizes.size()> counts_{};
  std::array<LowWaterMark, kSizes.size()> unused_{};  // each list since the last trim
};

// Set when this thread's pool is destroyed: a session freed later on this
// thread (static destruction) goes straight to free(). Trivially
// destructible, so it stays readable to the end of the thread.
thread_local bool t_nghttp_pool_gone = false;
thread_local NghttpPool t_nghttp_pool;

NghttpPool::~NghttpPool() {
  for (Block*& head : free_) {
    while (head != nullptr) {
      Block* next = head->next;
      std::free(head);
      head = next;
    }
  }
  if (this == &t_nghttp_pool) t_nghttp_pool_gone = true;
}

NghttpPool* NghttpPool::current() {
  return t_nghttp_pool_gone ? nullptr : &t_nghttp_pool;
}

size_t NghttpPool::trim_unused() {
  NghttpPool* pool = current();
  if (pool == nullptr) return 0;
  size_t freed = 0;
  for (size_t c = 0; c < kSizes.size(); ++c) {
    // Blocks are taken and given back at the head, so the last unused()
    // of the list were not touched since the previous trim.
    const size_t keep = pool->counts_[c] - pool->unused_[c].unused();
    Block** link = &pool->free_[c];
    for (size_t i = 0; i < keep; ++i)
      link = &(*link)->next;
    Block* unused = *link;
    *link = nullptr;
    while (unused != nullptr) {
      Block* next = unused->next;
      std::free(unused);
      unused = next;
      ++freed;
    }
    pool->counts_[c] = keep;
    pool->unused_[c].restart(keep);
  }
  return freed;
}

size_t NghttpPool::spare_blocks() {
  const NghttpPool* pool = current();
  if (pool == nullptr) return 0;
  size_t total = 0;
  for (size_t n : pool->counts_)
    total += n;
  return total;
}

class Http2Connection;

/// How a wait for progress on a stream ended.
enum class Wake { kWoken, kTimedOut, kCancelled };

/// One HTTP/2 stream: an Exchange whose body source, response sink and
/// upgraded stream all live on this stream.
class Http2Stream final : public Exchange,
                          public BodySource,
                          public ResponseSink,
                          public UpgradedStream {
 public:
  Http2Stream(Http2Connection& connection, int32_t id);

  // Exchange
  HttpRequest& request() override { return request_; }
  const ConnectionInfo& connection() const override;
  BodySource& body() override { return *this; }
  ResponseSink& response() override { return *this; }
  UpgradedStream* upgraded_stream() override { return upgraded_ ? this : nullptr; }
  /// The other streams finish; GOAWAY stops new ones (`respond { close }`).
  void close_after() override;

  // BodySource
  asio::awaitable<std::error_code> read(Chunk& chunk) override;
  const Headers& trailers() const override { return trailers_; }
  asio::awaitable<std::error_code> send_continue() override;

  // ResponseSink
  asio::awaitable<std::error_code> write_interim(const ResponseHead& head) override;
  asio::awaitable<std::error_code> write_head(const ResponseHead& head) override;
  asio::awaitable<std::error_code> write_body(std::span<const char> data, bool flush) override;
  asio::awaitable<std::error_code> finish(const Headers* trailers) override;
  void abort() override;
  bool head_written() const override { return head_written_; }
  uint64_t body_bytes() const override { return body_bytes_; }

  // UpgradedStream
  asio::awaitable<std::error_code> read_some(std::span<char> buffer, size_t& n) override;
  asio::awaitable<std::error_code> write(std::span<const char> data) override;
  asio::awaitable<void> shutdown_send() override;

  // Called by the connection from nghttp2 callbacks.
  int on_header(std::string_view name, std::string_view value, bool trailer);
  void on_request_complete(bool end_stream);
  void on_data(std::span<const char> data) {
    if (discard_input_) {
      consume(data.size());
      return;
    }
    in_.append(data.data(), data.size());
    notify();
  }
  void on_end_stream() {
    body_end_ = true;
    notify();
  }
  void on_close(uint32_t error_code);
  ssize_t on_read_data(uint8_t* buf, size_t length, uint32_t* flags);
  /// Hands the response head that write_head() queued to nghttp2; the
  /// writer calls it right before it serialises frames.
  void submit_head();

  /// After the handler returned: answer a request nobody answered, reset a
  /// response nobody finished.
  asio::awaitable<void> complete();
  /// A request the codec answers itself (plain CONNECT, a bad authority).
  int reject_status() const { return reject_status_; }
  asio::awaitable<void> respond_error(int status);

  int32_t id() const { return id_; }
  bool closed() const { return closed_; }
  bool head_pending = true;  // its header block has not ended yet
  void notify() {
    if (wake_) wake_->cancel();
  }
  size_t slot = 0;        // index in the connection's list of open streams
  int refs = 0;           // the connection while open, the handler while it runs
  size_t owned_slot = 0;  // index in the connection's list of streams it owns

  /// What a finished stream passes to the next one on its connection: its
  /// buffers, empty but with their capacity, and its timer.
  struct Spare {
    std::vector<Header> headers;
    std::string path, query, authority, host, in, out;
    NvList head;
  };
  /// Drops what a spare should not keep (large buffers).
  void trim_for_spare();
  Spare take_spare();
  void adopt(Spare&& spare);

 private:
  /// Waits for notify(), at most `timeout` (none when nullopt).
  asio::awaitable<Wake> wait(std::optional<milliseconds> timeout);
  bool queue_output(std::span<const char> data);
  asio::awaitable<std::error_code> wait_output();
  bool usable() const;
  void reset(uint32_t code);
  void consume(size_t n);

  Http2Connection& conn_;
  int32_t id_;
  // Made at the first wait: most streams (a request without a body, a
  // response that fits the output limit) never wait, and a timer costs a
  // service lookup under a mutex to make.
  std::optional<asio::steady_timer> wake_;

  // The request.
  HttpRequest request_;
  Headers trailers_;
  std::string authority_;
  std::string host_header_;
  std::string cookie_;
  bool has_authority_ = false;
  bool has_host_header_ = false;
  int reject_status_ = 0;
  size_t header_bytes_ = 0;
  bool body_end_ = false;
  std::string in_;       // DATA received, not yet handed to the handler
  std::string in_view_;  // the piece the last read() returned
  bool continue_sent_ = false;
  bool discard_input_ = false;  // the handler is done: unread DATA is dropped

  // The response.
  bool closed_ = false;  // nghttp2 closed the stream (done, or reset)
  bool head_written_ = false;
  bool no_body_ = false;
  bool finished_ = false;
  bool close_after_ = false;  // GOAWAY once the response is finished
  bool upgraded_ = false;
  bool head_request_ = false;
  std::string out_;  // body bytes nghttp2 has not taken yet, from out_begin_
  size_t out_begin_ = 0;
  NvList out_trailers_;
  NvList out_head_;           // the response head, until the writer submits it
  bool head_queued_ = false;  // out_head_ waits for submit_head()
  bool deferred_ = false;     // nghttp2 waits for resume_data
  uint64_t body_bytes_ = 0;
};

/// One HTTP/2 connection: the reader feeds nghttp2 (this coroutine), the
/// writer drains it (a second coroutine), every stream's handler runs as
/// its own coroutine.
class Http2Connection {
 public:
  Http2Connection(Stream& stream, const ConnectionInfo& info, const Http2Environment& env,
                  ConnectionEntry& entry)
      : stream_(stream),
        info_(info),
        env_(env),
        entry_(entry),
        writer_wake_(stream.socket().get_executor()),
        done_wake_(stream.socket().get_executor()) {
    entry_.trim = [](void* self) { static_cast<Http2Connection*>(self)->trim_idle(); };
    entry_.trim_owner = this;
  }
  ~Http2Connection() {
    entry_.trim = nullptr;
    entry_.trim_owner = nullptr;
  }
  Http2Connection(const Http2Connection&) = delete;
  Http2Connection& operator=(const Http2Connection&) = delete;

  asio::awaitable<void> run();

  nghttp2_session* session() { return session_.get(); }
  const ConnectionInfo& info() const { return info_; }
  const ConnectionSettings& settings() const { return env_.settings; }
  asio::any_io_executor executor() { return stream_.socket().get_executor(); }
  /// True once no more frames can be sent or received.
  bool dead() const { return dead_; }
  void wake_writer() { writer_wake_.cancel(); }
  /// Sends GOAWAY once: open streams finish, no new ones start.
  void go_away();
  /// A stream's response head waits for the writer (Http2Stream::submit_head).
  void queue_head(int32_t id) { queued_heads_.push_back(id); }

 private:
  bool init();
  asio::awaitable<void> read_loop();
  asio::awaitable<void> discard_input();
  asio::awaitable<void> write_loop();
  void start_handler(Http2Stream& stream);
  asio::awaitable<void> run_handler(Http2Stream* stream);
  /// A stream for `id`: a spare one made new, or a new one; one reference.
  Http2Stream* make_stream(int32_t id);
  /// Drops a reference; the last one makes the stream a spare, or frees it.
  void release(Http2Stream* stream);
  void arm_read_deadline();
  void update_deadline();
  void trim_idle();
  void release_frame_buffer();
  // nghttp2's allocator hooks (nghttp2_mem): plain malloc, except the frame
  // buffer made with the session (see kFrameBufferMin).
  static void* mem_malloc(size_t size, void* self);
  static void mem_free(void* ptr, void* self);
  static void* mem_calloc(size_t count, size_t size, void* self);
  static void* mem_realloc(void* ptr, size_t size, void* self);
  void* allocate_frame_buffer(size_t size);
  void wake_all_streams();
  Http2Stream* find(int32_t id);
  void forget(Http2Stream& stream);
  void head_done(Http2Stream& stream) {
    if (!stream.head_pending) return;
    stream.head_pending = false;
    seen_request_ = true;
    if (--pending_heads_ == 0) head_deadline_ = Clock::time_point::max();
  }

  static int on_begin_headers(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                       size_t namelen, const uint8_t* value, size_t valuelen, uint8_t flags,
                       void* self);
  static int on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self);
  static int on_data_chunk(nghttp2_session*, uint8_t flags, int32_t stream_id, const uint8_t* data,
                           size_t len, void* self);
  static int on_stream_close(nghttp2_session*, int32_t stream_id, uint32_t error_code, void* self);

  Stream& stream_;
  const ConnectionInfo& info_;
  const Http2Environment& env_;
  ConnectionEntry& entry_;
  // nghttp2's outbound frame buffer, page-aligned; declared before session_
  // so that it is still here when the session frees it.
  void* frame_buffer_ = nullptr;
  size_t frame_buffer_size_ = 0;
  bool creating_session_ = false;  // the next large allocation is the frame buffer
  SessionPtr session_;
  // Open at the protocol level, in no order: each stream knows its slot,
  // and a closed one is swapped with the last (no node to allocate per
  // stream, as a map would). Each holds a reference (Http2Stream::refs).
  std::vector<Http2Stream*> streams_;
  // Every stream in use, open or with a handler running: the connection
  // owns them, so that handler frames an ending io_context destroys late
  // hold plain pointers and run no code (references counted in refs).
  std::vector<std::unique_ptr<Http2Stream>> owned_;
  size_t handlers_ = 0;  // handler coroutines running
  bool seen_request_ = false;
  size_t pending_heads_ = 0;  // streams whose header block has not ended
  Clock::time_point head_deadline_ = Clock::time_point::max();
  bool input_closed_ = false;
  bool writer_running_ = false;
  bool dead_ = false;
  bool goaway_sent_ = false;
  std::vector<int32_t> queued_heads_;  // streams whose response head waits for the writer
  Clock::time_point read_deadline_ = Clock::time_point::max();
  Clock::time_point write_deadline_ = Clock::time_point::max();
  asio::steady_timer writer_wake_;
  asio::steady_timer done_wake_;
  std::vector<char> in_;
  bool reader_waiting_ = false;  // the reader waits for readability: in_ is not in use
  std::string out_;
};

// ------------------------------------------------------------ stream: request

Http2Stream::Http2Stream(Http2Connection& connection, int32_t id) : conn_(connection), id_(id) {
  request_.scheme = connection.info().tls ? "https" : "http";
  request_.version_major = 2;
  request_.version_minor = 0;
}

const ConnectionInfo& Http2Stream::connection() const {
  return conn_.info();
}

int Http2Stream::on_header(std::string_view name, std::string_view value, bool trailer) {
  // RFC 9113 §6.5.2: the size of a field is name + value + 32. A block over
  // the limit closes the connection: the cheapest answer to a flood.
  header_bytes_ += name.size() + value.size() + 32;
  if (header_bytes_ > conn_.settings().max_header_bytes) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (trailer) {
    trailers_.add(name, value);
    return 0;
  }
  if (!name.empty() && name.front() == ':') {
    // nghttp2 has checked that each pseudo-header is known, single and
    // before the regular fields (RFC 9113 §8.3).
    if (name == ":method") {
      request_.method.assign(value);
    } else if (name == ":scheme") {
      // The connection decides the scheme routing sees, as with HTTP/1.1.
    } else if (name == ":authority") {
      authority_.assign(value);
      has_authority_ = true;
    } else if (name == ":path") {
      auto question = value.find('?');
      request_.path.assign(value.substr(0, question));
      request_.query.assign(question == std::string_view::npos ? std::string_view()
                                                               : value.substr(question + 1));
    } else if (name == ":protocol") {
      request_.protocol.assign(value);
    }
    return 0;
  }
  if (name == "cookie") {
    // RFC 9113 §8.2.3: crumbs are joined with "; " for HTTP/1.1 upstreams.
    if (!cookie_.empty()) cookie_.append("; ");
    cookie_.append(value);
    return 0;
  }
  if (name == "host") {
    host_header_.assign(value);
    has_host_header_ = true;
  }
  if (name == "expect" && lowered(value) == "100-continue") request_.expect_continue = true;
  if (name == "content-length") {
    uint64_t length = 0;
    auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), length);
    if (ec == std::errc() && end == value.data() + value.size()) request_.content_length = length;
  }
  request_.headers.add(name, value);
  return 0;
}

void Http2Stream::on_request_complete(bool end_stream) {
  body_end_ = end_stream;
  request_.has_body = !end_stream;
  if (!cookie_.empty()) request_.headers.add("cookie", cookie_);
  // RFC 9113 §8.3.1: :authority, else Host; a Host that names another
  // entity than :authority is malformed (it would route one way and reach
  // the upstream another).
  if (has_authority_ && has_host_header_ && lowered(authority_) != lowered(host_header_))
    reject_status_ = 400;
  request_.authority = has_authority_ ? authority_ : host_header_;
  if (request_.authority.empty()) reject_status_ = 400;
  host_of(request_.authority, request_.host);
  if (request_.method == "CONNECT") {
    if (request_.protocol != "websocket") {
      reject_status_ = 501;  // plain CONNECT tunnels and other protocols: not offered
    } else {
      // RFC 8441 §5: presented as the HTTP/1.1 upgrade it stands for, so the
      // reverse proxy's upgrade path works unchanged.
      request_.method = "GET";
      request_.upgrade = true;
      request_.has_body = false;
      request_.headers.set("Upgrade", "websocket");
      request_.headers.set("Connection", "Upgrade");
      if (!request_.headers.contains("sec-websocket-key"))
        request_.headers.add("Sec-WebSocket-Key", websocket_key());
    }
  }
  head_request_ = request_.method == "HEAD";
}

void Http2Stream::consume(size_t n) {
  if (n == 0 || conn_.dead()) return;
  // Turns read bytes into WINDOW_UPDATE: the client may send more only as
  // fast as the handler reads (back-pressure).
  nghttp2_session_consume(conn_.session(), id_, n);
  conn_.wake_writer();
}

asio::awaitable<Wake> Http2Stream::wait(std::optional<milliseconds> timeout) {
  if (!wake_) wake_.emplace(conn_.executor());
  if (timeout) {
    wake_->expires_after(*timeout);
  } else {
    wake_->expires_at(Clock::time_point::max());
  }
  auto [ec] = co_await wake_->async_wait(kNoThrow);
  if (!ec) co_return Wake::kTimedOut;
  auto state = co_await asio::this_coro::cancellation_state;
  co_return state.cancelled() != asio::cancellation_type::none ? Wake::kCancelled : Wake::kWoken;
}

asio::awaitable<std::error_code> Http2Stream::send_continue() {
  if (continue_sent_ || !request_.expect_continue || head_written_ || !usable())
    co_return std::error_code{};
  continue_sent_ = true;
  NvList nv;
  nv.add(":status", "100");
  auto fields = nv.build();
  nghttp2_submit_headers(conn_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(),
                         fields.size(), nullptr);
  conn_.wake_writer();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http2Stream::read(Chunk& chunk) {
  chunk = Chunk{};
  in_view_.clear();
  if (request_.upgrade) {
    chunk.end = true;  // extended CONNECT: DATA is the tunnel, not a body
    co_return std::error_code{};
  }
  if (auto ec = co_await send_continue()) co_return ec;
  while (true) {
    if (!in_.empty()) {
      in_view_.swap(in_);
      in_.clear();
      consume(in_view_.size());
      chunk.data = in_view_;
      co_return std::error_code{};
    }
    if (body_end_) {
      chunk.end = true;
      co_return std::error_code{};
    }
    if (closed_ || conn_.dead()) co_return std::error_code(asio::error::connection_aborted);
    Wake wake = co_await wait(conn_.settings().read_body);
    if (wake == Wake::kCancelled) co_return std::error_code(asio::error::operation_aborted);
    if (wake == Wake::kTimedOut) {
      reset(NGHTTP2_CANCEL);
      co_return std::error_code(asio::error::timed_out);
    }
  }
}

void Http2Stream::trim_for_spare() {
  // A timer belongs to its io_context, which may end before the thread's
  // spares do.
  wake_.reset();
  auto trim = [](std::string& s) {
    if (s.capacity() > kSpareBufferBytes) std::string().swap(s);
  };
  trim(in_);
  trim(out_);
  trim(request_.path);
  trim(request_.query);
  if (out_head_.capacity_bytes() > kSpareBufferBytes) out_head_ = NvList();
  if (request_.headers.fields().capacity() * sizeof(Header) > kSpareBufferBytes)
    std::vector<Header>().swap(request_.headers.fields());
}

Http2Stream::Spare Http2Stream::take_spare() {
  Spare spare;
  spare.headers = std::move(request_.headers.fields());
  spare.path = std::move(request_.path);
  spare.query = std::move(request_.query);
  spare.authority = std::move(request_.authority);
  spare.host = std::move(request_.host);
  spare.in = std::move(in_);
  spare.out = std::move(out_);
  spare.head = std::move(out_head_);
  return spare;
}

void Http2Stream::adopt(Spare&& spare) {
  auto reuse = [](std::string& to, std::string& from) {
    from.clear();
    to.swap(from);
  };
  spare.headers.clear();
  request_.headers.fields().swap(spare.headers);
  reuse(request_.path, spare.path);
  reuse(request_.query, spare.query);
  reuse(request_.authority, spare.authority);
  reuse(request_.host, spare.host);
  reuse(in_, spare.in);
  reuse(out_, spare.out);
  spare.head.clear();
  out_head_ = std::move(spare.head);
}

// ------------------------------------------------------------ stream: response

bool Http2Stream::usable() const {
  return !closed_ && !conn_.dead();
}

void Http2Stream::reset(uint32_t code) {
  if (!usable()) return;
  nghttp2_submit_rst_stream(conn_.session(), NGHTTP2_FLAG_NONE, id_, code);
  conn_.wake_writer();
}

void Http2Stream::abort() {
  finished_ = true;
  head_queued_ = false;  // a head not yet sent is not sent before the reset
  reset(NGHTTP2_INTERNAL_ERROR);
}

asio::awaitable<std::error_code> Http2Stream::write_interim(const ResponseHead& head) {
  if (head_written_ || head.status == 101 || head.status < 100 || head.status >= 200)
    co_return std::error_code{};
  if (!usable()) co_return std::error_code(asio::error::connection_reset);
  NvList nv;
  nv.add(":status", std::to_string(head.status));
  for (const auto& h : head.headers.fields())
    if (!is_connection_specific(h.name)) nv.add(h.name, h.value);
  auto fields = nv.build();
  nghttp2_submit_headers(conn_.session(), NGHTTP2_FLAG_NONE, id_, nullptr, fields.data(),
                         fields.size(), nullptr);
  conn_.wake_writer();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http2Stream::write_head(const ResponseHead& head) {
  if (head_written_) co_return std::error_code(asio::error::already_started);
  head_written_ = true;
  if (!usable()) co_return std::error_code(asio::error::connection_reset);
  const bool tunnel = head.status == 101 && request_.upgrade;
  upgraded_ = tunnel;
  no_body_ =
      !tunnel && (head_request_ || head.status < 200 || head.status == 204 || head.status == 304);
  const auto& fields = head.headers.fields();
  size_t bytes = kHeadExtraBytes;
  for (const auto& h : fields)
    bytes += h.name.size() + h.value.size();
  // Built in place: a recycled stream's head buffer already has capacity.
  NvList& nv = out_head_;
  nv.clear();
  nv.reserve(fields.size() + 3, bytes);
  // RFC 8441 §5: a successful extended CONNECT is a 2xx, not a 101.
  nv.add(":status", decimal(tunnel ? 200 : head.status).view());
  bool has_date = false;
  for (const auto& h : fields) {
    if (is_connection_specific(h.name) || header_name_equals(h.name, "content-length")) continue;
    if (tunnel && header_name_equals(h.name, "sec-websocket-accept")) continue;
    has_date = has_date || header_name_equals(h.name, "date");
    nv.add(h.name, h.value);
  }
  if (!tunnel && head.content_length && head.status >= 200 && head.status != 204 &&
      head.status != 304)
    nv.add("content-length", decimal(*head.content_length).view());
  if (!has_date) nv.add("date", http_date_now());
  // Submitted by the writer, not here: a response that ends before the
  // writer runs (no body, no trailers) then leaves as one HEADERS frame
  // with END_STREAM. gRPC's trailers-only answer (grpc-status in the head)
  // must look like that: a client that gets the head and then an empty DATA
  // frame ending the stream reads a stream that ended without trailers.
  head_queued_ = true;
  conn_.queue_head(id_);
  if (no_body_) finished_ = true;
  conn_.wake_writer();
  co_return std::error_code{};
}

void Http2Stream::submit_head() {
  if (!head_queued_) return;
  head_queued_ = false;
  if (!usable()) return;
  const bool ends_here =
      no_body_ || (finished_ && out_begin_ == out_.size() && out_trailers_.empty());
  nghttp2_data_provider provider{};
  provider.source.ptr = this;
  provider.read_callback = [](nghttp2_session*, int32_t, uint8_t* buf, size_t length,
                              uint32_t* flags, nghttp2_data_source* source, void*) -> ssize_t {
    return static_cast<Http2Stream*>(source->ptr)->on_read_data(buf, length, flags);
  };
  auto fields = out_head_.build();
  const int rv = nghttp2_submit_response(conn_.session(), id_, fields.data(), fields.size(),
                                         ends_here ? nullptr : &provider);
  out_head_.clear();                           // nghttp2 copied the fields
  if (rv != 0) reset(NGHTTP2_INTERNAL_ERROR);  // the handler's next write sees the stream gone
}

ssize_t Http2Stream::on_read_data(uint8_t* buf, size_t length, uint32_t* flags) {
  size_t available = out_.size() - out_begin_;
  size_t n = std::min(length, available);
  if (n > 0) {
    std::memcpy(buf, out_.data() + out_begin_, n);
    out_begin_ += n;
    if (out_begin_ == out_.size()) {
      out_.clear();
      out_begin_ = 0;
    }
    notify();  // room for the handler's next piece
  }
  if (out_begin_ == out_.size() && finished_) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (!out_trailers_.empty()) {
      // RFC 9113 §8.1: trailers are a HEADERS frame that ends the stream.
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      auto fields = out_trailers_.build();
      nghttp2_submit_trailer(conn_.session(), id_, fields.data(), fields.size());
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) {
    deferred_ = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return static_cast<ssize_t>(n);
}

/// Hands `data` to nghttp2; true when more than the stream's output limit
/// is now queued and the caller must wait_output(). Not a coroutine: most
/// writes fit, and a coroutine frame is an allocation per call.
bool Http2Stream::queue_output(std::span<const char> data) {
  out_.append(data.data(), data.size());
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_.session(), id_);
  }
  conn_.wake_writer();
  return out_.size() - out_begin_ > kHttp2StreamOutputLimit;
}

/// Waits while more than the stream's output limit is still queued: a
/// client that does not read (closed window or a slow socket) holds back
/// this handler only, and its memory stays bounded.
asio::awaitable<std::error_code> Http2Stream::wait_output() {
  while (out_.size() - out_begin_ > kHttp2StreamOutputLimit) {
    size_t before = out_.size() - out_begin_;
    Wake wake = co_await wait(conn_.settings().write);
    if (!usable()) co_return std::error_code(asio::error::connection_reset);
    if (wake == Wake::kCancelled) co_return std::error_code(asio::error::operation_aborted);
    if (wake == Wake::kTimedOut && out_.size() - out_begin_ >= before) {
      // The client's window stayed shut for the whole write timeout.
      reset(NGHTTP2_CANCEL);
      co_return std::error_code(asio::error::timed_out);
    }
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Http2Stream::write_body(std::span<const char> data, bool flush) {
  (void)flush;  // the writer sends what is queued at once: every write is a flush
  if (!head_written_ || finished_) co_return std::error_code(asio::error::operation_aborted);
  body_bytes_ += data.size();
  if (no_body_ || data.empty()) co_return std::error_code{};
  if (!usable()) co_return std::error_code(asio::error::connection_reset);
  if (!queue_output(data)) co_return std::error_code{};
  co_return co_await wait_output();
}

asio::awaitable<std::error_code> Http2Stream::finish(const Headers* trailers) {
  if (finished_) co_return std::error_code{};
  finished_ = true;
  if (!usable()) co_return std::error_code(asio::error::connection_reset);
  if (trailers != nullptr) {
    for (const auto& t : trailers->fields())
      if (!is_connection_specific(t.name)) out_trailers_.add(t.name, t.value);
  }
  if (deferred_) {
    deferred_ = false;
    nghttp2_session_resume_data(conn_.session(), id_);
  }
  if (close_after_) conn_.go_away();
  conn_.wake_writer();
  co_return std::error_code{};
}

void Http2Stream::on_close(uint32_t error_code) {
  (void)error_code;
  closed_ = true;
  // DATA the handler never read still counts against the connection window.
  if (!in_.empty() && !conn_.dead())
    nghttp2_session_consume_connection(conn_.session(), in_.size());
  in_.clear();
  notify();
}

asio::awaitable<void> Http2Stream::respond_error(int status) {
  std::string body =
      std::to_string(status) + " " + (status == 400 ? "Bad Request" : "Not Implemented") + "\n";
  ResponseHead head;
  head.status = status;
  head.headers.add("content-type", "text/plain; charset=utf-8");
  head.content_length = body.size();
  if (co_await write_head(head)) co_return;
  if (co_await write_body(body, false)) co_return;
  co_await finish(nullptr);
}

asio::awaitable<void> Http2Stream::complete() {
  if (!head_written_) {
    // The routes ended without a response: answer rather than hang.
    ResponseHead head;
    head.status = 500;
    head.content_length = 0;
    co_await write_head(head);
    co_await finish(nullptr);
  } else if (!finished_) {
    // A response that never ended must not look complete: reset it.
    abort();
  }
  // The client may still be sending a body nobody will read: its bytes are
  // dropped as they come and their window given back, so that the stream
  // can end and the connection window is not held by it.
  discard_input_ = true;
  consume(in_.size());
  in_.clear();
}

// HTTP/2 closes a connection with GOAWAY once the exchange completes; an
// aborted exchange resets only its own stream (other streams are not its to
// end), as Caddy and Go's server do.
void Http2Stream::close_after() {
  close_after_ = true;
}

// ------------------------------------------------------------ stream: tunnel

asio::awaitable<std::error_code> Http2Stream::read_some(std::span<char> buffer, size_t& n) {
  n = 0;
  while (true) {
    if (!in_.empty()) {
      n = std::min(buffer.size(), in_.size());
      std::memcpy(buffer.data(), in_.data(), n);
      in_.erase(0, n);
      consume(n);
      co_return std::error_code{};
    }
    if (body_end_) co_return std::error_code{};  // the client ended its side
    if (!usable()) co_return std::error_code(asio::error::connection_reset);
    // A tunnel may be quiet for long; the upstream side's tunnel timeout
    // bounds it.
    Wake wake = co_await wait(std::nullopt);
    if (wake == Wake::kCancelled) co_return std::error_code(asio::error::operation_aborted);
  }
}

asio::awaitable<std::error_code> Http2Stream::write(std::span<const char> data) {
  if (finished_) co_return std::error_code(asio::error::shut_down);
  body_bytes_ += data.size();
  if (!usable()) co_return std::error_code(asio::error::connection_reset);
  if (!queue_output(data)) co_return std::error_code{};
  co_return co_await wait_output();
}

asio::awaitable<void> Http2Stream::shutdown_send() {
  co_await finish(nullptr);
}

// ------------------------------------------------------------ connection

bool Http2Connection::init() {
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0) return false;
  CallbacksPtr callbacks(raw_callbacks);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks.get(), on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(callbacks.get(), on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(), on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks.get(), on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks.get(), on_stream_close);

  nghttp2_option* raw_option = nullptr;
  if (nghttp2_option_new(&raw_option) != 0) return false;
  OptionPtr option(raw_option);
  // Window updates follow what handlers read, not what arrived.
  nghttp2_option_set_no_auto_window_update(option.get(), 1);
  nghttp2_option_set_max_settings(option.get(), kHttp2MaxSettingsEntries);
  nghttp2_option_set_max_outbound_ack(option.get(), kHttp2MaxOutboundAcks);
  nghttp2_option_set_max_continuations(option.get(), kHttp2MaxContinuations);
  nghttp2_option_set_stream_reset_rate_limit(option.get(), kHttp2ResetBurst, kHttp2ResetRate);
  nghttp2_option_set_max_deflate_dynamic_table_size(option.get(), kHttp2HeaderTableSize);
  // A closed stream is forgotten at once: keeping it for RFC 7540's
  // priority tree costs a tree update per stream and memory for up to
  // max_concurrent_streams dead streams (SETTINGS_NO_RFC7540_PRIORITIES
  // below already implies this; set for clients that ignore that setting).
  nghttp2_option_set_no_closed_streams(option.get(), 1);

  nghttp2_session* raw_session = nullptr;
  nghttp2_mem mem{this, mem_malloc, mem_free, mem_calloc, mem_realloc};  // copied by nghttp2
  creating_session_ = true;
  const int created =
      nghttp2_session_server_new3(&raw_session, callbacks.get(), this, option.get(), &mem);
  creating_session_ = false;
  if (created != 0) return false;
  session_.reset(raw_session);

  const uint32_t max_header_list = static_cast<uint32_t>(
      std::min<size_t>(settings().max_header_bytes, std::numeric_limits<uint32_t>::max()));
  std::array<nghttp2_settings_entry, 6> entries{{
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, kHttp2MaxConcurrentStreams},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, static_cast<uint32_t>(kHttp2StreamWindow)},
      {NGHTTP2_SETTINGS_HEADER_TABLE_SIZE, kHttp2HeaderTableSize},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, max_header_list},
      {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},  // RFC 8441 WebSockets
      // RFC 9218 §2.1: RFC 7540's dependency tree is not kept (RFC 9113
      // §5.3.2 deprecates it); streams are served by RFC 9218 urgency,
      // which a reverse proxy's responses rarely need more of.
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  }};
  if (nghttp2_submit_settings(session(), NGHTTP2_FLAG_NONE, entries.data(), entries.size()) != 0)
    return false;
  nghttp2_session_set_local_window_size(session(), NGHTTP2_FLAG_NONE, 0, kHttp2ConnectionWindow);
  return true;
}

asio::awaitable<void> Http2Connection::run() {
  if (!init()) {
    spdlog::error("connection {}: cannot create an http/2 session", info_.id);
    co_return;
  }
  entry_.drain = [this] { go_away(); };
  writer_running_ = true;
  asio::co_spawn(executor(), write_loop(), [this](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("connection {}: http/2 writer: {}", info_.id, ex.what());
      }
    }
    writer_running_ = false;
    done_wake_.cancel();
  });
  if (env_.draining()) go_away();
  co_await read_loop();
  input_closed_ = true;
  wake_writer();
  wake_all_streams();
  // Handlers refer to this connection: it outlives every one of them.
  while (writer_running_ || handlers_ > 0) {
    done_wake_.expires_after(std::chrono::seconds(1));
    co_await done_wake_.async_wait(kNoThrow);
  }
  entry_.drain = nullptr;
  for (Http2Stream* s : std::exchange(streams_, {}))
    release(s);
  entry_.clear_deadline();
}

void Http2Connection::go_away() {
  if (goaway_sent_ || dead_) return;
  goaway_sent_ = true;
  // RFC 9113 §6.8: streams up to the last one we saw still complete.
  nghttp2_submit_goaway(session(), NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(session()), NGHTTP2_NO_ERROR,
                        nullptr, 0);
  wake_writer();
}

void Http2Connection::arm_read_deadline() {
  const auto& s = settings();
  if (!seen_request_ || pending_heads_ > 0) {
    // The preface and first request, and any header block once begun, must
    // arrive within read_header (slowloris over HTTP/2).
    if (head_deadline_ == Clock::time_point::max()) head_deadline_ = coarse_now() + s.read_header;
    read_deadline_ = head_deadline_;
    entry_.idle = false;
  } else if (handlers_ == 0 && streams_.empty()) {
    read_deadline_ = coarse_now() + s.idle;
    if (!entry_.idle) entry_.trimmed = false;  // a new idle period: the sweep trims it again
    entry_.idle = true;
  } else {
    // Streams are open: each one watches its own progress.
    read_deadline_ = Clock::time_point::max();
    entry_.idle = false;
  }
  update_deadline();
}

void Http2Connection::update_deadline() {
  entry_.read_deadline = read_deadline_;
  entry_.write_deadline = write_deadline_;
}

/// Called by the registry's sweep on a connection idle through a sweep
/// (no streams, no handlers): frees the read buffer the reader kept from
/// the last request (it waits without one only when its last read already
/// found the streams done) and the writer's buffer when it is not writing,
/// so an idle HTTP/2 connection holds neither (decision 0015).
void Http2Connection::trim_idle() {
  if (reader_waiting_) std::vector<char>().swap(in_);
  if (out_.empty()) {
    std::string().swap(out_);
    stream_.trim();
    release_frame_buffer();
  }
}

// nghttp2 makes one outbound frame buffer of about 16 KiB with each session
// and keeps it for the session's life (NGHTTP2_FRAMEBUF_CHUNKLEN), with no
// option to shrink it: two thirds of an idle session. Every frame is
// serialised into it afresh by nghttp2_session_mem_send and copied out at
// once, so between frames its bytes are dead. Allocated page-aligned, its
// whole pages can be handed back while the session has nothing to send
// (MADV_DONTNEED: they come back as zero pages when written next).
constexpr size_t kFrameBufferMin = 16 * 1024;
constexpr size_t kPageSize = 4096;

void* Http2Connection::allocate_frame_buffer(size_t size) {
  void* p = nullptr;
  if (posix_memalign(&p, kPageSize, size) != 0) return nullptr;
  frame_buffer_ = p;
  frame_buffer_size_ = size;
  return p;
}

// Everything but the frame buffer comes from the worker's NghttpPool; the
// frame buffer is a plain page-aligned block without the pool's header.
void* Http2Connection::mem_malloc(size_t size, void* self) {
  auto* c = static_cast<Http2Connection*>(self);
  if (c->creating_session_ && c->frame_buffer_ == nullptr && size >= kFrameBufferMin)
    return c->allocate_frame_buffer(size);
  return NghttpPool::malloc_cb(size, nullptr);
}

void Http2Connection::mem_free(void* ptr, void* self) {
  auto* c = static_cast<Http2Connection*>(self);
  if (ptr != nullptr && ptr == c->frame_buffer_) {
    c->frame_buffer_ = nullptr;
    std::free(ptr);
    return;
  }
  NghttpPool::free_cb(ptr, nullptr);
}

void* Http2Connection::mem_calloc(size_t count, size_t size, void*) {
  return NghttpPool::calloc_cb(count, size, nullptr);
}

void* Http2Connection::mem_realloc(void* ptr, size_t size, void* self) {
  auto* c = static_cast<Http2Connection*>(self);
  if (ptr == nullptr) return mem_malloc(size, self);  // how nghttp2 makes its buffers
  if (ptr != c->frame_buffer_) return NghttpPool::realloc_cb(ptr, size, nullptr);
  // The frame buffer grows: its bytes move into a pool block (which carries
  // the pool's header) and it is no longer ours to hand back while idle.
  void* moved = NghttpPool::malloc_cb(size, nullptr);
  if (moved == nullptr) return nullptr;
  std::memcpy(moved, ptr, std::min(size, c->frame_buffer_size_));
  c->frame_buffer_ = nullptr;
  std::free(ptr);
  return moved;
}

void Http2Connection::release_frame_buffer() {
  if (frame_buffer_ == nullptr || !session_ || nghttp2_session_want_write(session()) != 0) return;
  const size_t whole_pages = frame_buffer_size_ / kPageSize * kPageSize;
  if (whole_pages > 0) madvise(frame_buffer_, whole_pages, MADV_DONTNEED);
}

asio::awaitable<void> Http2Connection::read_loop() {
  while (!dead_) {
    arm_read_deadline();
    // Wait without a buffer: a connection whose streams all end while the
    // reader waits then holds none (browsers keep idle HTTP/2 connections
    // open for minutes).
    reader_waiting_ = true;
    const std::error_code wait_ec = co_await stream_.wait_readable();
    reader_waiting_ = false;
    if (wait_ec || entry_.timed_out || dead_) break;
    in_.resize(kReadChunk);
    size_t n = 0;
    std::error_code ec = co_await stream_.read_some(in_, n);
    if (ec || n == 0 || entry_.timed_out) break;
    ssize_t rv =
        nghttp2_session_mem_recv(session(), reinterpret_cast<const uint8_t*>(in_.data()), n);
    if (rv < 0) {
      // A connection error (RFC 9113 §5.4.1): GOAWAY, then close. Floods
      // (settings, pings, resets, continuations) and oversized header blocks
      // are told to calm down.
      const bool flood = rv == NGHTTP2_ERR_FLOODED || rv == NGHTTP2_ERR_CALLBACK_FAILURE ||
                         rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS;
      spdlog::debug("connection {}: http/2 from {}: {}", info_.id, info_.remote_address.to_string(),
                    nghttp2_strerror(static_cast<int>(rv)));
      nghttp2_session_terminate_session(session(),
                                        flood ? NGHTTP2_ENHANCE_YOUR_CALM : NGHTTP2_PROTOCOL_ERROR);
      wake_writer();
      co_await discard_input();
      break;
    }
    wake_writer();
    if (!nghttp2_session_want_read(session()) && !nghttp2_session_want_write(session())) break;
    if (streams_.empty() && handlers_ == 0) {
      std::vector<char>().swap(in_);
      std::vector<Http2Stream*>().swap(streams_);
    }
  }
  read_deadline_ = Clock::time_point::max();
  update_deadline();
}

/// After a connection error, the GOAWAY waits behind what the writer still
/// has to send (a PING flood's ACKs). Closing with the peer's bytes unread
/// would make the kernel answer with a reset, which throws away the GOAWAY
/// in the peer's receive buffer (the reason for HTTP/1.1's linger, RFC 9112
/// §9.6). So input is read and dropped, never parsed, until the peer closes
/// or kCloseLinger passes; the writer's own deadline still bounds its part.
asio::awaitable<void> Http2Connection::discard_input() {
  read_deadline_ = Clock::now() + kCloseLinger;
  update_deadline();
  in_.resize(kReadChunk);
  size_t n = 0;
  while (!entry_.timed_out && !co_await stream_.read_some(in_, n)) {
  }
}

asio::awaitable<void> Http2Connection::write_loop() {
  while (true) {
    for (int32_t id : queued_heads_)
      if (Http2Stream* s = find(id)) s->submit_head();
    queued_heads_.clear();
    while (out_.size() < kHttp2OutputBuffer) {
      const uint8_t* data = nullptr;
      ssize_t n = nghttp2_session_mem_send(session(), &data);
      if (n < 0) {
        spdlog::debug("connection {}: http/2 send: {}", info_.id,
                      nghttp2_strerror(static_cast<int>(n)));
        dead_ = true;
        break;
      }
      if (n == 0) break;
      out_.append(reinterpret_cast<const char*>(data), static_cast<size_t>(n));
    }
    if (!out_.empty()) {
      write_deadline_ = coarse_now() + settings().write;
      update_deadline();
      std::error_code ec = co_await stream_.write(std::span<const char>(out_));
      write_deadline_ = Clock::time_point::max();
      update_deadline();
      out_.clear();
      if (ec || entry_.timed_out) break;
      continue;
    }
    if (dead_) break;
    const bool want_read = nghttp2_session_want_read(session()) != 0;
    const bool want_write = nghttp2_session_want_write(session()) != 0;
    if (!want_write && (input_closed_ || !want_read)) break;
    // Nothing to send: a large output buffer is not kept while waiting.
    if (out_.capacity() > kReadChunk) std::string().swap(out_);
    writer_wake_.expires_at(Clock::time_point::max());
    co_await writer_wake_.async_wait(kNoThrow);
  }
  dead_ = true;
  wake_all_streams();
  if (!input_closed_) {
    // The session is over (GOAWAY sent, streams done): give the client a
    // moment to read it, then stop the reader.
    co_await stream_.shutdown();
    read_deadline_ = Clock::now() + kCloseLinger;
    update_deadline();
  }
}

void Http2Connection::wake_all_streams() {
  for (Http2Stream* s : streams_)
    s->notify();
}

Http2Stream* Http2Connection::find(int32_t id) {
  return static_cast<Http2Stream*>(nghttp2_session_get_stream_user_data(session(), id));
}

void Http2Connection::forget(Http2Stream& stream) {
  // May drop the last reference to `stream` (no handler holds it).
  const size_t slot = stream.slot;
  if (slot + 1 != streams_.size()) {
    streams_[slot] = streams_.back();
    streams_[slot]->slot = slot;
  }
  streams_.pop_back();
  release(&stream);
}

// Finished streams kept for the next ones, per worker thread rather than
// per connection: an idle connection (browsers keep them for minutes)
// holds none, and a worker keeps at most kSpareStreams. A stack: taken and
// given back at the end, so the ones at the front are the longest unused.
struct SpareStreams {
  std::vector<std::unique_ptr<Http2Stream>> list;
  // That many at its front stayed untouched since the last trim (decision
  // 0019).
  LowWaterMark unused;
  ~SpareStreams();
};
// Set once this thread's list is destroyed (thread exit); trivially
// destructible, so it stays readable to the end of the thread.
thread_local bool t_spare_streams_gone = false;
thread_local SpareStreams t_spare_streams;
SpareStreams::~SpareStreams() {
  t_spare_streams_gone = true;
}
SpareStreams* spare_streams() {
  return t_spare_streams_gone ? nullptr : &t_spare_streams;
}

Http2Stream* Http2Connection::make_stream(int32_t id) {
  SpareStreams* spares = spare_streams();
  if (spares == nullptr || spares->list.empty()) {
    owned_.push_back(std::make_unique<Http2Stream>(*this, id));
  } else {
    // Made anew in place (every field starts as for a new stream), then
    // given the old buffers back.
    std::unique_ptr<Http2Stream> old = std::move(spares->list.back());
    spares->list.pop_back();
    spares->unused.note(spares->list.size());
    Http2Stream::Spare spare = old->take_spare();
    std::destroy_at(old.get());
    std::construct_at(old.get(), *this, id);
    old->adopt(std::move(spare));
    owned_.push_back(std::move(old));
  }
  Http2Stream* stream = owned_.back().get();
  stream->owned_slot = owned_.size() - 1;
  stream->refs = 1;
  return stream;
}

void Http2Connection::release(Http2Stream* stream) {
  if (--stream->refs > 0) return;
  const size_t slot = stream->owned_slot;
  std::unique_ptr<Http2Stream> done = std::move(owned_[slot]);
  if (slot + 1 != owned_.size()) {
    owned_[slot] = std::move(owned_.back());
    owned_[slot]->owned_slot = slot;
  }
  owned_.pop_back();
  SpareStreams* spares = spare_streams();
  if (spares != nullptr && spares->list.size() < kSpareStreams) {
    done->trim_for_spare();
    spares->list.push_back(std::move(done));
  }
}

void Http2Connection::start_handler(Http2Stream& stream) {
  ++handlers_;
  ++stream.refs;  // the handler's, dropped when it ends however it ends
  asio::co_spawn(executor(), run_handler(&stream), [this, s = &stream](std::exception_ptr e) {
    const int32_t id = s->id();
    release(s);
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        spdlog::error("connection {}: stream {}: unexpected error: {}", info_.id, id, ex.what());
      }
    }
    --handlers_;
    if (handlers_ == 0) {
      done_wake_.cancel();
      if (!dead_) arm_read_deadline();
    }
  });
}

asio::awaitable<void> Http2Connection::run_handler(Http2Stream* stream) {
  if (stream->reject_status() != 0) {
    co_await stream->respond_error(stream->reject_status());
  } else {
    co_await env_.handler(*stream);
  }
  co_await stream->complete();
}

// ------------------------------------------------------------ nghttp2 callbacks

int Http2Connection::on_begin_headers(nghttp2_session* session, const nghttp2_frame* frame,
                                      void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  const int32_t id = frame->hd.stream_id;
  if (c.handlers_ >= kHttp2MaxHandlers) {
    // Handlers of reset streams still run: refuse rather than pile them up.
    // The stream gets no user data, so its frames are ignored.
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, id, NGHTTP2_REFUSED_STREAM);
    return 0;
  }
  Http2Stream* stream = c.make_stream(id);
  nghttp2_session_set_stream_user_data(session, id, stream);
  stream->slot = c.streams_.size();
  c.streams_.push_back(stream);
  ++c.pending_heads_;
  return 0;
}

int Http2Connection::on_header(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                               size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                               void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  Http2Stream* stream = c.find(frame->hd.stream_id);
  if (stream == nullptr) return 0;
  const bool trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
  return stream->on_header(view(name, namelen), view(value, valuelen), trailer);
}

int Http2Connection::on_frame_recv(nghttp2_session*, const nghttp2_frame* frame, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  const bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
  if (frame->hd.type == NGHTTP2_HEADERS) {
    Http2Stream* stream = c.find(frame->hd.stream_id);
    if (stream == nullptr) return 0;
    if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
      c.head_done(*stream);
      stream->on_request_complete(end_stream);
      c.start_handler(*stream);
    } else if (end_stream) {
      stream->on_end_stream();  // trailers
    }
  } else if (frame->hd.type == NGHTTP2_DATA && end_stream) {
    if (Http2Stream* stream = c.find(frame->hd.stream_id)) stream->on_end_stream();
  }
  return 0;
}

int Http2Connection::on_data_chunk(nghttp2_session*, uint8_t, int32_t stream_id,
                                   const uint8_t* data, size_t len, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  if (Http2Stream* stream = c.find(stream_id)) {
    stream->on_data(std::span<const char>(reinterpret_cast<const char*>(data), len));
  } else {
    nghttp2_session_consume_connection(c.session(), len);
  }
  return 0;
}

int Http2Connection::on_stream_close(nghttp2_session* session, int32_t stream_id,
                                     uint32_t error_code, void* self) {
  auto& c = *static_cast<Http2Connection*>(self);
  Http2Stream* stream = c.find(stream_id);
  if (stream == nullptr) return 0;
  c.head_done(*stream);
  stream->on_close(error_code);
  nghttp2_session_set_stream_user_data(session, stream_id, nullptr);
  c.forget(*stream);  // a running handler keeps its own reference
  if (c.streams_.empty() && c.handlers_ == 0 && !c.dead_) c.arm_read_deadline();
  return 0;
}

}  // namespace

asio::awaitable<void> serve_http2(Stream& stream, const ConnectionInfo& info,
                                  const Http2Environment& env, ConnectionEntry& entry) {
  Http2Connection connection(stream, info, env, entry);
  co_await connection.run();
}

size_t trim_spare_http2_streams() {
  SpareStreams* spares = spare_streams();
  if (spares == nullptr) return 0;
  // Spares taken since the last trim lie above the low-water mark and stay
  // warm for a steady load; the ones below it waited a whole interval.
  const size_t unused = spares->unused.unused();
  spares->list.erase(spares->list.begin(),
                     spares->list.begin() + static_cast<std::ptrdiff_t>(unused));
  spares->unused.restart(spares->list.size());
  const size_t blocks = NghttpPool::trim_unused();
  if (unused > 0) spdlog::debug("freed {} spare http/2 streams", unused);
  if (blocks > 0) spdlog::debug("freed {} spare nghttp2 blocks", blocks);
  return unused;
}

size_t spare_http2_streams() {
  const SpareStreams* spares = spare_streams();
  return spares == nullptr ? 0 : spares->list.size();
}

size_t spare_nghttp2_blocks() {
  return NghttpPool::spare_blocks();
}

bool starts_like_http2_preface(std::span<const char> bytes) {
  size_t n = std::min(bytes.size(), kHttp2Preface.size());
  return n > 0 && std::string_view(bytes.data(), n) == kHttp2Preface.substr(0, n);
}

asio::awaitable<bool> peek_http2_preface(TcpStream& stream, ConnectionEntry& entry,
                                         milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  entry.expires_after(timeout);
  std::array<char, kHttp2Preface.size()> bytes{};
  bool result = false;
  while (true) {
    if (co_await stream.wait_readable() || entry.timed_out) break;
    std::error_code ec;
    size_t n = stream.socket().receive(asio::buffer(bytes), asio::socket_base::message_peek, ec);
    if (ec || n == 0) break;
    std::span<const char> seen(bytes.data(), n);
    if (!starts_like_http2_preface(seen)) break;
    if (n == bytes.size()) {
      result = true;
      break;
    }
    // A proper prefix: wait for the rest of it.
    if (Clock::now() >= deadline) break;
    asio::steady_timer pause(stream.socket().get_executor(), kPrefacePoll);
    co_await pause.async_wait(kNoThrow);
  }
  entry.clear_deadline();
  co_return result;
}

}  // namespace usher::proxy
