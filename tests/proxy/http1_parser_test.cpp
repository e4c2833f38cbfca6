#include "proxy/http1_parser.h"

#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <string_view>

#include "proxy/http_error.h"

namespace usher::proxy {
namespace {

std::span<const char> bytes(std::string_view text) {
  return {text.data(), text.size()};
}

/// A string literal's bytes, embedded NULs included.
template <std::size_t N>
constexpr std::string_view raw(const char (&literal)[N]) {
  return {literal, N - 1};
}

/// Names a parameterized case after its `name` field.
struct CaseName {
  template <class Param>
  std::string operator()(const testing::TestParamInfo<Param>& param) const {
    return std::string(param.param.name);
  }
};

/// Feeds the request one byte more at a time, each time in a freshly copied
/// buffer, as a connection whose buffer grows and moves would; returns the
/// first result that is not kNeedMore. `storage` keeps the last copy alive.
ParseResult parse_bytewise(Http1RequestParser& parser, std::string_view text,
                           std::string& storage) {
  ParseResult result;
  for (std::size_t n = 1; n <= text.size(); ++n) {
    storage.assign(text.substr(0, n));
    result = parser.parse(bytes(storage));
    if (result.status != ParseStatus::kNeedMore) return result;
  }
  return result;
}

// ---- Requests that must be accepted ----------------------------------------------

struct AcceptCase {
  std::string_view name;
  std::string_view request;
  std::string_view method;
  std::string_view target;
  TargetForm form;
  std::string_view host;
  BodyKind body;
  std::uint64_t content_length;
  bool keep_alive;
  std::size_t body_bytes;  // bytes after the head in `request`
};

class Http1ParserAccepts : public testing::TestWithParam<AcceptCase> {};

void expect_head(const AcceptCase& c, const RequestHead& head) {
  EXPECT_EQ(head.method, c.method);
  EXPECT_EQ(head.target, c.target);
  EXPECT_EQ(head.target_form, c.form);
  EXPECT_EQ(head.host, c.host);
  EXPECT_EQ(head.body_kind, c.body);
  EXPECT_EQ(head.content_length, c.content_length);
  EXPECT_EQ(head.keep_alive, c.keep_alive);
  EXPECT_EQ(head.head_bytes, c.request.size() - c.body_bytes);
}

TEST_P(Http1ParserAccepts, WholeBuffer) {
  const AcceptCase& c = GetParam();
  Http1RequestParser parser;
  const ParseResult result = parser.parse(bytes(c.request));
  ASSERT_EQ(result.status, ParseStatus::kComplete) << result.error.message();
  expect_head(c, parser.head());
}

TEST_P(Http1ParserAccepts, OneByteAtATime) {
  const AcceptCase& c = GetParam();
  Http1RequestParser parser;
  std::string storage;
  const ParseResult result = parse_bytewise(parser, c.request, storage);
  ASSERT_EQ(result.status, ParseStatus::kComplete) << result.error.message();
  expect_head(c, parser.head());
}

using enum TargetForm;
using enum BodyKind;

const AcceptCase kAcceptCases[] = {
    {"get", "GET /index.html?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n", "GET", "/index.html?x=1",
     kOrigin, "example.com", kNone, 0, true, 0},
    {"post_content_length", "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
     "POST", "/submit", kOrigin, "a", kContentLength, 5, true, 5},
    {"chunked", "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", "POST", "/up",
     kOrigin, "a", kChunked, 0, true, 0},
    {"chunked_any_case", "POST / HTTP/1.1\r\nHost: a\r\ntransfer-encoding: ChUnKeD\r\n\r\n", "POST",
     "/", kOrigin, "a", kChunked, 0, true, 0},
    {"chunked_over_two_lines_empty_first",
     "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: chunked\r\n\r\n",
     "POST", "/", kOrigin, "a", kChunked, 0, true, 0},
    {"absolute_form", "GET http://example.com:8080/p?q HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
     "GET", "http://example.com:8080/p?q", kAbsolute, "example.com:8080", kNone, 0, true, 0},
    {"absolute_form_https_no_path", "GET HTTPS://Example.com HTTP/1.1\r\nHost: example.COM\r\n\r\n",
     "GET", "HTTPS://Example.com", kAbsolute, "Example.com", kNone, 0, true, 0},
    {"connect_authority_form", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
     "CONNECT", "example.com:443", kAuthority, "example.com:443", kNone, 0, true, 0},
    {"options_asterisk", "OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", "OPTIONS", "*", kAsterisk, "a",
     kNone, 0, true, 0},
    {"http10_without_host", "GET / HTTP/1.0\r\n\r\n", "GET", "/", kOrigin, "", kNone, 0, false, 0},
    {"http10_keep_alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", "GET", "/", kOrigin,
     "", kNone, 0, true, 0},
    {"http11_close", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", "GET", "/", kOrigin,
     "a", kNone, 0, false, 0},
    {"identical_duplicate_content_length",
     "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "PUT", "/x",
     kOrigin, "a", kContentLength, 3, true, 3},
    {"identical_content_length_list",
     "PUT /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\nabc", "PUT", "/x", kOrigin, "a",
     kContentLength, 3, true, 3},
    {"content_length_zero", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", "POST", "/",
     kOrigin, "a", kContentLength, 0, true, 0},
    {"leading_empty_lines", "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", "GET", "/", kOrigin, "a",
     kNone, 0, true, 0},
    {"optional_whitespace_trimmed", "GET / HTTP/1.1\r\nHost: \t a.example \t\r\n\r\n", "GET", "/",
     kOrigin, "a.example", kNone, 0, true, 0},
    {"empty_host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", "GET", "/", kOrigin, "", kNone, 0, true, 0},
    {"ipv6_host", "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n", "GET", "/", kOrigin, "[::1]:8080",
     kNone, 0, true, 0},
    {"obs_text_in_value", "GET / HTTP/1.1\r\nHost: a\r\nX-Name: caf\xc3\xa9\r\n\r\n", "GET", "/",
     kOrigin, "a", kNone, 0, true, 0},
    {"unusual_token_chars", "M-SEARCH /%41~ HTTP/1.1\r\nHost: a\r\nX-!#$%&'*+.^_`|~: v\r\n\r\n",
     "M-SEARCH", "/%41~", kOrigin, "a", kNone, 0, true, 0},
    {"body_of_pipelined_bytes_not_consumed", "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n",
     "GET", "/", kOrigin, "a", kNone, 0, true, 16},
};

INSTANTIATE_TEST_SUITE_P(Cases, Http1ParserAccepts, testing::ValuesIn(kAcceptCases), CaseName{});

// ---- Requests that must be rejected ------------------------------------------------

struct RejectCase {
  std::string_view name;
  std::string_view request;
  http_errc error;
  int status;
};

class Http1ParserRejects : public testing::TestWithParam<RejectCase> {};

TEST_P(Http1ParserRejects, WholeBuffer) {
  const RejectCase& c = GetParam();
  Http1RequestParser parser;
  const ParseResult result = parser.parse(bytes(c.request));
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, make_error_code(c.error)) << result.error.message();
  EXPECT_EQ(result.status_code, c.status);
}

TEST_P(Http1ParserRejects, OneByteAtATimeTheSameWay) {
  const RejectCase& c = GetParam();
  Http1RequestParser parser;
  std::string storage;
  const ParseResult result = parse_bytewise(parser, c.request, storage);
  ASSERT_EQ(result.status, ParseStatus::kError);
  EXPECT_EQ(result.error, make_error_code(c.error)) << result.error.message();
}

using enum http_errc;

#define HOST_A "Host: a\r\n"
#define GET_HEAD "GET / HTTP/1.1\r\n"
#define POST_HEAD "POST / HTTP/1.1\r\n" HOST_A

const RejectCase kRejectCases[] = {
    // Framing (RFC 9112 §6.3).
    {"content_length_and_transfer_encoding",
     POST_HEAD "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
     kContentLengthWithTransferEncoding, 400},
    {"transfer_encoding_then_content_length",
     POST_HEAD "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
     kContentLengthWithTransferEncoding, 400},
    {"differing_content_lengths", POST_HEAD "Content-Length: 5\r\nContent-Length: 6\r\n\r\n",
     kConflictingContentLength, 400},
    {"differing_content_length_list", POST_HEAD "Content-Length: 5, 6\r\n\r\n",
     kConflictingContentLength, 400},
    {"content_length_plus", POST_HEAD "Content-Length: +5\r\n\r\n", kInvalidContentLength, 400},
    {"content_length_negative", POST_HEAD "Content-Length: -5\r\n\r\n", kInvalidContentLength, 400},
    {"content_length_hex", POST_HEAD "Content-Length: 0x5\r\n\r\n", kInvalidContentLength, 400},
    {"content_length_empty", POST_HEAD "Content-Length:\r\n\r\n", kInvalidContentLength, 400},
    {"content_length_empty_element", POST_HEAD "Content-Length: 5,,5\r\n\r\n",
     kInvalidContentLength, 400},
    {"content_length_inner_space", POST_HEAD "Content-Length: 1 2\r\n\r\n", kInvalidContentLength,
     400},
    {"content_length_overflow", POST_HEAD "Content-Length: 18446744073709551616\r\n\r\n",
     kInvalidContentLength, 400},
    {"content_length_above_int64", POST_HEAD "Content-Length: 9223372036854775808\r\n\r\n",
     kInvalidContentLength, 400},
    {"gzip_then_chunked", POST_HEAD "Transfer-Encoding: gzip, chunked\r\n\r\n",
     kUnsupportedTransferCoding, 501},
    {"unknown_coding_then_chunked", POST_HEAD "Transfer-Encoding: foo, chunked\r\n\r\n",
     kUnsupportedTransferCoding, 501},
    {"chunked_then_gzip", POST_HEAD "Transfer-Encoding: chunked, gzip\r\n\r\n", kChunkedNotFinal,
     400},
    {"chunked_twice", POST_HEAD "Transfer-Encoding: chunked, chunked\r\n\r\n", kChunkedNotFinal,
     400},
    {"chunked_on_two_lines",
     POST_HEAD "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", kChunkedNotFinal,
     400},
    {"chunked_then_identity_line",
     POST_HEAD "Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
     kChunkedNotFinal, 400},
    {"gzip_only", POST_HEAD "Transfer-Encoding: gzip\r\n\r\n", kChunkedNotFinal, 400},
    {"xchunked", POST_HEAD "Transfer-Encoding: xchunked\r\n\r\n", kChunkedNotFinal, 400},
    {"transfer_encoding_empty", POST_HEAD "Transfer-Encoding:\r\n\r\n", kInvalidTransferEncoding,
     400},
    {"chunked_with_parameter", POST_HEAD "Transfer-Encoding: chunked;q=1\r\n\r\n",
     kInvalidTransferEncoding, 400},
    {"chunked_quoted", POST_HEAD "Transfer-Encoding: \"chunked\"\r\n\r\n", kInvalidTransferEncoding,
     400},
    {"transfer_encoding_http10", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
     kTransferEncodingInHttp10, 400},
    {"transfer_encoding_vertical_tab", POST_HEAD "Transfer-Encoding: \vchunked\r\n\r\n",
     kInvalidHeaderValue, 400},
    // Field syntax.
    {"obs_fold", GET_HEAD HOST_A "X-A: b\r\n  c\r\n\r\n", kObsFold, 400},
    {"space_before_first_field", GET_HEAD " Host: a\r\n\r\n", kObsFold, 400},
    {"space_before_colon", POST_HEAD "Transfer-Encoding : chunked\r\n\r\n", kWhitespaceBeforeColon,
     400},
    {"tab_before_colon", POST_HEAD "Content-Length\t: 5\r\n\r\n", kWhitespaceBeforeColon, 400},
    {"missing_colon", GET_HEAD HOST_A "X-A\r\n\r\n", kMissingColon, 400},
    {"empty_name", GET_HEAD HOST_A ": v\r\n\r\n", kInvalidHeaderName, 400},
    {"nul_in_name", raw(GET_HEAD HOST_A "X\0A: v\r\n\r\n"), kInvalidHeaderName, 400},
    {"nul_in_value", raw(GET_HEAD HOST_A "X-A: a\0b\r\n\r\n"), kInvalidHeaderValue, 400},
    {"del_in_value", GET_HEAD HOST_A "X-A: a\x7f\r\n\r\n", kInvalidHeaderValue, 400},
    {"control_in_value", GET_HEAD HOST_A "X-A: a\x01\r\n\r\n", kInvalidHeaderValue, 400},
    {"bare_cr_in_value", GET_HEAD HOST_A "X-A: a\rb\r\n\r\n", kBareCr, 400},
    {"bare_lf_line_endings", "GET / HTTP/1.1\nHost: a\n\n", kBareLf, 400},
    {"bare_lf_in_fields", GET_HEAD "Host: a\nX: b\r\n\r\n", kBareLf, 400},
    {"bare_lf_end_of_head", GET_HEAD HOST_A "\n", kBareLf, 400},
    {"underscore_content_length", POST_HEAD "Content_Length: 5\r\n\r\n", kAmbiguousHeaderName, 400},
    // Host.
    {"missing_host", "GET / HTTP/1.1\r\n\r\n", kMissingHost, 400},
    {"duplicate_host", GET_HEAD HOST_A "Host: b\r\n\r\n", kDuplicateHost, 400},
    {"duplicate_host_identical", GET_HEAD HOST_A HOST_A "\r\n", kDuplicateHost, 400},
    {"host_with_space", GET_HEAD "Host: a b\r\n\r\n", kInvalidHost, 400},
    {"host_with_userinfo", GET_HEAD "Host: user@a\r\n\r\n", kInvalidHost, 400},
    {"host_list", GET_HEAD "Host: a,b\r\n\r\n", kInvalidHost, 400},
    {"host_bad_port", GET_HEAD "Host: a:80x\r\n\r\n", kInvalidHost, 400},
    {"host_port_too_large", GET_HEAD "Host: a:65536\r\n\r\n", kInvalidHost, 400},
    {"host_slash", GET_HEAD "Host: a/b\r\n\r\n", kInvalidHost, 400},
    {"host_differs_from_absolute_target", "GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n",
     kHostMismatch, 400},
    // Request line.
    {"http_0_9", "GET /\r\n\r\n", kInvalidRequestLine, 400},
    {"request_line_tab", "GET\t/ HTTP/1.1\r\n" HOST_A "\r\n", kInvalidRequestLine, 400},
    {"method_with_separator", "GE(T / HTTP/1.1\r\n" HOST_A "\r\n", kInvalidMethod, 400},
    {"empty_method", " / HTTP/1.1\r\n" HOST_A "\r\n", kInvalidMethod, 400},
    {"double_space", "GET  / HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"space_in_target", "GET /a b HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"fragment_in_target", "GET /a#b HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"backslash_in_target", "GET /a\\..\\b HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"bad_percent_escape", "GET /%zz HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"truncated_percent_escape", "GET /a% HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"non_ascii_target", "GET /caf\xc3\xa9 HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"relative_target", "GET a/b HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"authority_form_with_get", "GET a:80 HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"absolute_form_other_scheme", "GET ftp://a/ HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"absolute_form_userinfo", "GET http://u@a/ HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"absolute_form_empty_authority", "GET http:/// HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget,
     400},
    {"connect_origin_form", "CONNECT / HTTP/1.1\r\n" HOST_A "\r\n", kTargetFormMismatch, 400},
    {"connect_without_port", "CONNECT a HTTP/1.1\r\n" HOST_A "\r\n", kInvalidTarget, 400},
    {"asterisk_with_get", "GET * HTTP/1.1\r\n" HOST_A "\r\n", kTargetFormMismatch, 400},
    {"http_2_0", "GET / HTTP/2.0\r\n" HOST_A "\r\n", kUnsupportedVersion, 505},
    {"http_1_2", "GET / HTTP/1.2\r\n" HOST_A "\r\n", kUnsupportedVersion, 505},
    {"http_0_9_version", "GET / HTTP/0.9\r\n" HOST_A "\r\n", kUnsupportedVersion, 505},
    {"lowercase_version", "GET / http/1.1\r\n" HOST_A "\r\n", kInvalidVersion, 400},
    {"two_digit_minor", "GET / HTTP/1.10\r\n" HOST_A "\r\n", kInvalidVersion, 400},
    {"short_version", "GET / HTTP/2\r\n" HOST_A "\r\n", kInvalidVersion, 400},
    {"trailing_space_in_request_line", "GET / HTTP/1.1 \r\n" HOST_A "\r\n", kInvalidVersion, 400},
    {"too_many_empty_lines", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n" HOST_A "\r\n",
     kTooManyEmptyLines, 400},
    // Connection management.
    {"connection_names_content_length", POST_HEAD "Connection: close, Content-Length\r\n\r\n",
     kInvalidConnection, 400},
    {"connection_not_a_token", GET_HEAD HOST_A "Connection: a/b\r\n\r\n", kInvalidConnection, 400},
    {"duplicate_upgrade", GET_HEAD HOST_A "Upgrade: websocket\r\nUpgrade: h2c\r\n\r\n",
     kDuplicateUpgrade, 400},
    {"unknown_expectation", GET_HEAD HOST_A "Expect: 200-ok\r\n\r\n", kUnsupportedExpectation, 417},
};

INSTANTIATE_TEST_SUITE_P(Cases, Http1ParserRejects, testing::ValuesIn(kRejectCases), CaseName{});

// ---- Incremental parsing, pipelining, limits ----------------------------------------

TEST(Http1Parser, AsksForMoreUntilTheHeadEnds) {
  Http1RequestParser parser;
  EXPECT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\n")).status, ParseStatus::kNeedMore);
  EXPECT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r")).status, ParseStatus::kNeedMore);
  EXPECT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).status,
            ParseStatus::kComplete);
}

