#include "core/caddyfile/lexer.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace usher::core::caddyfile {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

std::vector<Token> lex_ok(std::string_view text, std::span<const size_t> synthetic = {}) {
  Diagnostics diagnostics;
  auto tokens = tokenize(text, "Caddyfile", diagnostics, synthetic);
  EXPECT_TRUE(tokens.has_value()) << diagnostics.str();
  EXPECT_FALSE(diagnostics.has_errors()) << diagnostics.str();
  return tokens.value_or(std::vector<Token>{});
}

std::vector<std::string> texts(const std::vector<Token>& tokens) {
  std::vector<std::string> out;
  for (const auto& t : tokens)
    out.push_back(t.text);
  return out;
}

struct TextCase {
  const char* name;
  const char* input;
  std::vector<std::string> expected;
};

class LexerTexts : public ::testing::TestWithParam<TextCase> {};

TEST_P(LexerTexts, ProducesTheExpectedTokenTexts) {
  EXPECT_THAT(texts(lex_ok(GetParam().input)), ElementsAreArray(GetParam().expected));
}

INSTANTIATE_TEST_SUITE_P(
    Lexer, LexerTexts,
    ::testing::Values(
        TextCase{"SplitsOnAnyWhitespace", "a  b\tc\n d\r\n", {"a", "b", "c", "d"}},
        TextCase{"KeepsQuotedStringsAsOneToken", "\"a b\" c", {"a b", "c"}},
        TextCase{"UnescapesOnlyQuotesInQuotedStrings", R"("say \"hi\"")", {"say \"hi\""}},
        TextCase{"KeepsOtherBackslashesInQuotedStrings", R"("a\nb\\")", {R"(a\nb\\)"}},
        TextCase{"KeepsBacktickStringsVerbatim", "`a \"b\" \\` c", {"a \"b\" \\", "c"}},
        TextCase{"EndsAQuotedTokenAtItsClosingQuote", "\"a\"b", {"a", "b"}},
        TextCase{"TreatsQuotesInsideAWordAsLiteral", "a\"b c", {"a\"b", "c"}},
        TextCase{"SkipsACommentStartingAToken", "a #b c\nd", {"a", "d"}},
        TextCase{"KeepsAHashInsideAToken", "a#b c", {"a#b", "c"}},
        TextCase{"KeepsAHashInsideQuotes", "\"#a\" b", {"#a", "b"}},
        TextCase{"SplitsBracesOnlyWhenSeparatedBySpace", "a{ } {} }b", {"a{", "}", "{}", "}b"}},
        TextCase{"KeepsPlaceholdersAsWords",
                 "{host} {http.request.uri}",
                 {"{host}", "{http.request.uri}"}},
        TextCase{"TurnsEscapedAngleIntoLiteralHeredocText", "\\<<EOF a", {"<<EOF", "a"}},
        TextCase{"KeepsOtherBackslashesInWords", "a\\b c\\", {"a\\b", "c\\"}},
        TextCase{"SkipsAByteOrderMark",
                 "\xEF\xBB\xBF"
                 "a b",
                 {"a", "b"}},
        TextCase{"ReadsNothingFromAnEmptyText", "  \n\n # only a comment\n", {}},
        TextCase{"JoinsLinesAfterABackslash", "a \\\n  b", {"a", "b"}}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Lexer, MarksQuotedTokensWithTheirQuoteCharacter) {
  auto tokens = lex_ok("plain \"dq\" `bt`");
  ASSERT_EQ(tokens.size(), 3u);
  EXPECT_FALSE(tokens[0].quoted);
  EXPECT_EQ(tokens[0].quote, 0);
  EXPECT_TRUE(tokens[1].quoted);
  EXPECT_EQ(tokens[1].quote, '"');
  EXPECT_TRUE(tokens[2].quoted);
  EXPECT_EQ(tokens[2].quote, '`');
}

TEST(Lexer, TreatsAQuotedBraceAsAWordNotABrace) {
  auto tokens = lex_ok("\"{\" {");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_FALSE(tokens[0].is_open_brace());
  EXPECT_TRUE(tokens[1].is_open_brace());
}

TEST(Lexer, NumbersLinesAndMarksTheFirstTokenOfEachLine) {
  auto tokens = lex_ok("a b\n\n  c\nd");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[0].line, 1);
  EXPECT_EQ(tokens[2].line, 3);
  EXPECT_EQ(tokens[3].line, 4);
  EXPECT_TRUE(tokens[0].new_line);
  EXPECT_FALSE(tokens[1].new_line);
  EXPECT_TRUE(tokens[2].new_line);
  EXPECT_TRUE(tokens[3].new_line);
  EXPECT_EQ(tokens[0].file, "Caddyfile");
}

TEST(Lexer, ContinuesALogicalLineAfterATrailingBackslash) {
  auto tokens = lex_ok("reverse_proxy a \\  \n  b\nc");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[2].text, "b");
  EXPECT_EQ(tokens[2].line, 2);  // the physical line stays right
  EXPECT_FALSE(tokens[2].new_line);
  EXPECT_TRUE(tokens[3].new_line);
  EXPECT_EQ(tokens[3].line, 3);
}

TEST(Lexer, CountsLinesInsideMultiLineQuotedStrings) {
  auto tokens = lex_ok("respond \"a\nb\" 200\nnext");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[1].text, "a\nb");
  EXPECT_EQ(tokens[1].line, 1);
  EXPECT_EQ(tokens[2].line, 2);
  EXPECT_FALSE(tokens[2].new_line);
  EXPECT_EQ(tokens[3].line, 3);
  EXPECT_TRUE(tokens[3].new_line);
}

