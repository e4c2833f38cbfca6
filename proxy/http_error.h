#pragma once

#include <string_view>
#include <system_error>

namespace usher::proxy {

/// Every reason the HTTP/1.1 request parser or the chunked decoder rejects
/// input. Each value carries a lowercase message (through the category), a
/// stable name used by the hostile-request corpus, and the status the proxy
/// answers with before closing the connection. Zero is reserved for success.
enum class http_errc {
  // The size of the head.
  kHeadTooLarge = 1,
  kTooManyHeaders,
  kRequestLineTooLong,
  kTooManyEmptyLines,
  // Line endings.
  kBareLf,
  kBareCr,
  // The request line.
  kInvalidRequestLine,
  kInvalidMethod,
  kInvalidTarget,
  kTargetFormMismatch,
  kInvalidVersion,
  kUnsupportedVersion,
  // Header field lines.
  kInvalidHeaderName,
  kWhitespaceBeforeColon,
  kMissingColon,
  kInvalidHeaderValue,
  kObsFold,
  kAmbiguousHeaderName,
  // Host.
  kMissingHost,
  kDuplicateHost,
  kInvalidHost,
  kHostMismatch,
  // Framing (RFC 9112 §6).
  kInvalidContentLength,
  kConflictingContentLength,
  kContentLengthWithTransferEncoding,
  kInvalidTransferEncoding,
  kChunkedNotFinal,
  kUnsupportedTransferCoding,
  kTransferEncodingInHttp10,
  // Connection management and expectations.
  kInvalidConnection,
  kDuplicateUpgrade,
  kUnsupportedExpectation,
  // The chunked body (RFC 9112 §7.1).
  kInvalidChunkSize,
  kChunkSizeTooLarge,
  kInvalidChunkExtension,
  kChunkExtensionTooLong,
  kMissingChunkCrlf,
  kTrailersTooLarge,
  kForbiddenTrailer,
};

/// The error category of http_errc; its name is "http".
const std::error_category& http_category() noexcept;

/// Makes std::error_code{http_errc::kX} work (found by argument-dependent lookup).
std::error_code make_error_code(http_errc e) noexcept;

/// The status code to answer a request rejected with `e`: 400, 414, 417, 431,
/// 501 or 505.
int http_status(http_errc e) noexcept;

/// http_status() for an error of http_category(); 400 for any other error,
/// since the proxy only rejects a request it could not understand.
int http_status(const std::error_code& ec) noexcept;

/// The enumerator's name without its `k` prefix in snake_case, e.g.
/// "content_length_with_transfer_encoding"; tests and logs use it as a stable key.
std::string_view http_errc_name(http_errc e) noexcept;

}  // namespace usher::proxy

template <>
struct std::is_error_code_enum<usher::proxy::http_errc> : std::true_type {};