TEST(Http1Parser, KeepsHeadersInOrderWithViewsIntoTheBuffer) {
  const std::string request = "GET / HTTP/1.1\r\nHost: a\r\nX-One: 1\r\nx-two:2\r\n\r\n";
  Http1RequestParser parser;
  ASSERT_EQ(parser.parse(bytes(request)).status, ParseStatus::kComplete);
  const auto& headers = parser.head().headers;
  ASSERT_EQ(headers.size(), 3u);
  EXPECT_EQ(headers[1].name, "X-One");
  EXPECT_EQ(headers[1].value, "1");
  EXPECT_EQ(headers[2].name, "x-two");
  EXPECT_EQ(headers[2].value, "2");
  EXPECT_GE(headers[2].value.data(), request.data());
  EXPECT_LE(headers[2].value.data() + 1, request.data() + request.size());
}

TEST(Http1Parser, ParsesPipelinedRequestsOneAfterTheOther) {
  const std::string buffer =
      "POST /a HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      "GET /b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n";
  Http1RequestParser parser;
  ASSERT_EQ(parser.parse(bytes(buffer)).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.head().target, "/a");
  const std::size_t next = parser.head().head_bytes + parser.head().content_length;
  parser.reset();
  ASSERT_EQ(parser.parse(bytes(buffer).subspan(next)).status, ParseStatus::kComplete);
  EXPECT_EQ(parser.head().target, "/b");
  EXPECT_EQ(parser.head().host, "b");
  EXPECT_FALSE(parser.head().keep_alive);
  EXPECT_EQ(next + parser.head().head_bytes, buffer.size());
}

