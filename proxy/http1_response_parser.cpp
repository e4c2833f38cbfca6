#include "proxy/http1_response_parser.h"

#include <array>
#include <charconv>
#include <cstring>
#include <limits>
#include <string>

#include "proxy/http1_writer.h"

namespace usher::proxy {
namespace {

/// The largest Content-Length accepted: within signed 64-bit offsets, so no
/// later sum overflows.
constexpr uint64_t kMaxContentLength = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());

struct ErrorRow {
  upstream_errc code;
  std::string_view message;
};

constexpr std::array kErrorMessages{
    ErrorRow{upstream_errc::kHeadTooLarge, "upstream response head too large"},
    ErrorRow{upstream_errc::kTooManyHeaders, "too many header fields in upstream response"},
    ErrorRow{upstream_errc::kBareLf, "bare line feed in upstream response head"},
    ErrorRow{upstream_errc::kInvalidStatusLine, "invalid upstream status line"},
    ErrorRow{upstream_errc::kUnsupportedVersion, "unsupported upstream http version"},
    ErrorRow{upstream_errc::kInvalidContentLength, "invalid content-length from upstream"},
    ErrorRow{upstream_errc::kConflictingContentLength,
             "conflicting content-length values from upstream"},
    ErrorRow{upstream_errc::kContentLengthWithTransferEncoding,
             "upstream sent both content-length and transfer-encoding"},
    ErrorRow{upstream_errc::kTransferEncodingInHttp10,
             "upstream sent transfer-encoding in an http/1.0 response"},
    ErrorRow{upstream_errc::kClosedBeforeResponse,
             "upstream closed the connection before responding"},
    ErrorRow{upstream_errc::kClosedMidBody, "upstream closed the connection mid-body"},
    ErrorRow{upstream_errc::kInvalidChunkedBody, "invalid chunked body from upstream"},
    ErrorRow{upstream_errc::kNoUpstreamAvailable, "no upstream available"},
    ErrorRow{upstream_errc::kUnexpectedSwitch, "upstream switched protocols unasked"},
};

class UpstreamCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "upstream"; }
  std::string message(int value) const override {
    for (const auto& row : kErrorMessages)
      if (static_cast<int>(row.code) == value) return std::string(row.message);
    return "unknown upstream error";
  }
};

constexpr std::string_view kWhitespace = " \t";

std::string_view trim(std::string_view text) {
  const size_t first = text.find_first_not_of(kWhitespace);
  if (first == std::string_view::npos) return {};
  return text.substr(first, text.find_last_not_of(kWhitespace) - first + 1);
}

/// Calls `element` for each trimmed, non-empty element of a comma list.
template <class Callback>
std::error_code for_each_element(std::string_view list, Callback element) {
  while (true) {
    const size_t comma = list.find(',');
    const std::string_view item = trim(list.substr(0, comma));
    if (!item.empty()) {
      if (std::error_code ec = element(item)) return ec;
    }
    if (comma == std::string_view::npos) return {};
    list.remove_prefix(comma + 1);
  }
}

bool parse_decimal(std::string_view text, uint64_t& value) {
  if (text.empty()) return false;
  for (char c : text)
    if (c < '0' || c > '9') return false;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return ec == std::errc() && end == text.data() + text.size() && value <= kMaxContentLength;
}

/// What the framing headers said while the fields were read.
struct FramingState {
  bool content_length_seen = false;
  uint64_t content_length = 0;
  bool transfer_encoding_seen = false;
  bool chunked_last = false;
  bool connection_close = false;
  bool connection_keep_alive = false;
};

std::error_code on_content_length(std::string_view value, FramingState& state) {
  // RFC 9110 §8.6: a list of identical values may be taken as one value.
  return for_each_element(value, [&](std::string_view item) -> std::error_code {
    uint64_t length = 0;
    if (!parse_decimal(item, length)) return upstream_errc::kInvalidContentLength;
    if (state.content_length_seen && length != state.content_length)
      return upstream_errc::kConflictingContentLength;
    state.content_length_seen = true;
    state.content_length = length;
    return {};
  });
}

std::error_code on_transfer_encoding(std::string_view value, FramingState& state) {
  state.transfer_encoding_seen = true;
  return for_each_element(value, [&](std::string_view item) -> std::error_code {
    state.chunked_last = iequals(item, "chunked");
    return {};
  });
}

std::error_code on_connection(std::string_view value, FramingState& state) {
  return for_each_element(value, [&](std::string_view item) -> std::error_code {
    if (iequals(item, "close")) state.connection_close = true;
    if (iequals(item, "keep-alive")) state.connection_keep_alive = true;
    return {};
  });
}

using FieldHandler = std::error_code (*)(std::string_view value, FramingState& state);

struct FieldRow {
  std::string_view name;
  FieldHandler handler;
};

/// The header fields that decide framing and connection reuse.
constexpr std::array kFramingFields{
    FieldRow{"content-length", on_content_length},
    FieldRow{"transfer-encoding", on_transfer_encoding},
    FieldRow{"connection", on_connection},
};

std::error_code on_field(const HeaderField& field, FramingState& state) {
  for (const auto& row : kFramingFields)
    if (iequals(field.name, row.name)) return row.handler(field.value, state);
  return {};
}

bool is_reason_char(char c) {
  return c == '\t' || c == ' ' || in_class(kFieldValueChars, c);
}

}  // namespace

const std::error_category& upstream_category() noexcept {
  static const UpstreamCategory category;
  return category;
}

std::error_code make_error_code(upstream_errc e) noexcept {
  return {static_cast<int>(e), upstream_category()};
}

