#include "proxy/chunked_decoder.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "proxy/http_error.h"

namespace usher::proxy {
namespace {

/// What decoding a whole body produced.
struct Decoded {
  std::string data;
  std::vector<TrailerField> trailers;
  std::error_code error;
  bool done = false;
  std::size_t consumed = 0;  // bytes of the input before the end of the body
};

/// Feeds `pieces` in order, as reads from a socket would arrive, and collects
/// the data spans. Unconsumed bytes of a piece are fed again, as a connection
/// would keep them in its buffer.
Decoded decode_pieces(ChunkedDecoder& decoder, const std::vector<std::string>& pieces) {
  Decoded out;
  for (const std::string& piece : pieces) {
    std::span<const char> input(piece.data(), piece.size());
    while (!input.empty()) {
      const ChunkedDecoder::Step step = decoder.decode(input);
      out.data.append(step.data.data(), step.data.size());
      out.consumed += step.consumed;
      input = input.subspan(step.consumed);
      if (step.error || step.done) {
        out.error = step.error;
        out.done = step.done;
        out.trailers = decoder.trailers();
        return out;
      }
      if (step.consumed == 0) {
        ADD_FAILURE() << "decoder made no progress";
        return out;
      }
    }
  }
  return out;
}

Decoded decode_whole(std::string_view body, ChunkedLimits limits = {}) {
  ChunkedDecoder decoder(limits);
  return decode_pieces(decoder, {std::string(body)});
}

constexpr std::string_view kSample =
    "5\r\nhello\r\n"
    "6;lang=en;q=\"a \\\"b\\\"\"\r\n world\r\n"
    "000A\r\n, chunked!\r\n"
    "0\r\n"
    "X-Checksum: abc123\r\n"
    "X-Note:  done \r\n"
    "\r\n";
constexpr std::string_view kSampleData = "hello world, chunked!";

TEST(ChunkedDecoder, DecodesDataAndTrailers) {
  const Decoded out = decode_whole(kSample);
  ASSERT_FALSE(out.error) << out.error.message();
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.data, kSampleData);
  EXPECT_EQ(out.consumed, kSample.size());
  ASSERT_EQ(out.trailers.size(), 2u);
  EXPECT_EQ(out.trailers[0].name, "X-Checksum");
  EXPECT_EQ(out.trailers[0].value, "abc123");
  EXPECT_EQ(out.trailers[1].name, "X-Note");
  EXPECT_EQ(out.trailers[1].value, "done");
}

TEST(ChunkedDecoder, GivesTheSameResultForEverySplitPoint) {
  for (std::size_t split = 0; split <= kSample.size(); ++split) {
    ChunkedDecoder decoder;
    const Decoded out = decode_pieces(
        decoder, {std::string(kSample.substr(0, split)), std::string(kSample.substr(split))});
    EXPECT_TRUE(out.done) << "split at " << split;
    EXPECT_EQ(out.data, kSampleData) << "split at " << split;
    EXPECT_EQ(out.trailers.size(), 2u) << "split at " << split;
    EXPECT_EQ(out.consumed, kSample.size()) << "split at " << split;
  }
}

TEST(ChunkedDecoder, GivesTheSameResultOneByteAtATime) {
  std::vector<std::string> pieces;
  for (char c : kSample)
    pieces.emplace_back(1, c);
  ChunkedDecoder decoder;
  const Decoded out = decode_pieces(decoder, pieces);
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.data, kSampleData);
  EXPECT_EQ(out.trailers.size(), 2u);
}

TEST(ChunkedDecoder, ReturnsDataAsViewsIntoTheInput) {
  const std::string body = "3\r\nabc\r\n0\r\n\r\n";
  ChunkedDecoder decoder;
  const ChunkedDecoder::Step step = decoder.decode({body.data(), body.size()});
  ASSERT_EQ(step.data.size(), 3u);
  EXPECT_EQ(step.data.data(), body.data() + 3);
  EXPECT_EQ(step.consumed, 6u);
}

