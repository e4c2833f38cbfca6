#include "core/caddyfile/format.h"

#include <gtest/gtest.h>

#include "core/caddyfile/parser.h"

namespace usher::core::caddyfile {
namespace {

struct FormatCase {
  const char* name;
  const char* input;
  const char* expected;
};

const FormatCase kCases[] = {
    {"IndentsWithTabsAndSingleSpaces", "a.com   {\n    reverse_proxy    x:1   y:2\n}",
     "a.com {\n\treverse_proxy x:1 y:2\n}\n"},
    {"IndentsNestedBlocks",
     "a.com {\n  reverse_proxy x {\n        transport http {\n  versions 2\n   }\n }\n}\n",
     "a.com {\n\treverse_proxy x {\n\t\ttransport http {\n\t\t\tversions 2\n\t\t}\n\t}\n}\n"},
    {"KeepsAtMostOneBlankLine", "\n\n{\n\n\tdebug\n\n}\n\n\n\na {\n\n\n  x\n\n\n\n  y\n\n}\n\n\n",
     "{\n\tdebug\n}\n\na {\n\tx\n\n\ty\n}\n"},
    {"KeepsOwnLineAndTrailingComments",
     "# top comment\na { # after brace\n   x   # trailing  \n  # own line\n}  # after close\n",
     "# top comment\na { # after brace\n\tx # trailing\n\t# own line\n} # after close\n"},
    {"KeepsOneLineBlocksOnOneLine",
     "a.com  {   reverse_proxy  127.0.0.1:8080   }\nb.com { handle /api/* {  respond  A } }\n",
     "a.com { reverse_proxy 127.0.0.1:8080 }\nb.com { handle /api/* { respond A } }\n"},
    {"KeepsHeredocsByteForByte", "a {\nrespond <<EOF\n    hi\n      there  \n    EOF   200\n}",
     "a {\n\trespond <<EOF\n    hi\n      there  \n    EOF 200\n}\n"},
    {"KeepsQuotedAndBacktickStringsByteForByte",
     "a {\n  respond   \"a  \\\"b\\\"\n  c\"    `x  \\y`\n}",
     "a {\n\trespond \"a  \\\"b\\\"\n  c\" `x  \\y`\n}\n"},
    {"KeepsEnvPlaceholdersAsWritten", "{$DOMAIN:localhost}   {\n reverse_proxy   {$UP:a   b}\n}",
     "{$DOMAIN:localhost} {\n\treverse_proxy {$UP:a   b}\n}\n"},
    {"IndentsContinuationLinesOneLevelDeeper", "a {\n  reverse_proxy x \\\n      y   \\\n z\n}",
     "a {\n\treverse_proxy x \\\n\t\ty \\\n\t\tz\n}\n"},
    {"FormatsSnippetsAndImports", "(common)  {\n encode gzip\n}\na.com {\nimport  common\n}",
     "(common) {\n\tencode gzip\n}\na.com {\n\timport common\n}\n"},
    {"NormalisesWindowsLineEndings", "a {\r\n  respond ok\r\n}\r\n", "a {\n\trespond ok\n}\n"},
    {"KeepsAnEmptyFileEmpty", "\n\n  \n", ""},
    {"KeepsBracelessSites", "a.com\nreverse_proxy :8080\n\n\nencode\n",
     "a.com\nreverse_proxy :8080\n\nencode\n"},
    {"DedentsAClosingBraceFollowedByMoreTokens", "a {\n  handle {\n  x\n  } # done\n}",
     "a {\n\thandle {\n\t\tx\n\t} # done\n}\n"},
};

class Format : public ::testing::TestWithParam<FormatCase> {};

TEST_P(Format, ProducesTheCanonicalText) {
  EXPECT_EQ(format(GetParam().input), GetParam().expected);
}

TEST_P(Format, IsIdempotent) {
  std::string once = format(GetParam().input);
  EXPECT_EQ(format(once), once);
}

/// Token texts, quoting and line structure of every block, but not line
/// numbers, which formatting may change.
std::string meaning(std::string_view text) {
  Diagnostics diagnostics;
  ParseOptions options;
  options.getenv = [](const std::string&) { return std::optional<std::string>("value"); };
  std::string out;
  for (const auto& block : parse(text, "Caddyfile", diagnostics, options)) {
    out += "block";
    for (const auto& key : block.keys)
      out += " " + key.text;
    for (const auto& segment : block.segments) {
      out += "\n ";
      for (const auto& t : segment.tokens) {
        out += std::string(t.new_line ? " ^" : " ") + (t.quoted ? "q:" : "") + t.text;
      }
    }
    out += "\n";
  }
  return out + diagnostics.str();
}

TEST_P(Format, NeverChangesWhatTheFileMeans) {
  EXPECT_EQ(meaning(format(GetParam().input)), meaning(GetParam().input));
}

INSTANTIATE_TEST_SUITE_P(Format, Format, ::testing::ValuesIn(kCases),
                         [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Format, MovesALoneOpenBraceUpToItsKeyRepairingTheFile) {
  const std::string formatted = format("a.com\n{\n  respond ok\n}\n");
  EXPECT_EQ(formatted, "a.com {\n\trespond ok\n}\n");
  Diagnostics diagnostics;
  parse(formatted, "Caddyfile", diagnostics);
  EXPECT_FALSE(diagnostics.has_errors()) << diagnostics.str();
}

TEST(Format, ReturnsTextThatDoesNotLexUnchanged) {
  const std::string text = "a {\n   respond \"unterminated\n}\n";
  EXPECT_EQ(format(text), text);
}

TEST(Format, KeepsABraceAfterACommentOnItsOwnLine) {
  // Joining it would comment it out.
  EXPECT_EQ(format("a.com # site\n{\n}\n"), "a.com # site\n{\n}\n");
}

TEST(Format, FormatsAFullFileIdempotently) {
  const std::string text =
      "{\n  email  admin@example.com\n    servers {\n timeouts { idle 5m }\n }\n}\n\n\n"
      "(secure)   {\n  header {\n  -Server\n  Strict-Transport-Security max-age=31536000\n }\n}\n"
      "app.example.com,   www.example.com {\n  import secure\n  @api path /api/*   # api\n"
      "  handle @api {\n reverse_proxy {$API:localhost:9000} {\n    lb_policy   first\n  }\n  }\n"
      "  respond <<HTML\n    <h1>hi</h1>\n    HTML 200\n}\n"
      "blog.example.com { reverse_proxy   127.0.0.1:2368 }\n";
  std::string once = format(text);
  EXPECT_EQ(format(once), once);
  EXPECT_EQ(meaning(once), meaning(text));
  EXPECT_NE(once, text);
}

}  // namespace
}  // namespace usher::core::caddyfile
