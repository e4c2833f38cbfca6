#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <system_error>
#include <vector>

#include "proxy/http_error.h"

namespace usher::proxy {

// ---- Character classes ----------------------------------------------------
// One 256-entry table per class, indexed by the byte value, so that every
// validation loop is a load and a test. Bytes >= 0x80 (obs-text) are only
// accepted in field values and quoted strings, as RFC 9110 allows.

/// A byte-indexed membership table.
using CharTable = std::array<bool, 256>;

namespace detail {

template <class Predicate>
constexpr CharTable make_char_table(Predicate predicate) {
  CharTable table{};
  for (int c = 0; c < 256; ++c)
    table[static_cast<std::size_t>(c)] = predicate(c);
  return table;
}

constexpr bool is_alpha(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(int c) {
  return c >= '0' && c <= '9';
}
constexpr bool is_vchar(int c) {
  return c > 0x20 && c < 0x7f;
}
constexpr bool is_one_of(int c, std::string_view set) {
  return set.find(static_cast<char>(c)) != std::string_view::npos;
}

}  // namespace detail

/// tchar (RFC 9110 §5.6.2): methods, header names, transfer codings.
inline constexpr CharTable kTokenChars = detail::make_char_table([](int c) {
  return detail::is_alpha(c) || detail::is_digit(c) || detail::is_one_of(c, "!#$%&'*+-.^_`|~");
});

/// field-vchar, SP and HTAB (RFC 9110 §5.5): the bytes of a field value.
/// NUL, CR, LF, the other controls and DEL are excluded.
inline constexpr CharTable kFieldValueChars = detail::make_char_table(
    [](int c) { return detail::is_vchar(c) || c >= 0x80 || c == ' ' || c == '\t'; });

/// Bytes allowed in a request-target: visible ASCII except `#` (a fragment is
/// never sent, RFC 9112 §3.2) and `\` (some origins read it as `/`, which
/// would let a path slip past prefix routing). Percent signs are checked
/// separately for two hex digits.
inline constexpr CharTable kTargetChars =
    detail::make_char_table([](int c) { return detail::is_vchar(c) && c != '#' && c != '\\'; });

/// reg-name bytes (RFC 3986 §3.2.2: unreserved, sub-delims, `%`) minus `,`,
/// which is syntactically allowed but only ever appears when two Host values
/// were joined.
inline constexpr CharTable kHostChars = detail::make_char_table([](int c) {
  return detail::is_alpha(c) || detail::is_digit(c) || detail::is_one_of(c, "-._~!$&'()*+;=%");
});

/// HEXDIG.
inline constexpr CharTable kHexDigits = detail::make_char_table(
    [](int c) { return detail::is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });

/// qdtext (RFC 9110 §5.6.4): the bytes of a quoted string other than `"` and `\`.
inline constexpr CharTable kQuotedTextChars = detail::make_char_table([](int c) {
  return c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
         (c >= 0x5d && c <= 0x7e) || c >= 0x80;
});

/// Whether `c` belongs to `table`.
inline bool in_class(const CharTable& table, char c) {
  return table[static_cast<unsigned char>(c)];
}

/// Whether `text` is a non-empty token (RFC 9110 §5.6.2).
bool is_token(std::string_view text);

/// ASCII case-insensitive equality, as header names and codings compare.
/// Inline: it runs for every header against every name of interest, and
/// most calls end at the length check.
inline bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const unsigned x = static_cast<unsigned char>(a[i]);
    const unsigned y = static_cast<unsigned char>(b[i]);
    // Equal, or the same ASCII letter in the other case (they differ only in 0x20).
    if (x != y && ((x | 0x20u) != (y | 0x20u) || (x | 0x20u) - 'a' > 'z' - 'a')) return false;
  }
  return true;
}

// ---- The parsed request head ----------------------------------------------

/// One header field; both views point into the parser's input buffer.
struct HeaderField {
  std::string_view name;   // a token, case as received
  std::string_view value;  // without leading and trailing whitespace
};

/// Parses one field line without its CRLF, as it appears in a header or
/// trailer section, with the strict rules of this parser: no leading
/// whitespace (obs-fold), no whitespace before the colon, a token name, a
/// value of field-vchar, SP and HTAB only.
std::error_code parse_field_line(std::string_view line, HeaderField& field);

/// HTTP/1.x minor versions the parser accepts; anything else gets 505.
enum class HttpVersion { kHttp10, kHttp11 };

/// The four request-target forms of RFC 9112 §3.2.
enum class TargetForm {
  kOrigin,     // `/path?query`
  kAbsolute,   // `http://host/path`, sent to proxies
  kAuthority,  // `host:port`, CONNECT only
  kAsterisk,   // `*`, OPTIONS only
};

/// How the request body is delimited (RFC 9112 §6.3).
enum class BodyKind { kNone, kContentLength, kChunked };