Http1ResponseParser::Http1ResponseParser(ResponseLimits limits) : limits_(limits) {}

void Http1ResponseParser::reset(bool head_request) {
  std::vector<HeaderField> headers = std::move(head_.headers);
  headers.clear();
  head_ = ResponseHeadView{};
  head_.headers = std::move(headers);
  head_request_ = head_request;
  scan_pos_ = line_start_ = lines_ = 0;
}

ParseStatus Http1ResponseParser::parse(std::span<const char> buffer, std::error_code& error) {
  const size_t limit = std::min(buffer.size(), limits_.max_head_bytes);
  while (scan_pos_ < limit) {
    const void* found = std::memchr(buffer.data() + scan_pos_, '\n', limit - scan_pos_);
    if (found == nullptr) break;
    const size_t lf = static_cast<size_t>(static_cast<const char*>(found) - buffer.data());
    // RFC 9112 §2.2 lets a recipient accept a bare LF; a proxy that did
    // would read the head differently from peers that do not.
    if (lf == line_start_ || buffer[lf - 1] != '\r') {
      error = upstream_errc::kBareLf;
      return ParseStatus::kError;
    }
    const bool empty_line = lf - 1 == line_start_;
    scan_pos_ = line_start_ = lf + 1;
    if (empty_line) {
      // A response starts with its status line; an empty line first is junk.
      error = lines_ == 0 ? std::error_code(upstream_errc::kInvalidStatusLine)
                          : parse_head(std::string_view(buffer.data(), lf + 1));
      return error ? ParseStatus::kError : ParseStatus::kComplete;
    }
    if (++lines_ > limits_.max_header_count + 1) {
      error = upstream_errc::kTooManyHeaders;
      return ParseStatus::kError;
    }
  }
  scan_pos_ = limit;
  if (buffer.size() >= limits_.max_head_bytes) {
    error = upstream_errc::kHeadTooLarge;
    return ParseStatus::kError;
  }
  return ParseStatus::kNeedMore;
}

std::error_code Http1ResponseParser::parse_status_line(std::string_view line) {
  // status-line = HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 §4)
  constexpr std::string_view kPrefix = "HTTP/";
  if (line.size() < 12 || line.substr(0, 5) != kPrefix) return upstream_errc::kInvalidStatusLine;
  if (line[5] != '1' || line[6] != '.') {
    return line[5] >= '2' && line[5] <= '9' ? upstream_errc::kUnsupportedVersion
                                            : upstream_errc::kInvalidStatusLine;
  }
  if (line[7] == '0') {
    head_.version = HttpVersion::kHttp10;
  } else if (line[7] == '1') {
    head_.version = HttpVersion::kHttp11;
  } else {
    return upstream_errc::kUnsupportedVersion;
  }
  if (line[8] != ' ') return upstream_errc::kInvalidStatusLine;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return upstream_errc::kInvalidStatusLine;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100) return upstream_errc::kInvalidStatusLine;
  head_.status = status;
  // Some servers omit the space before an empty reason; accept that.
  if (line.size() == 12) return {};
  if (line[12] != ' ') return upstream_errc::kInvalidStatusLine;
  head_.reason = line.substr(13);
  for (char c : head_.reason)
    if (!is_reason_char(c)) return upstream_errc::kInvalidStatusLine;
  return {};
}

std::error_code Http1ResponseParser::parse_head(std::string_view text) {
  size_t end = text.find("\r\n");
  if (std::error_code ec = parse_status_line(text.substr(0, end))) return ec;
  FramingState state;
  // One allocation for the fields (parse() counted the lines), not one per
  // doubling.
  head_.headers.reserve(lines_);
  size_t pos = end + 2;
  while (pos + 2 < text.size()) {
    end = text.find("\r\n", pos);
    HeaderField field;
    if (std::error_code ec = parse_field_line(text.substr(pos, end - pos), field)) return ec;
    if (std::error_code ec = on_field(field, state)) return ec;
    if (iequals(field.name, "upgrade")) head_.upgrade = field.value;
    head_.headers.push_back(field);
    pos = end + 2;
  }
  head_.head_bytes = text.size();
  head_.has_content_length = state.content_length_seen;
  head_.content_length = state.content_length;
  // RFC 9112 §6.3 lets Transfer-Encoding override Content-Length, but a
  // message with both may have been framed differently by someone on the
  // way: refusing it is the only answer that cannot be smuggled through.
  if (state.content_length_seen && state.transfer_encoding_seen)
    return upstream_errc::kContentLengthWithTransferEncoding;
  if (state.transfer_encoding_seen && head_.version == HttpVersion::kHttp10)
    return upstream_errc::kTransferEncodingInHttp10;
  const bool http11 = head_.version == HttpVersion::kHttp11;
  head_.keep_alive =
      http11 ? !state.connection_close : state.connection_keep_alive && !state.connection_close;
  if (head_request_ || status_has_no_body(head_.status)) {
    head_.framing = ResponseFraming::kNone;
  } else if (state.transfer_encoding_seen) {
    // §6.3 item 4: a response whose final coding is not chunked runs to close.
    head_.framing = state.chunked_last ? ResponseFraming::kChunked : ResponseFraming::kUntilClose;
  } else if (state.content_length_seen) {
    head_.framing = ResponseFraming::kContentLength;
  } else {
    head_.framing = ResponseFraming::kUntilClose;
  }
  if (head_.framing == ResponseFraming::kUntilClose) head_.keep_alive = false;
  if (head_.status == 101) head_.keep_alive = false;
  return {};
}

}  // namespace usher::proxy
