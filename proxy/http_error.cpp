#include "proxy/http_error.h"

#include <array>
#include <string>

namespace usher::proxy {
namespace {

/// One row per http_errc value, in enumeration order.
struct ErrorInfo {
  http_errc code;
  std::string_view name;
  std::string_view message;
  int status;
};

constexpr std::array kErrors = {
    ErrorInfo{http_errc::kHeadTooLarge, "head_too_large", "request head too large", 431},
    ErrorInfo{http_errc::kTooManyHeaders, "too_many_headers", "too many header fields", 431},
    // RFC 9112 §3: a request-target longer than the server wishes to parse
    // gets 414; the target is what makes a request line long in practice.
    ErrorInfo{http_errc::kRequestLineTooLong, "request_line_too_long", "request line too long",
              414},
    ErrorInfo{http_errc::kTooManyEmptyLines, "too_many_empty_lines",
              "too many empty lines before the request line", 400},
    ErrorInfo{http_errc::kBareLf, "bare_lf", "line feed without carriage return", 400},
    ErrorInfo{http_errc::kBareCr, "bare_cr", "carriage return without line feed", 400},
    ErrorInfo{http_errc::kInvalidRequestLine, "invalid_request_line", "malformed request line",
              400},
    ErrorInfo{http_errc::kInvalidMethod, "invalid_method", "invalid method", 400},
    ErrorInfo{http_errc::kInvalidTarget, "invalid_target", "invalid request target", 400},
    ErrorInfo{http_errc::kTargetFormMismatch, "target_form_mismatch",
              "request target form not allowed with this method", 400},
    ErrorInfo{http_errc::kInvalidVersion, "invalid_version", "malformed http version", 400},
    ErrorInfo{http_errc::kUnsupportedVersion, "unsupported_version", "unsupported http version",
              505},
    ErrorInfo{http_errc::kInvalidHeaderName, "invalid_header_name", "invalid header field name",
              400},
    ErrorInfo{http_errc::kWhitespaceBeforeColon, "whitespace_before_colon",
              "whitespace between header field name and colon", 400},
    ErrorInfo{http_errc::kMissingColon, "missing_colon", "header field line without colon", 400},
    ErrorInfo{http_errc::kInvalidHeaderValue, "invalid_header_value",
              "invalid character in header field value", 400},
    ErrorInfo{http_errc::kObsFold, "obs_fold", "header line starts with whitespace (line folding)",
              400},
    ErrorInfo{http_errc::kAmbiguousHeaderName, "ambiguous_header_name",
              "header field name resembles a framing field", 400},
    ErrorInfo{http_errc::kMissingHost, "missing_host", "missing host header", 400},
    ErrorInfo{http_errc::kDuplicateHost, "duplicate_host", "duplicate host header", 400},
    ErrorInfo{http_errc::kInvalidHost, "invalid_host", "invalid host", 400},
    ErrorInfo{http_errc::kHostMismatch, "host_mismatch",
              "host header differs from the request target authority", 400},
    ErrorInfo{http_errc::kInvalidContentLength, "invalid_content_length", "invalid content-length",
              400},
    ErrorInfo{http_errc::kConflictingContentLength, "conflicting_content_length",
              "conflicting content-length values", 400},
    ErrorInfo{http_errc::kContentLengthWithTransferEncoding,
              "content_length_with_transfer_encoding", "both content-length and transfer-encoding",
              400},
    ErrorInfo{http_errc::kInvalidTransferEncoding, "invalid_transfer_encoding",
              "malformed transfer-encoding", 400},
    ErrorInfo{http_errc::kChunkedNotFinal, "chunked_not_final",
              "transfer-encoding does not end with a single chunked", 400},
    // RFC 9112 §6.1: a transfer coding the server does not understand gets 501.
    ErrorInfo{http_errc::kUnsupportedTransferCoding, "unsupported_transfer_coding",
              "unsupported transfer coding", 501},
    ErrorInfo{http_errc::kTransferEncodingInHttp10, "transfer_encoding_in_http10",
              "transfer-encoding in an http/1.0 request", 400},
    ErrorInfo{http_errc::kInvalidConnection, "invalid_connection", "invalid connection header",
              400},
    ErrorInfo{http_errc::kDuplicateUpgrade, "duplicate_upgrade", "duplicate upgrade header", 400},
    // RFC 9110 §10.1.1: an unknown expectation may be answered with 417.
    ErrorInfo{http_errc::kUnsupportedExpectation, "unsupported_expectation",
              "unsupported expectation", 417},
    ErrorInfo{http_errc::kInvalidChunkSize, "invalid_chunk_size", "invalid chunk size", 400},
    ErrorInfo{http_errc::kChunkSizeTooLarge, "chunk_size_too_large", "chunk size too large", 400},
    ErrorInfo{http_errc::kInvalidChunkExtension, "invalid_chunk_extension",
              "invalid chunk extension", 400},
    ErrorInfo{http_errc::kChunkExtensionTooLong, "chunk_extension_too_long",
              "chunk extension too long", 400},
    ErrorInfo{http_errc::kMissingChunkCrlf, "missing_chunk_crlf", "chunk data not followed by crlf",
              400},
    ErrorInfo{http_errc::kTrailersTooLarge, "trailers_too_large", "trailer section too large", 431},
    ErrorInfo{http_errc::kForbiddenTrailer, "forbidden_trailer",
              "framing or routing field in the trailer section", 400},
};

constexpr bool rows_follow_enum_order() {
  for (std::size_t i = 0; i < kErrors.size(); ++i) {
    if (static_cast<std::size_t>(kErrors[i].code) != i + 1) return false;
  }
  return true;
}
static_assert(rows_follow_enum_order(), "kErrors must list http_errc values in order");

const ErrorInfo* find_info(int value) noexcept {
  if (value < 1 || static_cast<std::size_t>(value) > kErrors.size()) return nullptr;
  return &kErrors[static_cast<std::size_t>(value - 1)];
}

class HttpCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "http"; }

  std::string message(int value) const override {
    const ErrorInfo* info = find_info(value);
    return info ? std::string(info->message) : "unknown http error";
  }
};

}  // namespace

const std::error_category& http_category() noexcept {
  static const HttpCategory category;
  return category;
}

std::error_code make_error_code(http_errc e) noexcept {
  return {static_cast<int>(e), http_category()};
}

int http_status(http_errc e) noexcept {
  const ErrorInfo* info = find_info(static_cast<int>(e));
  return info ? info->status : 400;
}

int http_status(const std::error_code& ec) noexcept {
  if (ec.category() != http_category()) return 400;
  return http_status(static_cast<http_errc>(ec.value()));
}

std::string_view http_errc_name(http_errc e) noexcept {
  const ErrorInfo* info = find_info(static_cast<int>(e));
  return info ? info->name : "unknown";
}

}  // namespace usher::proxy
