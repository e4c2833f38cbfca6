#include "proxy/http1_parser.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

namespace usher::proxy {
namespace {

/// The largest Content-Length accepted: it must fit the signed 64-bit offsets
/// that sockets and files use, so that no later arithmetic overflows.
constexpr std::uint64_t kMaxContentLength =
    static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

/// Largest TCP port, for authority validation.
constexpr std::uint32_t kMaxPort = 65535;

bool is_whitespace(char c) {
  return c == ' ' || c == '\t';
}

char to_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
}

std::string_view trim(std::string_view text) {
  // Plain loops: find_first_not_of() with a set was a visible share of the
  // cost of every header field.
  std::size_t first = 0;
  std::size_t end = text.size();
  while (first < end && is_whitespace(text[first]))
    ++first;
  while (end > first && is_whitespace(text[end - 1]))
    --end;
  return text.substr(first, end - first);
}

/// Calls `element(text)` for each trimmed, non-empty element of a
/// comma-separated list (RFC 9110 §5.6.1: empty elements are ignored); stops
/// at the first error the callback returns.
template <class Callback>
std::error_code for_each_element(std::string_view list, Callback element) {
  while (true) {
    const std::size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) {
      if (std::error_code ec = element(item)) return ec;
    }
    if (comma == std::string_view::npos) return {};
    list.remove_prefix(comma + 1);
  }
}

bool all_of_class(std::string_view text, const CharTable& table) {
  return std::all_of(text.begin(), text.end(), [&](char c) { return in_class(table, c); });
}

/// Every `%` is followed by two hex digits (RFC 3986 §2.1); a malformed
/// escape is decoded differently by different origins.
bool valid_percent_escapes(std::string_view text) {
  for (std::size_t i = text.find('%'); i != std::string_view::npos; i = text.find('%', i + 1)) {
    if (i + 2 >= text.size()) return false;
    if (!in_class(kHexDigits, text[i + 1]) || !in_class(kHexDigits, text[i + 2])) return false;
  }
  return true;
}

bool valid_port(std::string_view digits) {
  if (digits.empty() || digits.size() > 5) return false;
  std::uint32_t port = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    port = port * 10 + static_cast<std::uint32_t>(c - '0');
  }
  return port <= kMaxPort;
}

/// Validates `host [":" port]` (RFC 3986 §3.2.2, without userinfo): a
/// bracketed IPv6 literal or a reg-name, then an optional port, required when
/// `require_port` (CONNECT, RFC 9110 §9.3.6).
bool valid_authority(std::string_view authority, bool require_port) {
  std::string_view rest;
  if (!authority.empty() && authority.front() == '[') {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    const std::string_view literal = authority.substr(1, close - 1);
    const bool ok = std::all_of(literal.begin(), literal.end(), [](char c) {
      return in_class(kHexDigits, c) || c == ':' || c == '.';
    });
    if (!ok) return false;
    rest = authority.substr(close + 1);
  } else {
    const std::size_t colon = authority.find(':');
    const std::string_view name = authority.substr(0, colon);
    if (name.empty() || !all_of_class(name, kHostChars) || !valid_percent_escapes(name)) {
      return false;
    }
    rest = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
  }
  if (rest.empty()) return !require_port;
  return rest.front() == ':' && valid_port(rest.substr(1));
}

bool valid_path_and_query(std::string_view text) {
  return all_of_class(text, kTargetChars) && valid_percent_escapes(text);
}

// ---- The request line --------------------------------------------------------

/// `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3); only 1.0 and 1.1 are served.
std::error_code parse_version(std::string_view text, HttpVersion& version) {
  constexpr std::string_view kPrefix = "HTTP/";
  const bool well_formed = text.size() == kPrefix.size() + 3 && text.starts_with(kPrefix) &&
                           detail::is_digit(text[5]) && text[6] == '.' && detail::is_digit(text[7]);
  if (!well_formed) return http_errc::kInvalidVersion;
  if (text == "HTTP/1.1") {
    version = HttpVersion::kHttp11;
  } else if (text == "HTTP/1.0") {
    version = HttpVersion::kHttp10;
  } else {
    return http_errc::kUnsupportedVersion;
  }
  return {};
}

