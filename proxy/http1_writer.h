#pragma once

// Serialising HTTP/1.1 messages: status lines, header blocks and chunk
// framing, appended into a caller's reusable buffer.

#include <cstdint>
#include <string>
#include <string_view>

#include "proxy/exchange.h"

namespace usher::proxy {

/// The standard reason phrase of `status` (RFC 9110 §15), or "" when none.
std::string_view reason_phrase(int status);

/// True when a response with this status never has a body (1xx, 204, 304).
bool status_has_no_body(int status);

/// Appends `HTTP/1.1 <status> <reason>\r\n` and every header of `head` as
/// `Name: value\r\n`, without the final empty line.
void append_response_head(const ResponseHead& head, std::string& out);

/// Appends one header line.
void append_header(std::string_view name, std::string_view value, std::string& out);

/// Appends the hexadecimal size line that starts a chunk.
void append_chunk_size(uint64_t size, std::string& out);

}  // namespace usher::proxy
