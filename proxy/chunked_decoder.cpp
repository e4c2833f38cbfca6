#include "proxy/chunked_decoder.h"

#include <algorithm>
#include <array>
#include <string_view>

#include "proxy/http1_parser.h"
#include "proxy/http_error.h"

namespace usher::proxy {
namespace {

/// Hex digits allowed in a chunk size: 16 fill 64 bits; more can only be
/// leading zeros, which some peers count differently.
constexpr std::size_t kMaxChunkSizeDigits = 16;

bool is_whitespace(char c) {
  return c == ' ' || c == '\t';
}

unsigned hex_value(char c) {
  if (c >= '0' && c <= '9') return static_cast<unsigned>(c - '0');
  if (c >= 'a' && c <= 'f') return static_cast<unsigned>(c - 'a' + 10);
  return static_cast<unsigned>(c - 'A' + 10);
}

/// RFC 9110 §6.5.1: trailers must not carry framing, routing or connection
/// fields; a proxy that merged them into the head would change the request.
bool is_forbidden_trailer(std::string_view name) {
  constexpr std::array<std::string_view, 9> kForbidden = {
      "content-length", "transfer-encoding", "host", "connection",
      "keep-alive",     "upgrade",           "te",   "trailer",
      "expect"};
  return std::any_of(kForbidden.begin(), kForbidden.end(), [&](std::string_view forbidden) {
    if (forbidden.size() != name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
      const char c = name[i] == '_' ? '-' : name[i];
      const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + ('a' - 'A')) : c;
      if (lower != forbidden[i]) return false;
    }
    return true;
  });
}

}  // namespace

/// Per state: the byte handler, whether the byte counts against the extension
/// bound, and whether an LF there is a bare LF (the line expected a CR first).
struct ChunkedDecoder::StateRow {
  Handler handler;
  bool extension;
  bool lf_is_bare;
};

// Indexed by State; kData, kDone and kFailed never dispatch a byte.
const ChunkedDecoder::StateRow ChunkedDecoder::kStates[] = {
    {&ChunkedDecoder::on_size_start, false, true},            // kSizeStart
    {&ChunkedDecoder::on_size, false, true},                  // kSize
    {&ChunkedDecoder::on_extension_space, true, true},        // kExtensionSpace
    {&ChunkedDecoder::on_extension_name_start, true, true},   // kExtensionNameStart
    {&ChunkedDecoder::on_extension_name, true, true},         // kExtensionName
    {&ChunkedDecoder::on_extension_after_name, true, true},   // kExtensionAfterName
    {&ChunkedDecoder::on_extension_value_start, true, true},  // kExtensionValueStart
    {&ChunkedDecoder::on_extension_token, true, true},        // kExtensionToken
    {&ChunkedDecoder::on_extension_quoted, true, true},       // kExtensionQuoted
    {&ChunkedDecoder::on_extension_quoted_pair, true, true},  // kExtensionQuotedPair
    {&ChunkedDecoder::on_extension_after_value, true, true},  // kExtensionAfterValue
    {&ChunkedDecoder::on_size_lf, false, false},              // kSizeLf
    {nullptr, false, false},                                  // kData
    {&ChunkedDecoder::on_data_cr, false, false},              // kDataCr
    {&ChunkedDecoder::on_data_lf, false, false},              // kDataLf
    {&ChunkedDecoder::on_trailer_line, false, true},          // kTrailerLine
    {&ChunkedDecoder::on_trailer_lf, false, false},           // kTrailerLf
    {nullptr, false, false},                                  // kDone
    {nullptr, false, false},                                  // kFailed
};

ChunkedDecoder::ChunkedDecoder(ChunkedLimits limits) : limits_(limits) {
  static_assert(std::size(kStates) == static_cast<std::size_t>(State::kFailed) + 1,
                "kStates needs one row per State, in order");
}

void ChunkedDecoder::reset() {
  state_ = State::kSizeStart;
  chunk_size_ = 0;
  size_digits_ = 0;
  extension_bytes_ = 0;
  trailer_bytes_ = 0;
  trailer_line_.clear();
  trailers_.clear();
  error_.clear();
}

ChunkedDecoder::Step ChunkedDecoder::decode(std::span<const char> input) {
  Step step;
  if (state_ == State::kFailed) {
    step.error = error_;
    return step;
  }
  std::size_t i = 0;
  while (i < input.size() && state_ != State::kDone) {
    if (state_ == State::kData) {
      const std::size_t available = input.size() - i;
      const std::size_t take =
          chunk_size_ < available ? static_cast<std::size_t>(chunk_size_) : available;
      step.data = input.subspan(i, take);
      i += take;
      chunk_size_ -= take;
      if (chunk_size_ == 0) state_ = State::kDataCr;
      break;  // one data span per step, so the caller can forward it
    }
    const StateRow& row = kStates[static_cast<std::size_t>(state_)];
    const char c = input[i++];
    std::error_code ec;
    if (c == '\n' && row.lf_is_bare) {
      ec = http_errc::kBareLf;
    } else if (row.extension && ++extension_bytes_ > limits_.max_extension_bytes) {
      ec = http_errc::kChunkExtensionTooLong;
    } else {
      ec = (this->*row.handler)(c);
    }
    if (ec) {
      state_ = State::kFailed;
      error_ = ec;
      step.error = ec;
      break;
    }
  }
  step.consumed = i;
  step.done = state_ == State::kDone;
  return step;
}

// ---- The chunk-size line: chunk-size [ chunk-ext ] CRLF ------------------------