/// Splits an absolute-form target into authority and path (RFC 9112 §3.2.2).
/// Only the http and https schemes are proxied.
std::error_code parse_absolute_form(RequestHead& head) {
  constexpr std::array<std::string_view, 2> kSchemes = {"http://", "https://"};
  const std::string_view target = head.target;
  for (std::string_view scheme : kSchemes) {
    if (target.size() < scheme.size() || !iequals(target.substr(0, scheme.size()), scheme)) {
      continue;
    }
    const std::string_view rest = target.substr(scheme.size());
    const std::size_t path_start = rest.find_first_of("/?");
    head.host = rest.substr(0, path_start);
    head.path =
        path_start == std::string_view::npos ? std::string_view("/") : rest.substr(path_start);
    if (!valid_authority(head.host, false) || !valid_path_and_query(head.path)) {
      return http_errc::kInvalidTarget;
    }
    head.target_form = TargetForm::kAbsolute;
    return {};
  }
  return http_errc::kInvalidTarget;
}

/// Classifies and validates the request-target against the method
/// (RFC 9112 §3.2): authority form only with CONNECT, asterisk only with OPTIONS.
std::error_code parse_target(RequestHead& head) {
  const std::string_view target = head.target;
  const bool connect = head.method == "CONNECT";
  head.path = target;
  if (target == "*") {
    head.target_form = TargetForm::kAsterisk;
    return head.method == "OPTIONS" ? std::error_code{} : http_errc::kTargetFormMismatch;
  }
  if (!all_of_class(target, kTargetChars)) return http_errc::kInvalidTarget;
  if (connect) {
    if (target.front() == '/') return http_errc::kTargetFormMismatch;
    if (!valid_authority(target, true)) return http_errc::kInvalidTarget;
    head.target_form = TargetForm::kAuthority;
    head.host = target;
    return {};
  }
  if (target.front() == '/') {
    head.target_form = TargetForm::kOrigin;
    return valid_percent_escapes(target) ? std::error_code{} : http_errc::kInvalidTarget;
  }
  return parse_absolute_form(head);
}

/// method SP request-target SP HTTP-version, single spaces only (RFC 9112 §3).
std::error_code parse_request_line(std::string_view line, RequestHead& head) {
  // Lines end only at CRLF; a lone CR would end the line for some peers.
  if (line.find('\r') != std::string_view::npos) return http_errc::kBareCr;
  const std::size_t first_space = line.find(' ');
  const std::size_t last_space = line.rfind(' ');
  if (first_space == std::string_view::npos || first_space == last_space) {
    return http_errc::kInvalidRequestLine;
  }
  head.method = line.substr(0, first_space);
  if (!is_token(head.method)) return http_errc::kInvalidMethod;
  head.target = line.substr(first_space + 1, last_space - first_space - 1);
  if (head.target.empty()) return http_errc::kInvalidRequestLine;
  if (std::error_code ec = parse_version(line.substr(last_space + 1), head.version)) return ec;
  return parse_target(head);
}

// ---- Header fields the proxy acts on ----------------------------------------------

/// What the field pass has seen so far; turned into framing by finalize().
struct FieldState {
  std::size_t host_count = 0;
  std::string_view host_value;
  bool has_content_length = false;
  std::uint64_t content_length = 0;
  bool has_transfer_encoding = false;
  std::size_t chunked_count = 0;
  bool chunked_last = false;
  bool other_coding = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
  bool connection_upgrade = false;
  std::size_t upgrade_count = 0;
  std::string_view upgrade;
  bool expect_continue = false;
  bool te_trailers = false;
};