TEST(Http1Parser, ResetKeepsTheHeaderStorage) {
  Http1RequestParser parser;
  ASSERT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n\r\n")).status,
            ParseStatus::kComplete);
  const HeaderField* storage = parser.head().headers.data();
  parser.reset();
  EXPECT_TRUE(parser.head().headers.empty());
  ASSERT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).status,
            ParseStatus::kComplete);
  EXPECT_EQ(parser.head().headers.data(), storage);
}

TEST(Http1Parser, RepeatsItsResultUntilReset) {
  Http1RequestParser parser;
  const std::string_view bad = "GET / HTTP/1.1\r\n\r\n";
  EXPECT_EQ(parser.parse(bytes(bad)).error, make_error_code(kMissingHost));
  EXPECT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")).error,
            make_error_code(kMissingHost));
}

TEST(Http1Parser, RecognisesUpgradeExpectAndTe) {
  Http1RequestParser parser;
  ASSERT_EQ(parser
                .parse(bytes("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: keep-alive, Upgrade\r\n"
                             "Upgrade: websocket\r\nExpect: 100-Continue\r\nTE: trailers\r\n\r\n"))
                .status,
            ParseStatus::kComplete);
  EXPECT_TRUE(parser.head().wants_upgrade);
  EXPECT_EQ(parser.head().upgrade, "websocket");
  EXPECT_TRUE(parser.head().expect_continue);
  EXPECT_TRUE(parser.head().te_trailers);
}

