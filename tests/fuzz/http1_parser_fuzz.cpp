// Fuzzes the HTTP/1.1 request parser and, for chunked requests, the chunked
// decoder. The first two input bytes choose how the rest is split into reads
// and which limits apply; the rest is the request. Invariants checked: views
// stay inside the buffer, nothing consumes more than it was given, and the
// outcome does not depend on how the bytes were split or on re-parsing.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/chunked_decoder.h"
#include "proxy/http1_parser.h"

namespace {

using usher::proxy::BodyKind;
using usher::proxy::ChunkedDecoder;
using usher::proxy::ChunkedLimits;
using usher::proxy::Http1RequestParser;
using usher::proxy::Limits;
using usher::proxy::ParseResult;
using usher::proxy::ParseStatus;
using usher::proxy::RequestHead;

void check(bool condition) {
  if (!condition) std::abort();
}

/// Small limits reach the limit paths with short inputs.
constexpr Limits kSmallLimits{.max_head_bytes = 256,
                              .max_request_line_bytes = 64,
                              .max_header_count = 8,
                              .max_leading_empty_lines = 1};
constexpr ChunkedLimits kSmallChunkedLimits{.max_chunk_size = 4096,
                                            .max_extension_bytes = 16,
                                            .max_trailer_bytes = 64,
                                            .max_trailer_count = 2};

/// Offset of `view` in `buffer`, checking that it lies inside.
std::size_t offset_in(std::string_view view, std::span<const char> buffer) {
  if (view.empty()) return 0;
  check(view.data() >= buffer.data());
  check(view.data() + view.size() <= buffer.data() + buffer.size());
  return static_cast<std::size_t>(view.data() - buffer.data());
}

/// A head summarised as offsets and values, comparable across buffers.
std::vector<std::size_t> fingerprint(const RequestHead& head, std::span<const char> buffer) {
  std::vector<std::size_t> out = {offset_in(head.method, buffer),
                                  head.method.size(),
                                  offset_in(head.target, buffer),
                                  head.target.size(),
                                  offset_in(head.host, buffer),
                                  head.host.size(),
                                  head.head_bytes,
                                  static_cast<std::size_t>(head.body_kind),
                                  head.content_length,
                                  static_cast<std::size_t>(head.keep_alive),
                                  head.headers.size(),
                                  static_cast<std::size_t>(head.wants_upgrade),
                                  static_cast<std::size_t>(head.version)};
  check(head.head_bytes <= buffer.size());
  if (head.path != "/" || head.target_form != usher::proxy::TargetForm::kAbsolute) {
    offset_in(head.path, buffer);
  }
  for (const auto& field : head.headers) {
    out.push_back(offset_in(field.name, buffer));
    out.push_back(offset_in(field.value, buffer) + field.value.size());
    check(offset_in(field.value, buffer) + field.value.size() <= head.head_bytes);
  }
  return out;
}

struct Outcome {
  ParseResult result;
  std::vector<std::size_t> head;
};

Outcome parse_whole(Http1RequestParser& parser, std::span<const char> input) {
  Outcome out{parser.parse(input), {}};
  if (out.result.status == ParseStatus::kComplete) out.head = fingerprint(parser.head(), input);
  return out;
}

/// Feeds growing prefixes, each copied into a fresh buffer, `step` bytes more each time.
Outcome parse_in_steps(const Limits& limits, std::string_view input, std::size_t step) {
  Http1RequestParser parser(limits);
  Outcome out;
  std::vector<char> buffer;
  for (std::size_t n = std::min(step, input.size());; n = std::min(n + step, input.size())) {
    buffer.assign(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(n));
    out.result = parser.parse(buffer);
    if (out.result.status != ParseStatus::kNeedMore || n == input.size()) break;
  }
  if (out.result.status == ParseStatus::kComplete) out.head = fingerprint(parser.head(), buffer);
  return out;
}

bool same(const Outcome& a, const Outcome& b) {
  return a.result.status == b.result.status && a.result.error == b.result.error &&
         a.result.status_code == b.result.status_code && a.head == b.head;
}

struct Body {
  std::string data;
  std::error_code error;
  bool done = false;
  std::size_t consumed = 0;
};

/// Decodes `input` delivered in reads of `step` bytes (kept, as a connection
/// would, when the decoder stops before their end).
Body decode_in_steps(const ChunkedLimits& limits, std::string_view input, std::size_t step) {
  ChunkedDecoder decoder(limits);
  Body body;
  std::size_t received = 0;
  while (!body.done && !body.error && received < input.size()) {
    received = std::min(received + step, input.size());
    std::span<const char> pending(input.data() + body.consumed, received - body.consumed);
    while (!pending.empty()) {
      const ChunkedDecoder::Step s = decoder.decode(pending);
      check(s.consumed <= pending.size());
      if (!s.data.empty()) {
        check(s.data.data() >= pending.data());
        check(s.data.data() + s.data.size() <= pending.data() + s.consumed);
      }
      body.data.append(s.data.data(), s.data.size());
      body.consumed += s.consumed;
      pending = pending.subspan(s.consumed);
      body.error = s.error;
      body.done = s.done;
      check(!(s.done && s.error));
      if (s.done || s.error || s.consumed == 0) break;
    }
  }
  return body;
}

void fuzz_body(const ChunkedLimits& limits, std::string_view body, std::size_t step) {
  const Body whole = decode_in_steps(limits, body, body.size() + 1);
  const Body split = decode_in_steps(limits, body, step);
  check(whole.consumed <= body.size());
  check(whole.error == split.error && whole.done == split.done);
  check(whole.data == split.data);
  if (whole.done) check(whole.consumed == split.consumed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const std::size_t step = 1 + data[0] % 32;
  const bool small = (data[1] & 1) != 0;
  const Limits limits = small ? kSmallLimits : Limits{};
  const ChunkedLimits chunked_limits = small ? kSmallChunkedLimits : ChunkedLimits{};
  const std::string_view input(reinterpret_cast<const char*>(data + 2), size - 2);
  const std::span<const char> buffer(input.data(), input.size());

  Http1RequestParser parser(limits);
  const Outcome whole = parse_whole(parser, buffer);
  check(same(whole, parse_in_steps(limits, input, step)));
  check((whole.result.status == ParseStatus::kError) == (whole.result.status_code != 0));
  if (whole.result.status != ParseStatus::kComplete) return 0;

  // A finished parser repeats itself; a reset one parses the same bytes the same way.
  check(same(whole, parse_whole(parser, buffer)));
  const RequestHead head = parser.head();
  parser.reset();
  check(same(whole, parse_whole(parser, buffer)));

  if (head.body_kind == BodyKind::kChunked) {
    fuzz_body(chunked_limits, input.substr(head.head_bytes), step);
  }
  return 0;
}