/// Accepts 1*DIGIT and lists of identical values (`5, 5`), which RFC 9110
/// §8.6 lets a recipient merge; no sign, no empty element, no overflow.
std::error_code on_content_length(std::string_view value, FieldState& state) {
  std::string_view rest = value;
  while (true) {
    const std::size_t comma = rest.find(',');
    const std::string_view digits = trim(rest.substr(0, comma));
    if (digits.empty() || digits.size() > 19) return http_errc::kInvalidContentLength;
    std::uint64_t length = 0;
    for (char c : digits) {
      if (c < '0' || c > '9') return http_errc::kInvalidContentLength;
      length = length * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (length > kMaxContentLength) return http_errc::kInvalidContentLength;
    if (state.has_content_length && length != state.content_length) {
      return http_errc::kConflictingContentLength;
    }
    state.has_content_length = true;
    state.content_length = length;
    if (comma == std::string_view::npos) return {};
    rest.remove_prefix(comma + 1);
  }
}

/// Records the codings in order, across repeated fields; finalize() decides.
/// Codings with parameters are not accepted: none is defined for requests.
std::error_code on_transfer_encoding(std::string_view value, FieldState& state) {
  state.has_transfer_encoding = true;
  return for_each_element(value, [&](std::string_view coding) -> std::error_code {
    if (!is_token(coding)) return http_errc::kInvalidTransferEncoding;
    const bool chunked = iequals(coding, "chunked");
    state.chunked_count += chunked ? 1 : 0;
    state.other_coding = state.other_coding || !chunked;
    state.chunked_last = chunked;
    return {};
  });
}

/// The framing and routing fields a Connection header could make the proxy
/// strip as hop-by-hop, changing how the origin reads the request.
bool names_framing_field(std::string_view token) {
  return iequals(token, "content-length") || iequals(token, "transfer-encoding") ||
         iequals(token, "host");
}

std::error_code on_connection(std::string_view value, FieldState& state) {
  return for_each_element(value, [&](std::string_view option) -> std::error_code {
    if (!is_token(option) || names_framing_field(option)) return http_errc::kInvalidConnection;
    state.connection_close = state.connection_close || iequals(option, "close");
    state.connection_keep_alive = state.connection_keep_alive || iequals(option, "keep-alive");
    state.connection_upgrade = state.connection_upgrade || iequals(option, "upgrade");
    return {};
  });
}

std::error_code on_host(std::string_view value, FieldState& state) {
  if (++state.host_count > 1) return http_errc::kDuplicateHost;
  // RFC 9112 §3.2: an empty Host is valid when the target has no authority.
  if (!value.empty() && !valid_authority(value, false)) return http_errc::kInvalidHost;
  state.host_value = value;
  return {};
}

std::error_code on_upgrade(std::string_view value, FieldState& state) {
  if (++state.upgrade_count > 1) return http_errc::kDuplicateUpgrade;
  state.upgrade = value;
  return {};
}

/// RFC 9110 §10.1.1: 100-continue is the only expectation defined.
std::error_code on_expect(std::string_view value, FieldState& state) {
  return for_each_element(value, [&](std::string_view expectation) -> std::error_code {
    if (!iequals(expectation, "100-continue")) return http_errc::kUnsupportedExpectation;
    state.expect_continue = true;
    return {};
  });
}

std::error_code on_te(std::string_view value, FieldState& state) {
  return for_each_element(value, [&](std::string_view coding) -> std::error_code {
    state.te_trailers =
        state.te_trailers || iequals(trim(coding.substr(0, coding.find(';'))), "trailers");
    return {};
  });
}

/// The fields recognised during the single pass over the head.
struct KnownField {
  std::string_view name;
  std::error_code (*handle)(std::string_view value, FieldState& state);
};

constexpr std::array kKnownFields = {
    KnownField{"host", on_host},
    KnownField{"content-length", on_content_length},
    KnownField{"transfer-encoding", on_transfer_encoding},
    KnownField{"connection", on_connection},
    KnownField{"upgrade", on_upgrade},
    KnownField{"expect", on_expect},
    KnownField{"te", on_te},
};

/// Names that differ from a framing field only by `_` for `-`: CGI-style
/// origins map both spellings to one variable, so such a field could carry a
/// second, hidden length.
bool is_disguised_framing_field(std::string_view name) {
  constexpr std::array<std::string_view, 2> kFraming = {"content-length", "transfer-encoding"};
  if (name.find('_') == std::string_view::npos) return false;
  return std::any_of(kFraming.begin(), kFraming.end(), [&](std::string_view framing) {
    if (framing.size() != name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i] == '_' ? '-' : to_lower(name[i]);
      if (c != framing[i]) return false;
    }
    return true;
  });
}

