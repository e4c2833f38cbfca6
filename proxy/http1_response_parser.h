#pragma once

// The strict parser of upstream response heads (RFC 9112 §4 and §6.3). The
// proxy forwards what an upstream says to clients it does not control, so
// an ambiguous response (two framings, differing lengths, bare line feeds)
// is refused with a 502 instead of being guessed at.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "proxy/http1_parser.h"

namespace usher::proxy {

/// Why an upstream exchange failed on the upstream's side. Values carry
/// lowercase messages through upstream_category().
enum class upstream_errc {
  kHeadTooLarge = 1,                   // the response head exceeds the limit
  kTooManyHeaders,                     // more header fields than the limit
  kBareLf,                             // a line ended in LF without CR
  kInvalidStatusLine,                  // not `HTTP/1.x DDD reason`
  kUnsupportedVersion,                 // HTTP/2 or later on an HTTP/1 connection
  kInvalidContentLength,               // not a decimal number, or too large
  kConflictingContentLength,           // several Content-Length values that differ
  kContentLengthWithTransferEncoding,  // both framings at once (RFC 9112 §6.3)
  kTransferEncodingInHttp10,           // HTTP/1.0 has no transfer codings
  kClosedBeforeResponse,               // the connection ended before a complete head
  kClosedMidBody,                      // the connection ended before the body did
  kInvalidChunkedBody,                 // the chunked framing of the body is malformed
  kNoUpstreamAvailable,                // every upstream is down
  kUnexpectedSwitch,                   // 101 to a request that asked for no upgrade
};

/// The category of upstream_errc; its name is "upstream".
const std::error_category& upstream_category() noexcept;

/// Makes std::error_code{upstream_errc::kX} work.
std::error_code make_error_code(upstream_errc e) noexcept;

/// How the body of a response is delimited (RFC 9112 §6.3).
enum class ResponseFraming {
  kNone,           // 1xx, 101, 204, 304, or the answer to HEAD
  kContentLength,  // exactly content_length bytes
  kChunked,        // chunked transfer coding
  kUntilClose,     // the body ends when the connection does
};

/// A parsed response head. The views point into the buffer given to
/// Http1ResponseParser::parse(), which must stay unchanged while they are used.
struct ResponseHeadView {
  HttpVersion version = HttpVersion::kHttp11;
  int status = 0;
  std::string_view reason;
  std::vector<HeaderField> headers;  // in order, framing headers included
  ResponseFraming framing = ResponseFraming::kNone;
  // The declared Content-Length when one was sent (also for HEAD and 304,
  // which declare the length of a body they do not carry).
  bool has_content_length = false;
  uint64_t content_length = 0;
  bool keep_alive = true;    // the connection may carry another request afterwards
  std::string_view upgrade;  // the Upgrade value of a 101
  size_t head_bytes = 0;     // bytes of the head including the final CRLF
};

/// Bounds on a response head; bounds memory per upstream exchange.
struct ResponseLimits {
  // Largest head accepted, CRLFs included; larger heads are refused (502).
  size_t max_head_bytes = 64 * 1024;
  // Largest number of header fields.
  size_t max_header_count = 200;
};

/// An incremental parser of one HTTP/1.x response head. Call parse() with
/// everything received so far (the buffer may grow or move between calls as
/// long as it starts with the same bytes); kNeedMore asks for more bytes.
class Http1ResponseParser {
 public:
  explicit Http1ResponseParser(ResponseLimits limits = {});

  /// Prepares for a new response; `head_request` says whether the request
  /// was HEAD, whose responses never carry a body (RFC 9110 §9.3.2).
  void reset(bool head_request);

  /// Parses as much as `buffer` holds. On kError, `error` says why.
  ParseStatus parse(std::span<const char> buffer, std::error_code& error);

  /// The parsed head; valid after kComplete.
  const ResponseHeadView& head() const { return head_; }

 private:
  std::error_code parse_head(std::string_view text);
  std::error_code parse_status_line(std::string_view line);

  ResponseLimits limits_;
  ResponseHeadView head_;
  bool head_request_ = false;
  size_t scan_pos_ = 0;    // next byte to look at for LF
  size_t line_start_ = 0;  // first byte of the current line
  size_t lines_ = 0;
};

}  // namespace usher::proxy

template <>
struct std::is_error_code_enum<usher::proxy::upstream_errc> : std::true_type {};