TEST(ChunkedDecoder, StopsAtTheEndOfTheBody) {
  const Decoded out = decode_whole("0\r\n\r\nGET / HTTP/1.1\r\n");
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.consumed, 5u);
}

TEST(ChunkedDecoder, AsksForMoreWhenTheInputEnds) {
  ChunkedDecoder decoder;
  const std::string partial = "5\r\nhel";
  const ChunkedDecoder::Step first = decoder.decode({partial.data(), partial.size()});
  EXPECT_EQ(first.consumed, partial.size());
  EXPECT_FALSE(first.done);
  EXPECT_FALSE(first.error);
  EXPECT_EQ(std::string_view(first.data.data(), first.data.size()), "hel");
  EXPECT_FALSE(decoder.done());
}

TEST(ChunkedDecoder, StaysFailedUntilReset) {
  ChunkedDecoder decoder;
  const std::string bad = "x\r\n";
  EXPECT_TRUE(decoder.decode({bad.data(), bad.size()}).error);
  const std::string good = "0\r\n\r\n";
  EXPECT_EQ(decoder.decode({good.data(), good.size()}).error,
            make_error_code(http_errc::kInvalidChunkSize));
  decoder.reset();
  EXPECT_TRUE(decoder.decode({good.data(), good.size()}).done);
}

struct AcceptCase {
  std::string_view name;
  std::string_view body;
  std::string_view data;
};

class ChunkedDecoderAccepts : public testing::TestWithParam<AcceptCase> {};

TEST_P(ChunkedDecoderAccepts, Body) {
  const Decoded out = decode_whole(GetParam().body);
  ASSERT_FALSE(out.error) << out.error.message();
  EXPECT_TRUE(out.done);
  EXPECT_EQ(out.data, GetParam().data);
}