/// A parsed request head. Every string_view points into the buffer passed to
/// Http1RequestParser::parse() (or, for `path` of an absolute-form target
/// without a path, to a static "/"): that buffer must stay alive and must not
/// move until the head has been consumed.
struct RequestHead {
  std::string_view method;  // a token, case-sensitive (RFC 9110 §9.1)
  std::string_view target;  // as received
  TargetForm target_form = TargetForm::kOrigin;
  std::string_view path;  // path and query: the target in origin form, the part
                          // after the authority in absolute form, else the target
  HttpVersion version = HttpVersion::kHttp11;
  // Header fields in order of arrival. The vector is kept across reset(), so
  // a connection allocates only while growing to its largest head, not once
  // per request; Limits::max_header_count bounds it.
  std::vector<HeaderField> headers;

  // The authority the request addresses: the target's authority in absolute
  // and authority form, else the Host value; empty for an HTTP/1.0 request
  // without Host.
  std::string_view host;
  BodyKind body_kind = BodyKind::kNone;
  std::uint64_t content_length = 0;  // meaningful for BodyKind::kContentLength
  bool keep_alive = true;            // HTTP/1.1 unless `close`; HTTP/1.0 only with `keep-alive`
  bool wants_upgrade = false;        // HTTP/1.1 with Upgrade and `Connection: upgrade`
  std::string_view upgrade;          // the Upgrade value, when present
  bool expect_continue = false;      // HTTP/1.1 `Expect: 100-continue`
  bool te_trailers = false;          // `TE: trailers`: the client accepts trailers
  std::size_t head_bytes = 0;        // bytes of the head, CRLFs and ignored empty lines included
};

// ---- Limits -----------------------------------------------------------------

/// Bounds memory and work per request head; a request beyond one is rejected
/// before anything is forwarded.
struct Limits {
  // Total bytes up to and including the empty line that ends the head.
  // Bounds the buffer a connection needs (431).
  std::size_t max_head_bytes = 64 * 1024;
  // Bytes of the request line without its CRLF. A target longer than this
  // gets 414, as RFC 9112 §3 asks; most origins refuse far shorter URIs.
  std::size_t max_request_line_bytes = 8 * 1024;
  // Header field lines; bounds the headers vector and the validation work (431).
  std::size_t max_header_count = 100;
  // Empty lines tolerated before the request line. RFC 9112 §2.2 asks to
  // ignore at least one (clients that add CRLF after a body); more is noise.
  std::size_t max_leading_empty_lines = 4;
};

/// What one call to Http1RequestParser::parse() found.
enum class ParseStatus { kComplete, kNeedMore, kError };

/// The outcome of a parse: on kError, `error` (of http_category()) says why
/// and `status_code` is the response to send before closing the connection.
struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::error_code error;
  int status_code = 0;  // 400, 414, 417, 431, 501 or 505 on kError; else 0
};

/// A strict, incremental, zero-copy HTTP/1.1 request-head parser (RFC 9112).
///
/// Feed it the connection's buffer from the first byte of the request; when
/// it answers kNeedMore, read more and call parse() again with the grown
/// buffer (which may have moved, as long as it starts with the same bytes).
/// Scanning resumes where the previous call stopped. On kComplete, head()
/// holds views into the last buffer passed and head().head_bytes says where
/// the body (or the next pipelined request) starts. Anything ambiguous is an
/// error: this strictness is the proxy's defence against request smuggling.
///
/// Choices where RFC 9112 leaves room, all on the strict side:
/// - bare LF and bare CR end nothing: both are rejected (400);
/// - up to Limits::max_leading_empty_lines CRLFs before the request line are skipped;
/// - only HTTP/1.0 and HTTP/1.1 are served; HTTP/1.2 or HTTP/2.0 get 505;
/// - identical Content-Length values (repeated, or `5, 5`) are merged; differing ones rejected;
/// - Transfer-Encoding must end in one `chunked`; codings before it get 501,
///   anything else (chunked not last, twice, absent, with parameters) 400;
/// - a Host that differs from an absolute or authority target is rejected
///   rather than ignored; `,` is not accepted in Host;
/// - `Content_Length` / `Transfer_Encoding` spellings, and a Connection
///   header naming Content-Length, Transfer-Encoding or Host, are rejected.
class Http1RequestParser {
 public:
  explicit Http1RequestParser(Limits limits = {});

  /// Parses as much of the head as `buffer` holds. After kComplete or kError,
  /// further calls return the same result until reset().
  ParseResult parse(std::span<const char> buffer);

  /// The parsed head; valid after parse() returned kComplete.
  const RequestHead& head() const { return head_; }

  /// Prepares for the next request on the same connection, keeping the
  /// capacity of the header vector.
  void reset();

 private:
  std::error_code on_line(std::size_t start, std::size_t cr);
  ParseResult incomplete(std::size_t window, std::size_t size);
  ParseResult finish(std::span<const char> head);
  ParseResult fail(std::error_code ec);

  Limits limits_;
  RequestHead head_;
  ParseResult result_;
  bool finished_ = false;
  // Scan state, as offsets so that the buffer may move between calls.
  std::size_t scan_pos_ = 0;      // next byte to search for LF
  std::size_t line_start_ = 0;    // first byte of the current line
  std::size_t request_line_ = 0;  // first byte of the request line
  std::size_t head_end_ = 0;      // one past the final CRLF, 0 until found
  std::size_t empty_lines_ = 0;   // empty lines before the request line
  std::size_t header_lines_ = 0;  // field lines seen so far
  bool have_request_line_ = false;
};

}  // namespace usher::proxy
