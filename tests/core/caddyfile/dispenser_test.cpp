#include "core/caddyfile/dispenser.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sstream>

namespace usher::core::caddyfile {
namespace {

using ::testing::ElementsAre;

// Tokenizes naively, one whitespace-separated token per word; the first
// word of each line starts a logical line. Enough to drive the cursor
// without the real lexer.
std::vector<Token> words(std::string_view text) {
  std::vector<Token> out;
  std::istringstream lines{std::string(text)};
  std::string line;
  for (int number = 1; std::getline(lines, line); ++number) {
    std::istringstream in(line);
    std::string word;
    bool first = true;
    while (in >> word) {
      Token t;
      t.text = word;
      t.file = "test";
      t.line = number;
      t.new_line = first;
      first = false;
      out.push_back(t);
    }
  }
  return out;
}

TEST(Dispenser, StartsBeforeTheFirstToken) {
  Dispenser d(words("a b\n"));
  EXPECT_TRUE(d.at_start());
  ASSERT_TRUE(d.next());
  EXPECT_EQ(d.val(), "a");
  EXPECT_FALSE(d.at_start());
}

TEST(Dispenser, NextArgStaysOnTheLogicalLine) {
  Dispenser d(words("a b c\nd e\n"));
  d.next();
  EXPECT_TRUE(d.next_arg());
  EXPECT_EQ(d.val(), "b");
  EXPECT_TRUE(d.next_arg());
  EXPECT_EQ(d.val(), "c");
  EXPECT_FALSE(d.next_arg());
  EXPECT_EQ(d.val(), "c");  // the cursor did not move
  EXPECT_TRUE(d.next());
  EXPECT_EQ(d.val(), "d");
}

TEST(Dispenser, NextArgStopsAtAnOpeningBrace) {
  Dispenser d(words("a b {\nc\n}\n"));
  d.next();
  EXPECT_EQ(d.remaining_args(), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(d.next_is_block_open());
}

TEST(Dispenser, CountsRemainingArgsWithoutConsumingThem) {
  Dispenser d(words("a b c {\n}\n"));
  d.next();
  EXPECT_EQ(d.count_remaining_args(), 2);
  EXPECT_EQ(d.val(), "a");
}

TEST(Dispenser, NextBlockVisitsEachLineOfTheBlock) {
  Dispenser d(words("dir arg {\none 1\ntwo 2\n}\n"));
  d.next();
  d.remaining_args();
  std::vector<std::string> seen;
  for (int n = d.nesting(); d.next_block(n);)
    seen.push_back(d.val());
  EXPECT_THAT(seen, ElementsAre("one", "two"));
  EXPECT_EQ(d.nesting(), 0);
}

TEST(Dispenser, NextBlockIsFalseWithoutABlock) {
  Dispenser d(words("dir arg\nother\n"));
  d.next();
  EXPECT_FALSE(d.next_block(d.nesting()));
  EXPECT_EQ(d.val(), "dir");
}

TEST(Dispenser, NextBlockSkipsWhatTheLastLineLeftUnread) {
  // `one` has arguments and a nested block nobody reads; `two` is still found.
  Dispenser d(words("dir {\none a b {\nx y\n}\ntwo\n}\n"));
  d.next();
  std::vector<std::string> seen;
  for (int n = d.nesting(); d.next_block(n);)
    seen.push_back(d.val());
  EXPECT_THAT(seen, ElementsAre("one", "two"));
}

TEST(Dispenser, NestedBlocksAreReadByTheirOwnLoop) {
  Dispenser d(words("dir {\nouter {\ninner 1\n}\nafter\n}\n"));
  d.next();
  std::vector<std::string> seen;
  for (int n = d.nesting(); d.next_block(n);) {
    seen.push_back(d.val());
    for (int m = d.nesting(); d.next_block(m);)
      seen.push_back("  " + d.val());
  }
  EXPECT_THAT(seen, ElementsAre("outer", "  inner", "after"));
}

TEST(Dispenser, OneLineBlocksAreSplitAtTheBraces) {
  Dispenser d(words("dir { a 1 }\n"));
  d.next();
  std::vector<std::string> seen;
  for (int n = d.nesting(); d.next_block(n);) {
    seen.push_back(d.val());
    for (const std::string& arg : d.remaining_args())
      seen.push_back(arg);
  }
  EXPECT_THAT(seen, ElementsAre("a", "1"));
}

TEST(Dispenser, NextSegmentTakesTheLineAndItsBlock) {
  Dispenser d(words("site {\nhandle /a {\nrespond hi\n}\nnext\n}\n"));
  d.next();
  std::vector<std::vector<std::string>> segments;
  for (int n = d.nesting(); d.next_block(n);) {
    std::vector<std::string> texts;
    for (const Token& t : d.next_segment())
      texts.push_back(t.text);
    segments.push_back(texts);
  }
  ASSERT_EQ(segments.size(), 2u);
  EXPECT_THAT(segments[0], ElementsAre("handle", "/a", "{", "respond", "hi", "}"));
  EXPECT_THAT(segments[1], ElementsAre("next"));
}

TEST(Dispenser, QuotedBracesAreNotBlocks) {
  std::vector<Token> tokens = words("respond x\n");
  Token brace = tokens.back();
  brace.text = "{";
  brace.quoted = true;
  tokens.push_back(brace);
  Dispenser d(tokens);
  d.next();
  EXPECT_EQ(d.remaining_args(), (std::vector<std::string>{"x", "{"}));
  EXPECT_EQ(d.nesting(), 0);
}

TEST(Dispenser, PrevUndoesNext) {
  Dispenser d(words("a {\nb\n}\n"));
  d.next();
  d.next();
  EXPECT_EQ(d.nesting(), 1);
  EXPECT_TRUE(d.prev());
  EXPECT_EQ(d.val(), "a");
  EXPECT_EQ(d.nesting(), 0);
}

TEST(Dispenser, ErrorsCarryTheFileAndLineOfTheCurrentToken) {
  Dispenser d(words("a\nb c\n"));
  d.next();
  d.next();
  d.next_arg();
  const ConfigError e = d.error("bad `c`", "fix it");
  ASSERT_EQ(e.diagnostics().items().size(), 1u);
  EXPECT_EQ(e.diagnostics().items()[0].str(), "test:2: bad `c`; fix it");
}

TEST(Dispenser, ReportGoesToTheSinkOrIsThrown) {
  Diagnostics sink;
  Dispenser with_sink(words("a\n"), &sink);
  with_sink.next();
  with_sink.report(with_sink.error("one"));
  EXPECT_EQ(sink.error_count(), 1u);
  Dispenser without(words("a\n"));
  without.next();
  EXPECT_THROW(without.report(without.error("two")), ConfigError);
}

}  // namespace
}  // namespace usher::core::caddyfile