const AcceptCase kAcceptCases[] = {
    {"empty_body", "0\r\n\r\n", ""},
    {"uppercase_hex", "A\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
    {"lowercase_hex", "a\r\n0123456789\r\n0\r\n\r\n", "0123456789"},
    {"leading_zeros", "0005\r\nhello\r\n0000\r\n\r\n", "hello"},
    {"sixteen_digits", "0000000000000003\r\nabc\r\n0\r\n\r\n", "abc"},
    {"extension_without_value", "3;flag\r\nabc\r\n0\r\n\r\n", "abc"},
    {"extension_bad_whitespace_around_separators", "3 ; a = b ;c\r\nabc\r\n0\r\n\r\n", "abc"},
    {"quoted_extension", "3;a=\"x;y=z \\\\ \"\r\nabc\r\n0\r\n\r\n", "abc"},
    {"extension_on_last_chunk", "3\r\nabc\r\n0;end\r\n\r\n", "abc"},
    {"data_with_crlf_inside", "4\r\n\r\n\r\n\r\n0\r\n\r\n", "\r\n\r\n"},
};

INSTANTIATE_TEST_SUITE_P(Cases, ChunkedDecoderAccepts, testing::ValuesIn(kAcceptCases),
                         [](const testing::TestParamInfo<AcceptCase>& param) {
                           return std::string(param.param.name);
                         });

struct RejectCase {
  std::string_view name;
  std::string_view body;
  http_errc error;
  ChunkedLimits limits = {};
};

class ChunkedDecoderRejects : public testing::TestWithParam<RejectCase> {};

TEST_P(ChunkedDecoderRejects, Whole) {
  const Decoded out = decode_whole(GetParam().body, GetParam().limits);
  EXPECT_FALSE(out.done);
  EXPECT_EQ(out.error, make_error_code(GetParam().error)) << out.error.message();
}

TEST_P(ChunkedDecoderRejects, OneByteAtATimeTheSameWay) {
  std::vector<std::string> pieces;
  for (char c : GetParam().body)
    pieces.emplace_back(1, c);
  ChunkedDecoder decoder(GetParam().limits);
  const Decoded out = decode_pieces(decoder, pieces);
  EXPECT_EQ(out.error, make_error_code(GetParam().error)) << out.error.message();
}

using enum http_errc;

const RejectCase kRejectCases[] = {
    {"empty_size", "\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"leading_space", " 3\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"hex_prefix", "0x3\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"plus_sign", "+3\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"minus_sign", "-3\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"non_hex_digit", "3g\r\nabc\r\n0\r\n\r\n", kInvalidChunkSize},
    {"trailing_whitespace", "3 \r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"seventeen_digits", "00000000000000003\r\nabc\r\n0\r\n\r\n", kChunkSizeTooLarge},
    {"overflow", "1ffffffffffffffff\r\n", kChunkSizeTooLarge},
    {"above_int64", "8000000000000000\r\n", kChunkSizeTooLarge},
    {"above_configured_max", "401\r\n", kChunkSizeTooLarge, {.max_chunk_size = 1024}},
    {"bare_lf_after_size", "3\nabc\r\n0\r\n\r\n", kBareLf},
    {"bare_cr_after_size", "3\rabc\r\n0\r\n\r\n", kBareCr},
    {"data_longer_than_size", "3\r\nabcd\r\n0\r\n\r\n", kMissingChunkCrlf},
    {"data_ends_with_lf", "3\r\nabc\n0\r\n\r\n", kMissingChunkCrlf},
    {"data_ends_with_cr_only", "3\r\nabc\r0\r\n\r\n", kMissingChunkCrlf},
    {"extension_without_name", "3;\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_without_value", "3;a=\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_name_with_separator", "3;a/b\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_two_names", "3;a b\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_trailing_whitespace", "3;a \r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_unterminated_quote", "3;a=\"b\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_control_char", "3;a=b\x01\r\nabc\r\n0\r\n\r\n", kInvalidChunkExtension},
    {"extension_bare_lf", "3;a\nabc\r\n0\r\n\r\n", kBareLf},
    {"extension_quoted_bare_lf", "3;a=\"\n\"\r\nabc\r\n0\r\n\r\n", kBareLf},
    {"extension_too_long",
     "3;aaaaaaaaaaaaaaaaaaaa\r\nabc\r\n0\r\n\r\n",
     kChunkExtensionTooLong,
     {.max_extension_bytes = 8}},
    {"last_chunk_bare_lf", "0\n\r\n", kBareLf},
    {"end_of_trailers_bare_lf", "0\r\n\n", kBareLf},
    {"trailer_bare_lf", "0\r\nX-A: b\n\r\n", kBareLf},
    {"trailer_bare_cr", "0\r\nX-A: b\rc\r\n\r\n", kBareCr},
    {"trailer_obs_fold", "0\r\nX-A: b\r\n c\r\n\r\n", kObsFold},
    {"trailer_space_before_colon", "0\r\nX-A : b\r\n\r\n", kWhitespaceBeforeColon},
    {"trailer_nul", std::string_view("0\r\nX-A: \0\r\n\r\n", 13), kInvalidHeaderValue},
    {"trailer_without_colon", "0\r\nX-A\r\n\r\n", kMissingColon},
    {"trailer_content_length", "0\r\nContent-Length: 5\r\n\r\n", kForbiddenTrailer},
    {"trailer_transfer_encoding_underscore", "0\r\nTransfer_Encoding: chunked\r\n\r\n",
     kForbiddenTrailer},
    {"trailer_host", "0\r\nhost: evil\r\n\r\n", kForbiddenTrailer},
    {"trailers_too_large",
     "0\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
     kTrailersTooLarge,
     {.max_trailer_bytes = 16}},
    {"too_many_trailers",
     "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
     kTrailersTooLarge,
     {.max_trailer_count = 2}},
};

INSTANTIATE_TEST_SUITE_P(Cases, ChunkedDecoderRejects, testing::ValuesIn(kRejectCases),
                         [](const testing::TestParamInfo<RejectCase>& param) {
                           return std::string(param.param.name);
                         });

}  // namespace
}  // namespace usher::proxy