TEST(Http1Parser, IgnoresUpgradeWithoutConnectionUpgradeOrInHttp10) {
  Http1RequestParser parser;
  ASSERT_EQ(parser.parse(bytes("GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\n\r\n")).status,
            ParseStatus::kComplete);
  EXPECT_FALSE(parser.head().wants_upgrade);
  parser.reset();
  ASSERT_EQ(parser
                .parse(bytes("GET / HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: h2c\r\n"
                             "Expect: 100-continue\r\n\r\n"))
                .status,
            ParseStatus::kComplete);
  EXPECT_FALSE(parser.head().wants_upgrade);
  EXPECT_FALSE(parser.head().expect_continue);
}

TEST(Http1Parser, CloseWinsOverKeepAlive) {
  Http1RequestParser parser;
  ASSERT_EQ(
      parser.parse(bytes("GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"))
          .status,
      ParseStatus::kComplete);
  EXPECT_FALSE(parser.head().keep_alive);
}

struct LimitCase {
  std::string_view name;
  Limits limits;
  std::string request;
  http_errc error;
  int status;
};

class Http1ParserLimits : public testing::TestWithParam<LimitCase> {};

TEST_P(Http1ParserLimits, RejectsAHeadBeyondTheLimitWhetherWholeOrIncomplete) {
  const LimitCase& c = GetParam();
  for (const bool whole : {true, false}) {
    Http1RequestParser parser(c.limits);
    std::string storage;
    const ParseResult result =
        whole ? parser.parse(bytes(c.request)) : parse_bytewise(parser, c.request, storage);
    ASSERT_EQ(result.status, ParseStatus::kError) << (whole ? "whole" : "bytewise");
    EXPECT_EQ(result.error, make_error_code(c.error));
    EXPECT_EQ(result.status_code, c.status);
  }
}