std::error_code on_field(const HeaderField& field, FieldState& state) {
  if (is_disguised_framing_field(field.name)) return http_errc::kAmbiguousHeaderName;
  for (const KnownField& known : kKnownFields) {
    if (iequals(field.name, known.name)) return known.handle(field.value, state);
  }
  return {};
}

/// RFC 9112 §6.1 and §6.3: Transfer-Encoding must end in exactly one chunked,
/// may not come with Content-Length, and needs HTTP/1.1.
std::error_code decide_framing(const FieldState& state, RequestHead& head) {
  if (!state.has_transfer_encoding) {
    head.body_kind = state.has_content_length ? BodyKind::kContentLength : BodyKind::kNone;
    head.content_length = state.content_length;
    return {};
  }
  if (head.version == HttpVersion::kHttp10) return http_errc::kTransferEncodingInHttp10;
  if (state.has_content_length) return http_errc::kContentLengthWithTransferEncoding;
  if (state.chunked_count == 0 && !state.other_coding) return http_errc::kInvalidTransferEncoding;
  if (state.chunked_count != 1 || !state.chunked_last) return http_errc::kChunkedNotFinal;
  if (state.other_coding) return http_errc::kUnsupportedTransferCoding;
  head.body_kind = BodyKind::kChunked;
  return {};
}

/// Host is required in HTTP/1.1 (RFC 9112 §3.2) and must match the target's
/// authority when there is one. RFC 9112 §3.2.2 says to ignore Host then; we
/// reject a mismatch instead, so that no hop can pick the other name.
std::error_code decide_host(const FieldState& state, RequestHead& head) {
  if (state.host_count == 0) {
    return head.version == HttpVersion::kHttp11 ? http_errc::kMissingHost : std::error_code{};
  }
  const bool has_authority =
      head.target_form == TargetForm::kAbsolute || head.target_form == TargetForm::kAuthority;
  if (has_authority) {
    return iequals(state.host_value, head.host) ? std::error_code{} : http_errc::kHostMismatch;
  }
  head.host = state.host_value;
  return {};
}

/// RFC 9112 §9.3: persistence defaults by version; RFC 9110 §7.8: Upgrade
/// needs `Connection: upgrade` and is ignored in HTTP/1.0.
void decide_connection(const FieldState& state, RequestHead& head) {
  const bool http11 = head.version == HttpVersion::kHttp11;
  head.keep_alive = !state.connection_close && (http11 || state.connection_keep_alive);
  head.upgrade = state.upgrade;
  head.wants_upgrade = http11 && state.connection_upgrade && state.upgrade_count > 0;
  head.expect_continue = http11 && state.expect_continue;
  head.te_trailers = state.te_trailers;
}

std::error_code decide(const FieldState& state, RequestHead& head) {
  if (std::error_code ec = decide_host(state, head)) return ec;
  if (std::error_code ec = decide_framing(state, head)) return ec;
  decide_connection(state, head);
  return {};
}

}  // namespace

bool is_token(std::string_view text) {
  return !text.empty() && all_of_class(text, kTokenChars);
}

std::error_code parse_field_line(std::string_view line, HeaderField& field) {
  if (line.empty() || is_whitespace(line.front())) return http_errc::kObsFold;
  // Lines end only at CRLF; a lone CR would end the line for some peers.
  if (line.find('\r') != std::string_view::npos) return http_errc::kBareCr;
  std::size_t i = 0;
  while (i < line.size() && in_class(kTokenChars, line[i]))
    ++i;
  if (i == line.size()) return http_errc::kMissingColon;
  if (line[i] != ':') {
    // RFC 9112 §5.1: whitespace before the colon MUST be rejected.
    return is_whitespace(line[i]) ? http_errc::kWhitespaceBeforeColon
                                  : http_errc::kInvalidHeaderName;
  }
  if (i == 0) return http_errc::kInvalidHeaderName;
  field.name = line.substr(0, i);
  field.value = trim(line.substr(i + 1));
  return all_of_class(field.value, kFieldValueChars) ? std::error_code{}
                                                     : http_errc::kInvalidHeaderValue;
}