std::error_code ChunkedDecoder::on_size_start(char c) {
  // No sign, no `0x`, no leading whitespace: a hex digit or nothing.
  if (!in_class(kHexDigits, c)) return http_errc::kInvalidChunkSize;
  chunk_size_ = hex_value(c);
  if (chunk_size_ > limits_.max_chunk_size) return http_errc::kChunkSizeTooLarge;
  size_digits_ = 1;
  extension_bytes_ = 0;
  state_ = State::kSize;
  return {};
}

std::error_code ChunkedDecoder::on_size(char c) {
  if (in_class(kHexDigits, c)) {
    if (++size_digits_ > kMaxChunkSizeDigits) return http_errc::kChunkSizeTooLarge;
    const unsigned digit = hex_value(c);
    if (digit > limits_.max_chunk_size || chunk_size_ > (limits_.max_chunk_size - digit) / 16) {
      return http_errc::kChunkSizeTooLarge;
    }
    chunk_size_ = chunk_size_ * 16 + digit;
    return {};
  }
  if (c == ';') {
    state_ = State::kExtensionNameStart;
  } else if (is_whitespace(c)) {
    state_ = State::kExtensionSpace;
  } else if (c == '\r') {
    state_ = State::kSizeLf;
  } else {
    return http_errc::kInvalidChunkSize;
  }
  return {};
}

// chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
// (RFC 9112 §7.1.1). Whitespace is allowed only where BWS is, so a line like
// `5 \r\n` or `5;a \r\n` is malformed.

std::error_code ChunkedDecoder::on_extension_space(char c) {
  if (c == ';') {
    state_ = State::kExtensionNameStart;
  } else if (!is_whitespace(c)) {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_name_start(char c) {
  if (in_class(kTokenChars, c)) {
    state_ = State::kExtensionName;
  } else if (!is_whitespace(c)) {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_name(char c) {
  if (in_class(kTokenChars, c)) return {};
  if (is_whitespace(c)) {
    state_ = State::kExtensionAfterName;
  } else if (c == '=') {
    state_ = State::kExtensionValueStart;
  } else if (c == ';') {
    state_ = State::kExtensionNameStart;
  } else if (c == '\r') {
    state_ = State::kSizeLf;
  } else {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_after_name(char c) {
  if (c == '=') {
    state_ = State::kExtensionValueStart;
  } else if (c == ';') {
    state_ = State::kExtensionNameStart;
  } else if (!is_whitespace(c)) {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_value_start(char c) {
  if (c == '"') {
    state_ = State::kExtensionQuoted;
  } else if (in_class(kTokenChars, c)) {
    state_ = State::kExtensionToken;
  } else if (!is_whitespace(c)) {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_token(char c) {
  if (in_class(kTokenChars, c)) return {};
  return on_extension_after_value(c);
}

std::error_code ChunkedDecoder::on_extension_quoted(char c) {
  if (c == '"') {
    state_ = State::kExtensionAfterValue;
  } else if (c == '\\') {
    state_ = State::kExtensionQuotedPair;
  } else if (!in_class(kQuotedTextChars, c)) {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_extension_quoted_pair(char c) {
  // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): qdtext plus `"` and `\`.
  if (!in_class(kQuotedTextChars, c) && c != '"' && c != '\\') {
    return http_errc::kInvalidChunkExtension;
  }
  state_ = State::kExtensionQuoted;
  return {};
}

std::error_code ChunkedDecoder::on_extension_after_value(char c) {
  if (is_whitespace(c)) {
    state_ = State::kExtensionSpace;
  } else if (c == ';') {
    state_ = State::kExtensionNameStart;
  } else if (c == '\r') {
    state_ = State::kSizeLf;
  } else {
    return http_errc::kInvalidChunkExtension;
  }
  return {};
}

std::error_code ChunkedDecoder::on_size_lf(char c) {
  if (c != '\n') return http_errc::kBareCr;
  // The last chunk (size 0) is followed by the trailer section.
  state_ = chunk_size_ == 0 ? State::kTrailerLine : State::kData;
  return {};
}

// ---- Chunk data is followed by CRLF and nothing else --------------------------

std::error_code ChunkedDecoder::on_data_cr(char c) {
  if (c != '\r') return http_errc::kMissingChunkCrlf;
  state_ = State::kDataLf;
  return {};
}

std::error_code ChunkedDecoder::on_data_lf(char c) {
  if (c != '\n') return http_errc::kMissingChunkCrlf;
  state_ = State::kSizeStart;
  return {};
}

// ---- The trailer section: field lines, then an empty line -----------------------

std::error_code ChunkedDecoder::on_trailer_line(char c) {
  if (++trailer_bytes_ > limits_.max_trailer_bytes) return http_errc::kTrailersTooLarge;
  if (c == '\r') {
    state_ = State::kTrailerLf;
  } else {
    trailer_line_.push_back(c);
  }
  return {};
}

std::error_code ChunkedDecoder::on_trailer_lf(char c) {
  if (c != '\n') return http_errc::kBareCr;
  if (++trailer_bytes_ > limits_.max_trailer_bytes) return http_errc::kTrailersTooLarge;
  return end_trailer_line();
}

std::error_code ChunkedDecoder::end_trailer_line() {
  if (trailer_line_.empty()) {
    state_ = State::kDone;
    return {};
  }
  HeaderField field;
  if (std::error_code ec = parse_field_line(trailer_line_, field)) return ec;
  if (is_forbidden_trailer(field.name)) return http_errc::kForbiddenTrailer;
  if (trailers_.size() >= limits_.max_trailer_count) return http_errc::kTrailersTooLarge;
  trailers_.push_back(TrailerField{std::string(field.name), std::string(field.value)});
  trailer_line_.clear();
  state_ = State::kTrailerLine;
  return {};
}

}  // namespace usher::proxy