std::string long_header(std::size_t value_bytes) {
  return "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(value_bytes, 'v') + "\r\n\r\n";
}

std::string many_headers(std::size_t count) {
  std::string request = "GET / HTTP/1.1\r\nHost: a\r\n";
  for (std::size_t i = 0; i < count; ++i)
    request += "X-" + std::to_string(i) + ": v\r\n";
  return request + "\r\n";
}

const LimitCase kLimitCases[] = {
    {"head_too_large", Limits{.max_head_bytes = 100}, long_header(200), kHeadTooLarge, 431},
    {"head_too_large_without_end", Limits{.max_head_bytes = 100},
     "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'v'), kHeadTooLarge, 431},
    {"request_line_too_long", Limits{.max_request_line_bytes = 20},
     "GET /" + std::string(30, 'a') + " HTTP/1.1\r\nHost: a\r\n\r\n", kRequestLineTooLong, 414},
    {"too_many_headers", Limits{.max_header_count = 10}, many_headers(10), kTooManyHeaders, 431},
    {"too_many_headers_default", Limits{}, many_headers(100), kTooManyHeaders, 431},
    {"default_head_limit", Limits{}, long_header(64 * 1024), kHeadTooLarge, 431},
};

INSTANTIATE_TEST_SUITE_P(Cases, Http1ParserLimits, testing::ValuesIn(kLimitCases), CaseName{});

TEST(Http1Parser, AcceptsAHeadExactlyAtTheLimits) {
  const std::string request = "GET /abc HTTP/1.1\r\nHost: a\r\n\r\n";
  Limits limits;
  limits.max_head_bytes = request.size();
  limits.max_request_line_bytes = std::string_view("GET /abc HTTP/1.1").size();
  limits.max_header_count = 1;
  Http1RequestParser parser(limits);
  EXPECT_EQ(parser.parse(bytes(request)).status, ParseStatus::kComplete);
}

// ---- Field lines and the error category -----------------------------------------

TEST(ParseFieldLine, TrimsOptionalWhitespaceAroundTheValue) {
  HeaderField field;
  ASSERT_FALSE(parse_field_line("Name:\t value with  inner space \t", field));
  EXPECT_EQ(field.name, "Name");
  EXPECT_EQ(field.value, "value with  inner space");
}

TEST(HttpErrorCategory, GivesEachCodeAUniqueNameAndALowercaseMessage) {
  std::set<std::string_view> names;
  for (int value = 1; value <= static_cast<int>(kForbiddenTrailer); ++value) {
    const auto code = static_cast<http_errc>(value);
    const std::string message = make_error_code(code).message();
    EXPECT_TRUE(names.insert(http_errc_name(code)).second) << http_errc_name(code);
    ASSERT_FALSE(message.empty());
    EXPECT_NE(message.back(), '.') << message;
    EXPECT_FALSE(std::isupper(static_cast<unsigned char>(message.front()))) << message;
  }
  EXPECT_EQ(make_error_code(kHeadTooLarge).category().name(), std::string("http"));
}

TEST(HttpErrorCategory, MapsErrorsOfOtherCategoriesTo400) {
  EXPECT_EQ(http_status(std::make_error_code(std::errc::invalid_argument)), 400);
  EXPECT_EQ(http_status(make_error_code(kUnsupportedVersion)), 505);
}

}  // namespace
}  // namespace usher::proxy