Http1RequestParser::Http1RequestParser(Limits limits) : limits_(limits) {}

void Http1RequestParser::reset() {
  std::vector<HeaderField> headers = std::move(head_.headers);
  headers.clear();
  head_ = RequestHead{};
  head_.headers = std::move(headers);
  result_ = ParseResult{};
  finished_ = false;
  scan_pos_ = line_start_ = request_line_ = head_end_ = 0;
  empty_lines_ = header_lines_ = 0;
  have_request_line_ = false;
}

ParseResult Http1RequestParser::parse(std::span<const char> buffer) {
  if (finished_) return result_;
  // Never look past the head limit: a head must end within it.
  const std::size_t window = std::min(buffer.size(), limits_.max_head_bytes);
  const char* data = buffer.data();
  while (scan_pos_ < window) {
    const void* found = std::memchr(data + scan_pos_, '\n', window - scan_pos_);
    if (found == nullptr) {
      scan_pos_ = window;
      break;
    }
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(found) - data);
    scan_pos_ = lf + 1;
    // Length first, so that a long line fails the same way whether or not
    // its end has arrived yet.
    if (!have_request_line_ && lf - line_start_ > limits_.max_request_line_bytes + 1) {
      return fail(http_errc::kRequestLineTooLong);
    }
    // RFC 9112 §2.2 lets a recipient accept a bare LF; a proxy that did would
    // read lines differently from an origin that does not.
    if (lf == line_start_ || data[lf - 1] != '\r') return fail(http_errc::kBareLf);
    if (std::error_code ec = on_line(line_start_, lf - 1)) return fail(ec);
    line_start_ = lf + 1;
    if (head_end_ != 0) return finish(buffer.first(head_end_));
  }
  return incomplete(window, buffer.size());
}

std::error_code Http1RequestParser::on_line(std::size_t start, std::size_t cr) {
  if (!have_request_line_) {
    if (cr == start) {
      // RFC 9112 §2.2: ignore a few empty lines before the request line.
      return ++empty_lines_ > limits_.max_leading_empty_lines ? http_errc::kTooManyEmptyLines
                                                              : std::error_code{};
    }
    have_request_line_ = true;
    request_line_ = start;
    return {};
  }
  if (cr == start) {
    head_end_ = cr + 2;
    return {};
  }
  return ++header_lines_ > limits_.max_header_count ? http_errc::kTooManyHeaders
                                                    : std::error_code{};
}

ParseResult Http1RequestParser::incomplete(std::size_t window, std::size_t size) {
  // The bytes since line_start_ hold no LF; at most the last one is a CR.
  const std::size_t pending = window - std::min(window, line_start_);
  if (!have_request_line_ && pending > limits_.max_request_line_bytes + 1) {
    return fail(http_errc::kRequestLineTooLong);
  }
  if (size >= limits_.max_head_bytes) return fail(http_errc::kHeadTooLarge);
  return ParseResult{};
}

ParseResult Http1RequestParser::finish(std::span<const char> head) {
  const std::string_view text(head.data(), head.size());
  const std::size_t line_end = text.find("\r\n", request_line_);
  if (std::error_code ec =
          parse_request_line(text.substr(request_line_, line_end - request_line_), head_)) {
    return fail(ec);
  }
  FieldState state;
  std::size_t pos = line_end + 2;
  while (pos < head.size() - 2) {
    const std::size_t end = text.find("\r\n", pos);
    HeaderField field;
    if (std::error_code ec = parse_field_line(text.substr(pos, end - pos), field)) return fail(ec);
    if (std::error_code ec = on_field(field, state)) return fail(ec);
    head_.headers.push_back(field);
    pos = end + 2;
  }
  if (std::error_code ec = decide(state, head_)) return fail(ec);
  head_.head_bytes = head.size();
  finished_ = true;
  result_ = ParseResult{ParseStatus::kComplete, {}, 0};
  return result_;
}

ParseResult Http1RequestParser::fail(std::error_code ec) {
  finished_ = true;
  result_ = ParseResult{ParseStatus::kError, ec, http_status(ec)};
  return result_;
}

}  // namespace usher::proxy
