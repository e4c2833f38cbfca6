#include "proxy/http1_writer.h"

#include <array>
#include <charconv>
#include <cstring>

namespace usher::proxy {

namespace {

struct Reason {
  int status;
  std::string_view text;
};

// RFC 9110 §15 plus the codes proxies meet in practice; a table so that
// adding a code is one line.
constexpr std::array<Reason, 44> kReasons{{
    {100, "Continue"},
    {101, "Switching Protocols"},
    {103, "Early Hints"},
    {200, "OK"},
    {201, "Created"},
    {202, "Accepted"},
    {203, "Non-Authoritative Information"},
    {204, "No Content"},
    {205, "Reset Content"},
    {206, "Partial Content"},
    {207, "Multi-Status"},
    {300, "Multiple Choices"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {416, "Range Not Satisfiable"},
    {417, "Expectation Failed"},
    {421, "Misdirected Request"},
    {426, "Upgrade Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
}};

}  // namespace

std::string_view reason_phrase(int status) {
  for (const auto& r : kReasons)
    if (r.status == status) return r.text;
  return {};
}

bool status_has_no_body(int status) {
  return (status >= 100 && status < 200) || status == 204 || status == 304;
}

void append_header(std::string_view name, std::string_view value, std::string& out) {
  // One size change instead of four appends (each checks the capacity):
  // a response head is a dozen of these per request.
  const size_t at = out.size();
  out.resize(at + name.size() + value.size() + 4);
  char* p = out.data() + at;
  std::memcpy(p, name.data(), name.size());
  p += name.size();
  *p++ = ':';
  *p++ = ' ';
  std::memcpy(p, value.data(), value.size());
  p += value.size();
  *p++ = '\r';
  *p = '\n';
}

void append_response_head(const ResponseHead& head, std::string& out) {
  char digits[8];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, head.status);
  (void)ec;
  out.append("HTTP/1.1 ");
  out.append(digits, end);
  out.push_back(' ');
  out.append(head.reason.empty() ? reason_phrase(head.status) : std::string_view(head.reason));
  out.append("\r\n");
  for (const auto& field : head.headers.fields())
    append_header(field.name, field.value, out);
}

void append_chunk_size(uint64_t size, std::string& out) {
  char digits[20];
  auto [end, ec] = std::to_chars(digits, digits + sizeof digits, size, 16);
  (void)ec;
  out.append(digits, end);
  out.append("\r\n");
}

}  // namespace usher::proxy