TEST(Lexer, StripsTheClosingMarkerIndentationFromAHeredoc) {
  auto tokens = lex_ok("respond <<HTML\n\t\t<p>hi</p>\n\n\t\t  <b>x</b>\n\t\tHTML 200\nnext");
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[1].text, "<p>hi</p>\n\n  <b>x</b>");
  EXPECT_TRUE(tokens[1].heredoc);
  EXPECT_TRUE(tokens[1].quoted);
  EXPECT_EQ(tokens[1].line, 1);
  EXPECT_EQ(tokens[2].text, "200");
  EXPECT_EQ(tokens[2].line, 5);
  EXPECT_FALSE(tokens[2].new_line);  // the marker line continues the directive
  EXPECT_EQ(tokens[3].line, 6);
}

TEST(Lexer, ReadsAnEmptyHeredoc) {
  auto tokens = lex_ok("respond <<EOF\nEOF");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].text, "");
  EXPECT_TRUE(tokens[1].heredoc);
}

TEST(Lexer, DoesNotEndAHeredocAtAWordThatOnlyStartsWithTheMarker) {
  auto tokens = lex_ok("respond <<END\nENDING\nEND");
  ASSERT_EQ(tokens.size(), 2u);
  EXPECT_EQ(tokens[1].text, "ENDING");
}

TEST(Lexer, DoesNotCountNewlinesThatCameFromSubstitutedValues) {
  // "a\nb c" where the newline at offset 1 came from an environment value.
  const std::vector<size_t> synthetic{1};
  auto tokens = lex_ok("a\nb c\nd", synthetic);
  ASSERT_EQ(tokens.size(), 4u);
  EXPECT_EQ(tokens[1].line, 1);
  EXPECT_TRUE(tokens[1].new_line);  // still a new logical line, as in Caddy
  EXPECT_EQ(tokens[3].line, 2);
}

TEST(Lexer, ReturnsCommentsAndRawSpellingsWhenAsked) {
  Diagnostics diagnostics;
  LexOptions options;
  options.comments = true;
  auto lexemes = lex("a \"b c\"  # note  \n\n\nd", "f", diagnostics, options);
  ASSERT_TRUE(lexemes);
  ASSERT_EQ(lexemes->size(), 4u);
  EXPECT_EQ((*lexemes)[1].raw, "\"b c\"");
  EXPECT_TRUE((*lexemes)[2].is_comment());
  EXPECT_EQ((*lexemes)[2].token.text, "# note");
  EXPECT_EQ((*lexemes)[3].newlines_before, 3);
}

TEST(Lexer, KeepsAnEnvPlaceholderWithSpacesAsOneTokenWhenAsked) {
  Diagnostics diagnostics;
  LexOptions options;
  options.keep_env_placeholders = true;
  auto lexemes = lex("bind {$ADDR:a b} x", "f", diagnostics, options);
  ASSERT_TRUE(lexemes);
  ASSERT_EQ(lexemes->size(), 3u);
  EXPECT_EQ((*lexemes)[1].raw, "{$ADDR:a b}");
}

struct ErrorCase {
  const char* name;
  const char* input;
  const char* expected;  // the rendered diagnostic
};

class LexerErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(LexerErrors, ReportsTheFileLineAndProblem) {
  Diagnostics diagnostics;
  auto tokens = tokenize(GetParam().input, "Caddyfile", diagnostics);
  EXPECT_FALSE(tokens.has_value());
  ASSERT_EQ(diagnostics.items().size(), 1u);
  EXPECT_EQ(diagnostics.items()[0].str(), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Lexer, LexerErrors,
    ::testing::Values(
        ErrorCase{"UnterminatedQuote", "a\nb \"c\nd",
                  "Caddyfile:2: unterminated quoted string: missing closing `\"`; a `\"` inside a "
                  "quoted string is written `\\\"`"},
        ErrorCase{"UnterminatedBacktick", "a `b",
                  "Caddyfile:1: unterminated backtick string: missing closing `` ` ``"},
        ErrorCase{"UnterminatedHeredoc", "a\nrespond <<EOF\nhello\n",
                  "Caddyfile:2: unterminated heredoc: missing closing marker `EOF`; end the "
                  "heredoc with a line holding only `EOF`"},
        ErrorCase{"InvalidHeredocMarker", "respond <<E.F\nx\nE.F",
                  "Caddyfile:1: invalid heredoc marker `E.F`; a marker is letters, digits, `-` and "
                  "`_`, and ends its line"},
        ErrorCase{"TextAfterHeredocMarker", "respond <<EOF 200\nx\nEOF",
                  "Caddyfile:1: invalid heredoc marker `EOF 200`; a marker is letters, digits, `-` "
                  "and `_`, and ends its line"},
        ErrorCase{"TooManyAngles", "respond <<<EOF\nx\nEOF",
                  "Caddyfile:1: too many `<` for a heredoc; use two, for example `<<END`"},
        ErrorCase{"MissingMarker", "respond <<\nx",
                  "Caddyfile:1: heredoc `<<` without a marker; name the marker, for example "
                  "`<<END`"},
        ErrorCase{"MarkerAtEndOfFile", "respond <<EOF",
                  "Caddyfile:1: heredoc marker `<<EOF` must be followed by a new line; write the "
                  "heredoc body on the lines after `<<MARKER`"},
        ErrorCase{"HeredocLineIndentedLessThanMarker", "respond <<EOF\n\t\tok\n\tshort\n\t\tEOF",
                  "Caddyfile:3: heredoc line is indented less than its closing marker `EOF`; "
                  "indent every line of the heredoc at least as much as the closing marker"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

}  // namespace
}  // namespace usher::core::caddyfile
