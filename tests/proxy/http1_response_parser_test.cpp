#include "proxy/http1_response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

namespace usher::proxy {
namespace {

ParseStatus parse_all(Http1ResponseParser& parser, std::string_view text, std::error_code& ec,
                      bool head_request = false) {
  parser.reset(head_request);
  return parser.parse(std::span<const char>(text.data(), text.size()), ec);
}

struct FramingCase {
  std::string_view name;
  std::string_view response;
  bool head_request;
  ResponseFraming framing;
  bool keep_alive;
};

class FramingCases : public testing::TestWithParam<FramingCase> {};

TEST_P(FramingCases, IsDecidedAsRfc9112Section63Says) {
  const FramingCase& c = GetParam();
  Http1ResponseParser parser;
  std::error_code ec;
  ASSERT_EQ(parse_all(parser, c.response, ec, c.head_request), ParseStatus::kComplete)
      << ec.message();
  EXPECT_EQ(parser.head().framing, c.framing);
  EXPECT_EQ(parser.head().keep_alive, c.keep_alive);
  EXPECT_EQ(parser.head().head_bytes, c.response.size());
}

INSTANTIATE_TEST_SUITE_P(
    Http1ResponseParser, FramingCases,
    testing::Values(
        FramingCase{"content_length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false,
                    ResponseFraming::kContentLength, true},
        FramingCase{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", false,
                    ResponseFraming::kChunked, true},
        FramingCase{"te_not_chunked_runs_to_close",
                    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", false,
                    ResponseFraming::kUntilClose, false},
        FramingCase{"no_length_runs_to_close", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\n", false,
                    ResponseFraming::kUntilClose, false},
        FramingCase{"no_content", "HTTP/1.1 204 No Content\r\n\r\n", false, ResponseFraming::kNone,
                    true},
        FramingCase{"not_modified_with_length",
                    "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", false,
                    ResponseFraming::kNone, true},
        FramingCase{"head_answer", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true,
                    ResponseFraming::kNone, true},
        FramingCase{"interim", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", false,
                    ResponseFraming::kNone, true},
        FramingCase{"switching", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
                    false, ResponseFraming::kNone, false},
        FramingCase{"connection_close",
                    "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false,
                    ResponseFraming::kContentLength, false},
        FramingCase{"http10_default_close", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", false,
                    ResponseFraming::kContentLength, false},
        FramingCase{"http10_keep_alive",
                    "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\n", false,
                    ResponseFraming::kContentLength, true},
        FramingCase{"identical_length_list", "HTTP/1.1 200 OK\r\nContent-Length: 7, 7\r\n\r\n",
                    false, ResponseFraming::kContentLength, true},
        FramingCase{"empty_reason", "HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n", false,
                    ResponseFraming::kContentLength, true}),
    [](const testing::TestParamInfo<FramingCase>& p) { return std::string(p.param.name); });

struct RejectCase {
  std::string_view name;
  std::string_view response;
  std::error_code expected;
};

class MalformedResponse : public testing::TestWithParam<RejectCase> {};

TEST_P(MalformedResponse, IsRejected) {
  const RejectCase& c = GetParam();
  Http1ResponseParser parser;
  std::error_code ec;
  EXPECT_EQ(parse_all(parser, c.response, ec), ParseStatus::kError);
  EXPECT_EQ(ec, c.expected) << ec.message();
}

INSTANTIATE_TEST_SUITE_P(
    Http1ResponseParser, MalformedResponse,
    testing::Values(
        RejectCase{"length_and_chunked",
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                   upstream_errc::kContentLengthWithTransferEncoding},
        RejectCase{"differing_lengths",
                   "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                   upstream_errc::kConflictingContentLength},
        RejectCase{"signed_length", "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\n",
                   upstream_errc::kInvalidContentLength},
        RejectCase{"huge_length", "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
                   upstream_errc::kInvalidContentLength},
        RejectCase{"bare_lf", "HTTP/1.1 200 OK\nContent-Length: 3\r\n\r\n", upstream_errc::kBareLf},
        RejectCase{"http2_status_line", "HTTP/2 200 OK\r\n\r\n",
                   upstream_errc::kUnsupportedVersion},
        RejectCase{"short_status", "HTTP/1.1 20 OK\r\n\r\n", upstream_errc::kInvalidStatusLine},
        RejectCase{"not_http", "ICY 200 OK\r\n\r\n", upstream_errc::kInvalidStatusLine},
        RejectCase{"leading_empty_line", "\r\nHTTP/1.1 200 OK\r\n\r\n",
                   upstream_errc::kInvalidStatusLine},
        RejectCase{"te_in_http10", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
                   upstream_errc::kTransferEncodingInHttp10},
        RejectCase{"obs_fold", "HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\n\r\n",
                   http_errc::kObsFold},
        RejectCase{"space_before_colon", "HTTP/1.1 200 OK\r\nX-A : 1\r\n\r\n",
                   http_errc::kWhitespaceBeforeColon}),
    [](const testing::TestParamInfo<RejectCase>& p) { return std::string(p.param.name); });

TEST(Http1ResponseParser, ReadsStatusReasonAndHeadersInOrder) {
  Http1ResponseParser parser;
  std::error_code ec;
  ASSERT_EQ(parse_all(parser, "HTTP/1.1 404 Not Here\r\nA: 1\r\nb: two words\r\n\r\n", ec),
            ParseStatus::kComplete);
  EXPECT_EQ(parser.head().status, 404);
  EXPECT_EQ(parser.head().reason, "Not Here");
  ASSERT_EQ(parser.head().headers.size(), 2u);
  EXPECT_EQ(parser.head().headers[1].name, "b");
  EXPECT_EQ(parser.head().headers[1].value, "two words");
}

TEST(Http1ResponseParser, ResumesAcrossPartialReads) {
  const std::string text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";
  Http1ResponseParser parser;
  parser.reset(false);
  std::error_code ec;
  for (size_t n = 1; n < 38; ++n)
    ASSERT_EQ(parser.parse(std::span<const char>(text.data(), n), ec), ParseStatus::kNeedMore) << n;
  ASSERT_EQ(parser.parse(std::span<const char>(text.data(), text.size()), ec),
            ParseStatus::kComplete);
  EXPECT_EQ(parser.head().head_bytes, 38u);
  EXPECT_EQ(parser.head().content_length, 2u);
}

TEST(Http1ResponseParser, RefusesHeadsBeyondTheLimit) {
  Http1ResponseParser parser(ResponseLimits{.max_head_bytes = 64, .max_header_count = 100});
  parser.reset(false);
  std::string text = "HTTP/1.1 200 OK\r\nX-Long: " + std::string(100, 'a') + "\r\n\r\n";
  std::error_code ec;
  EXPECT_EQ(parser.parse(std::span<const char>(text.data(), text.size()), ec), ParseStatus::kError);
  EXPECT_EQ(ec, upstream_errc::kHeadTooLarge);
}

TEST(Http1ResponseParser, RefusesTooManyHeaderFields) {
  Http1ResponseParser parser(ResponseLimits{.max_head_bytes = 64 * 1024, .max_header_count = 3});
  std::string text = "HTTP/1.1 200 OK\r\n";
  for (int i = 0; i < 5; ++i)
    text += "X: 1\r\n";
  text += "\r\n";
  std::error_code ec;
  EXPECT_EQ(parse_all(parser, text, ec), ParseStatus::kError);
  EXPECT_EQ(ec, upstream_errc::kTooManyHeaders);
}

TEST(Http1ResponseParser, KeepsTheDeclaredLengthOfAHeadAnswer) {
  Http1ResponseParser parser;
  std::error_code ec;
  ASSERT_EQ(parse_all(parser, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", ec, true),
            ParseStatus::kComplete);
  EXPECT_TRUE(parser.head().has_content_length);
  EXPECT_EQ(parser.head().content_length, 1234u);
}

TEST(Http1ResponseParser, ReportsTheUpgradeProtocolOfA101) {
  Http1ResponseParser parser;
  std::error_code ec;
  ASSERT_EQ(parse_all(parser,
                      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
                      "Upgrade: websocket\r\n\r\n",
                      ec),
            ParseStatus::kComplete);
  EXPECT_EQ(parser.head().upgrade, "websocket");
}

}  // namespace
}  // namespace usher::proxy
