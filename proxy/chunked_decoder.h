#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <system_error>
#include <vector>

namespace usher::proxy {

/// Bounds on the framing of a chunked body; data size is limited elsewhere
/// (the configured request body limit, 413).
struct ChunkedLimits {
  // Largest chunk-size value. Sizes are read into 64 bits with at most 16 hex
  // digits; this keeps them within signed offsets so no later sum overflows.
  std::uint64_t max_chunk_size =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  // Bytes of extensions on one chunk line, after the first `;` or whitespace
  // up to the CR. Extensions carry nothing the proxy uses; the bound stops a client
  // from sending megabytes of framing around one-byte chunks.
  std::size_t max_extension_bytes = 1024;
  // Bytes of the trailer section, CRLFs included; trailers are copied, so
  // this bounds the memory they take (431).
  std::size_t max_trailer_bytes = 16 * 1024;
  // Trailer field lines.
  std::size_t max_trailer_count = 32;
};

/// A trailer field, copied because it arrives long after the head's buffer
/// has been reused.
struct TrailerField {
  std::string name;
  std::string value;
};

/// An incremental decoder of the chunked transfer coding (RFC 9112 §7.1).
///
/// Call decode() with the bytes available after the head; each call consumes
/// framing until it reaches chunk data or runs out, then hands back at most
/// one span of data, which points into the input (no copy). Continue with the
/// unconsumed rest of the input. The body ends when a step reports `done`;
/// the bytes after it belong to the next request. Any deviation from the
/// grammar (bare LF, junk around the size, a missing CRLF after data,
/// malformed extensions or trailers) is an error, and the decoder stays
/// failed until reset().
class ChunkedDecoder {
 public:
  /// The result of one decode() call.
  struct Step {
    std::size_t consumed = 0;    // bytes of the input used, framing and data
    std::span<const char> data;  // body bytes: a view into the input, possibly empty
    bool done = false;           // the last chunk and the trailer section were read
    std::error_code error;       // of http_category(); the request must be rejected
  };

  explicit ChunkedDecoder(ChunkedLimits limits = {});

  /// Decodes from the start of `input`. When `consumed` equals the input size
  /// and neither `done` nor `error` is set, more bytes are needed.
  Step decode(std::span<const char> input);

  /// Whether the whole body, trailers included, has been decoded.
  bool done() const { return state_ == State::kDone; }

  /// Trailer fields received after the last chunk, in order; complete once done().
  const std::vector<TrailerField>& trailers() const { return trailers_; }

  /// Prepares for the next body.
  void reset();

 private:
  enum class State : std::uint8_t {
    kSizeStart,
    kSize,
    kExtensionSpace,      // BWS after the size or a value, before `;`
    kExtensionNameStart,  // after `;`, in BWS before the name
    kExtensionName,
    kExtensionAfterName,
    kExtensionValueStart,
    kExtensionToken,
    kExtensionQuoted,
    kExtensionQuotedPair,
    kExtensionAfterValue,  // after a token or quoted value
    kSizeLf,
    kData,
    kDataCr,
    kDataLf,
    kTrailerLine,
    kTrailerLf,
    kDone,
    kFailed,
  };
  using Handler = std::error_code (ChunkedDecoder::*)(char c);
  struct StateRow;
  static const StateRow kStates[];

  std::error_code on_size_start(char c);
  std::error_code on_size(char c);
  std::error_code on_extension_space(char c);
  std::error_code on_extension_name_start(char c);
  std::error_code on_extension_name(char c);
  std::error_code on_extension_after_name(char c);
  std::error_code on_extension_value_start(char c);
  std::error_code on_extension_token(char c);
  std::error_code on_extension_quoted(char c);
  std::error_code on_extension_quoted_pair(char c);
  std::error_code on_extension_after_value(char c);
  std::error_code on_size_lf(char c);
  std::error_code on_data_cr(char c);
  std::error_code on_data_lf(char c);
  std::error_code on_trailer_line(char c);
  std::error_code on_trailer_lf(char c);
  std::error_code end_trailer_line();

  ChunkedLimits limits_;
  State state_ = State::kSizeStart;
  std::uint64_t chunk_size_ = 0;  // the size being read, then what remains of the chunk
  std::size_t size_digits_ = 0;
  std::size_t extension_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
  std::string trailer_line_;  // allocates only when a trailer is sent
  std::vector<TrailerField> trailers_;
  std::error_code error_;
};

}  // namespace usher::proxy
