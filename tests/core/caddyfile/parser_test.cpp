#include "core/caddyfile/parser.h"

#include <fnmatch.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

namespace usher::core::caddyfile {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

/// An in-memory file system and environment for ParseOptions.
struct FakeWorld {
  std::map<std::string, std::string> files;
  std::map<std::string, std::string> env;

  ParseOptions options() const {
    ParseOptions o;
    o.getenv = [this](const std::string& name) -> std::optional<std::string> {
      auto it = env.find(name);
      if (it == env.end()) return std::nullopt;
      return it->second;
    };
    o.read_file = [this](const std::string& path) {
      auto it = files.find(path);
      if (it == files.end()) throw std::runtime_error("no such file `" + path + "`");
      return it->second;
    };
    o.glob = [this](const std::string& pattern) {
      std::vector<std::string> out;
      for (const auto& [path, text] : files) {
        if (::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0) out.push_back(path);
      }
      return out;
    };
    return o;
  }
};

struct Parsed {
  std::vector<ServerBlock> blocks;
  Diagnostics diagnostics;
};

Parsed parse_text(std::string_view text, const FakeWorld& world = {},
                  const std::string& filename = "Caddyfile") {
  Parsed p;
  p.blocks = parse(text, filename, p.diagnostics, world.options());
  return p;
}

std::string join(const std::vector<Token>& tokens) {
  std::string out;
  for (const auto& t : tokens)
    out += (out.empty() ? "" : " ") + t.text;
  return out;
}

/// One line per block: `[keys] segment; segment`.
std::string dump(const std::vector<ServerBlock>& blocks) {
  std::string out;
  for (const auto& block : blocks) {
    out += "[" + join(block.keys) + "]";
    for (size_t i = 0; i < block.segments.size(); ++i) {
      out += (i == 0 ? " " : "; ") + join(block.segments[i].tokens);
    }
    out += "\n";
  }
  return out;
}

std::string first_error(const Diagnostics& diagnostics) {
  for (const auto& d : diagnostics.items())
    if (d.is_error()) return d.str();
  return "(no error)";
}

// ---- structure

struct StructureCase {
  const char* name;
  const char* input;
  const char* expected;
};

class ParserStructure : public ::testing::TestWithParam<StructureCase> {};

TEST_P(ParserStructure, GroupsTokensIntoBlocksAndSegments) {
  auto p = parse_text(GetParam().input);
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Parser, ParserStructure,
    ::testing::Values(
        StructureCase{"GlobalOptionsBlockHasNoKeys",
                      "{\n\temail a@b.c\n\tdebug\n}\na.com {\n\trespond hi\n}\n",
                      "[] email a@b.c; debug\n[a.com] respond hi\n"},
        StructureCase{"SpaceSeparatedAddresses", "a.com b.com:8443 {\n\tx\n}",
                      "[a.com b.com:8443] x\n"},
        StructureCase{"CommaJoinedAddressesSplit", "a.com,b.com,c.com {\n}",
                      "[a.com b.com c.com]\n"},
        StructureCase{"CommaAndSpaceSeparatedAddresses", "a.com, b.com {\n}", "[a.com b.com]\n"},
        StructureCase{"TrailingCommaContinuesOnTheNextLine", "a.com,\nb.com {\n\tx\n}",
                      "[a.com b.com] x\n"},
        StructureCase{"BracelessSingleSite", "a.com\nreverse_proxy :8080\nencode gzip\n",
                      "[a.com] reverse_proxy :8080; encode gzip\n"},
        StructureCase{"AddressesWithoutBody", "a.com\n", "[a.com]\n"},
        StructureCase{"EmptyBlock", "a.com {\n}\n", "[a.com]\n"},
        StructureCase{"EmptyText", "\n# nothing here\n", ""},
        StructureCase{"OneLineSiteBlock", "cloud.example.com { reverse_proxy 127.0.0.1:8080 }",
                      "[cloud.example.com] reverse_proxy 127.0.0.1:8080\n"},
        StructureCase{"SeveralOneLineSiteBlocks",
                      "a.com { reverse_proxy :1 }\nb.com { reverse_proxy :2 }\n"
                      "c.com, d.com { respond ok }\n",
                      "[a.com] reverse_proxy :1\n[b.com] reverse_proxy :2\n[c.com d.com] respond "
                      "ok\n"},
        StructureCase{"NestedOneLineBlock", "a.com { handle /api/* { reverse_proxy x } }",
                      "[a.com] handle /api/* { reverse_proxy x }\n"},
        StructureCase{"DirectivesAfterANestedOneLineBlock",
                      "a.com { handle /a { respond A } respond B }",
                      "[a.com] handle /a { respond A }; respond B\n"},
        StructureCase{"NestedOneLinerInsideAMultiLineBlock",
                      "a.com {\n\thandle /api/* { reverse_proxy x }\n\trespond 404\n}",
                      "[a.com] handle /api/* { reverse_proxy x }; respond 404\n"},
        StructureCase{"NestedBlockTokensBelongToTheSegment",
                      "a.com {\n\treverse_proxy x {\n\t\tlb_policy first\n\t\ttransport http {\n"
                      "\t\t\tversions 2\n\t\t}\n\t}\n\tencode\n}",
                      "[a.com] reverse_proxy x { lb_policy first transport http { versions 2 } }; "
                      "encode\n"},
        StructureCase{"ClosingBraceOnADirectiveLineClosesTheBlock",
                      "a.com {\n\trespond ok }\nb.com {\n}", "[a.com] respond ok\n[b.com]\n"},
        StructureCase{"QuotedBracesAreArguments", "a.com {\n\trespond \"}\" \"{\"\n}",
                      "[a.com] respond } {\n"},
        StructureCase{"ContinuedLineIsOneSegment",
                      "a.com {\n\treverse_proxy a:1 \\\n\t\tb:2\n\tencode\n}",
                      "[a.com] reverse_proxy a:1 b:2; encode\n"},
        StructureCase{"HeredocArgument", "a.com {\n\trespond <<EOF\n\t\thi\n\t\tEOF 200\n}",
                      "[a.com] respond hi 200\n"},
        StructureCase{"SnippetsAreNotBlocks", "(s) {\n\tx\n}\na.com {\n\timport s\n}",
                      "[a.com] x\n"},
        StructureCase{"NamedMatchersAreSegments",
                      "a.com {\n\t@api path /api/*\n\t@ws {\n"
                      "\t\theader Upgrade websocket\n\t}\n}",
                      "[a.com] @api path /api/*; @ws { header Upgrade websocket }\n"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Parser, KeepsFileAndLineOfEveryToken) {
  auto p = parse_text("a.com,\n  b.com {\n\n\treverse_proxy x {\n\t\tto y\n\t}\n}");
  ASSERT_EQ(p.blocks.size(), 1u);
  EXPECT_EQ(p.blocks[0].keys[1].line, 2);
  const auto& tokens = p.blocks[0].segments[0].tokens;
  ASSERT_EQ(tokens.size(), 6u);
  EXPECT_EQ(tokens[0].line, 4);
  EXPECT_EQ(tokens[3].text, "to");
  EXPECT_EQ(tokens[3].line, 5);
  EXPECT_EQ(tokens[5].line, 6);
  EXPECT_EQ(tokens[5].file, "Caddyfile");
  EXPECT_EQ(p.blocks[0].segments[0].directive(), "reverse_proxy");
}

TEST(Parser, MarksDirectivesInsideOneLineBlocksAsStartingALine) {
  auto p = parse_text("a.com { handle /x { respond ok 200 } }");
  ASSERT_EQ(p.blocks.size(), 1u);
  const auto& t = p.blocks[0].segments[0].tokens;
  ASSERT_EQ(t.size(), 7u);
  // handle /x { respond ok 200 } — as if written over several lines.
  EXPECT_TRUE(t[0].new_line);
  EXPECT_FALSE(t[1].new_line);
  EXPECT_FALSE(t[2].new_line);
  EXPECT_TRUE(t[3].new_line);
  EXPECT_FALSE(t[4].new_line);
  EXPECT_FALSE(t[5].new_line);
  EXPECT_TRUE(t[6].new_line);
  EXPECT_EQ(t[6].line, 1);
}

// ---- structural errors

struct ErrorCase {
  const char* name;
  const char* input;
  const char* expected;
};

class ParserErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(ParserErrors, StopsAtTheFirstErrorNamingFileLineAndToken) {
  auto p = parse_text(GetParam().input);
  EXPECT_EQ(p.diagnostics.error_count(), 1u) << p.diagnostics.str();
  EXPECT_EQ(first_error(p.diagnostics), GetParam().expected);
}

INSTANTIATE_TEST_SUITE_P(
    Parser, ParserErrors,
    ::testing::Values(
        ErrorCase{"OpenBraceOnItsOwnLineAfterAddress", "a.com\n{\n\trespond ok\n}",
                  "Caddyfile:2: unexpected `{` on a line of its own; `{` must be at the end of the "
                  "line, after the site address or directive"},
        ErrorCase{"OpenBraceOnItsOwnLineAfterDirective",
                  "a.com {\n\treverse_proxy x\n\t{\n\t\tto y\n\t}\n}",
                  "Caddyfile:3: unexpected `{` on a line of its own; `{` must be at the end of the "
                  "line, after the site address or directive"},
        ErrorCase{"UnclosedBlock", "a.com {\n\thandle {\n\t\trespond ok\n\t}\n\n",
                  "Caddyfile:4: unexpected end of file: missing `}` for the block opened at line "
                  "1; add a `}` on a line of its own to close it"},
        ErrorCase{"UnclosedNestedBlock", "a.com {\n\thandle {\n\t\trespond ok\n",
                  "Caddyfile:3: unexpected end of file: missing `}` for the block opened at line "
                  "2; add a `}` on a line of its own to close it"},
        ErrorCase{"UnexpectedCloseBrace", "a.com {\n}\n}\n",
                  "Caddyfile:3: unexpected `}`; no block is open here; remove it or add the "
                  "missing `{`"},
        ErrorCase{"CloseBraceInBracelessSite", "a.com\nrespond ok\n}",
                  "Caddyfile:3: unexpected `}`; no block is open here; remove it or add the "
                  "missing `{`"},
        ErrorCase{"GlobalOptionsNotFirst", "a.com {\n}\n{\n\tdebug\n}",
                  "Caddyfile:3: the global options block must be the first block in the file; "
                  "move it to the top, before every site"},
        ErrorCase{"EmptyQuotedAddress", "\"\" {\n}",
                  "Caddyfile:1: empty site address `\"\"`; write a host name, `:port` or "
                  "`http://`"},
        ErrorCase{"DoubleComma", "a.com,,b.com {\n}",
                  "Caddyfile:1: empty site address in `a.com,,b.com`; remove the extra comma"},
        ErrorCase{"TrailingCommaBeforeBrace", "a.com, {\n}",
                  "Caddyfile:1: expected another site address before `{`; remove the trailing "
                  "comma"},
        ErrorCase{"TrailingCommaAtEndOfFile", "a.com,",
                  "Caddyfile:1: unexpected end of file: expected another site address after `,`; "
                  "remove the trailing comma"},
        ErrorCase{"ImportWithoutTarget", "a.com {\n\timport\n}",
                  "Caddyfile:2: `import` needs a snippet name or a file path; for example `import "
                  "common` or `import sites/*.caddy`"},
        ErrorCase{"SnippetWithoutBlock", "(common)\n",
                  "Caddyfile:1: snippet `(common)` has no block; write `(common) {` and the "
                  "snippet's lines after it"},
        ErrorCase{"RedeclaredSnippet", "(s) {\n}\n(s) {\n}",
                  "Caddyfile:3: snippet `s` is already defined at Caddyfile:1; give one of them "
                  "another name"},
        ErrorCase{"LexicalErrorStopsParsing", "a.com {\n\trespond \"oops\n}",
                  "Caddyfile:2: unterminated quoted string: missing closing `\"`; a `\"` inside a "
                  "quoted string is written `\\\"`"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Parser, ReturnsTheBlocksCompletedBeforeAnError) {
  auto p = parse_text("a.com {\n}\nb.com\n{\n}");
  EXPECT_TRUE(p.diagnostics.has_errors());
  EXPECT_EQ(dump(p.blocks), "[a.com]\n");
}

// ---- snippets

TEST(Parser, ImportsASnippetWithIndexedArguments) {
  auto p = parse_text(
      "(proxy) {\n\treverse_proxy {args[0]} {\n\t\theader_up X-App app-{args[1]}\n\t}\n}\n"
      "a.com {\n\timport proxy localhost:8080 blog\n}");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] reverse_proxy localhost:8080 { header_up X-App app-blog }\n");
}

TEST(Parser, AcceptsTheOlderDottedArgumentSyntax) {
  auto p = parse_text("(s) {\n\trespond {args.0} {args.1}\n}\na.com {\n\timport s hello 201\n}");
  EXPECT_EQ(dump(p.blocks), "[a.com] respond hello 201\n");
}

TEST(Parser, ExpandsVariadicArgumentsIntoSeparateTokens) {
  auto p = parse_text(
      "(s) {\n\treverse_proxy {args[:]}\n\theader X {args[1:]}\n\trespond {args[0:1]}\n}\n"
      "a.com {\n\timport s a:1 b:2 c:3\n}");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] reverse_proxy a:1 b:2 c:3; header X b:2 c:3; respond a:1\n");
}

TEST(Parser, DropsAnEmptyVariadicWithoutMergingLines) {
  auto p = parse_text("(s) {\n\tbind {args[:]}\n\trespond ok\n}\na.com {\n\timport s\n}");
  EXPECT_EQ(dump(p.blocks), "[a.com] bind; respond ok\n");
}

TEST(Parser, WarnsAndKeepsAnArgumentPlaceholderOutOfRange) {
  auto p = parse_text("(s) {\n\trespond {args[2]}\n}\na.com {\n\timport s x\n}");
  EXPECT_FALSE(p.diagnostics.has_errors());
  EXPECT_EQ(dump(p.blocks), "[a.com] respond {args[2]}\n");
  ASSERT_EQ(p.diagnostics.items().size(), 1u);
  EXPECT_EQ(p.diagnostics.items()[0].str(),
            "Caddyfile:5: warning: `{args[2]}` is out of range or not a number: this import "
            "passes 1 argument(s); arguments are numbered from 0, e.g. {args[0]}; {args[:]} is "
            "all of them");
}

TEST(Parser, ImportsAOneLineSnippetIntoAOneLineSite) {
  auto p = parse_text("(gz) { encode gzip }\na.com { import gz }\n");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] encode gzip\n");
  EXPECT_TRUE(p.blocks[0].segments[0].tokens[0].new_line);
}

TEST(Parser, ImportsWholeSiteBlocksFromASnippetAtTopLevel) {
  auto p = parse_text(
      "(sites) {\n\ta.com {\n\t\trespond a\n\t}\n\tb.com { respond b }\n}\n"
      "import sites\n");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] respond a\n[b.com] respond b\n");
}

TEST(Parser, RecordsTheImportChainOnSnippetTokens) {
  auto p = parse_text("(s) {\n\trespond ok\n}\na.com {\n\timport s\n}");
  const Token& respond = p.blocks.at(0).segments.at(0).tokens.at(0);
  EXPECT_EQ(respond.line, 2);  // where the snippet line was written
  EXPECT_THAT(respond.import_chain, ElementsAre("Caddyfile:5"));
}

TEST(Parser, LetsASnippetImportAnotherSnippet) {
  auto p = parse_text(
      "(inner) {\n\tencode {args[0]}\n}\n(outer) {\n\timport inner {args[0]}\n"
      "\trespond ok\n}\na.com {\n\timport outer zstd\n}");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] encode zstd; respond ok\n");
  EXPECT_THAT(p.blocks[0].segments[0].tokens[0].import_chain,
              ElementsAre("Caddyfile:9", "Caddyfile:5"));
}

TEST(Parser, RejectsASnippetUsedBeforeItsDefinitionAsCaddyDoes) {
  auto p = parse_text("a.com {\n\timport later\n}\n(later) {\n\trespond ok\n}");
  EXPECT_EQ(first_error(p.diagnostics),
            "Caddyfile:2: cannot import `later`: no such file `later`; snippet `later` is defined "
            "later, at Caddyfile:4; define snippets before importing them");
}

TEST(Parser, ExplainsAnUnknownSnippet) {
  auto p = parse_text("a.com {\n\timport comon\n}");
  EXPECT_EQ(first_error(p.diagnostics),
            "Caddyfile:2: cannot import `comon`: no such file `comon`; no snippet `comon` is "
            "defined above this line; define it with `(comon) { … }` or give a file path");
}

TEST(Parser, DetectsASnippetImportingItself) {
  auto p = parse_text("(loop) {\n\trespond x\n\timport loop\n}\na.com {\n\timport loop\n}");
  EXPECT_EQ(p.diagnostics.error_count(), 1u);
  EXPECT_EQ(first_error(p.diagnostics),
            "Caddyfile:3: import cycle: this import is reached again through its own expansion "
            "(Caddyfile:6 -> Caddyfile:3 -> Caddyfile:3); a snippet or file must not import "
            "itself, directly or through others");
}

TEST(Parser, StopsSnippetsThatMultiplyTokensExponentially) {
  // Each snippet imports the previous one ten times: 10^7 tokens if unbounded.
  std::string text = "(s0) {\n\ta b c d\n}\n";
  for (int i = 1; i <= 6; ++i) {
    text += "(s" + std::to_string(i) + ") {\n";
    for (int k = 0; k < 10; ++k)
      text += "\timport s" + std::to_string(i - 1) + "\n";
    text += "}\n";
  }
  text += "a.com {\n\timport s6\n}\n";
  auto p = parse_text(text);
  EXPECT_THAT(first_error(p.diagnostics), HasSubstr("imports bring in more than 200000 tokens"));
}

// ---- file imports (injected file system)

FakeWorld site_world() {
  FakeWorld w;
  w.files["/etc/usher/snippets.caddy"] = "(common) {\n\tencode gzip\n}\n";
  w.files["/etc/usher/sites/a.caddy"] = "a.com {\n\timport common\n}\n";
  w.files["/etc/usher/sites/b.caddy"] = "b.com { respond b }\n";
  w.files["/etc/usher/sites/notes.txt"] = "not a site";
  w.files["/etc/usher/headers.caddy"] = "header X-Frame-Options DENY\nheader -Server\n";
  return w;
}

TEST(Parser, ImportsFilesRelativeToTheImportingFile) {
  auto w = site_world();
  auto p = parse_text("import snippets.caddy\nimport sites/a.caddy\n", w, "/etc/usher/Caddyfile");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] encode gzip\n");
  const Token& key = p.blocks[0].keys[0];
  EXPECT_EQ(key.file, "/etc/usher/sites/a.caddy");
  EXPECT_EQ(key.line, 1);
  EXPECT_THAT(key.import_chain, ElementsAre("/etc/usher/Caddyfile:2"));
}

TEST(Parser, ImportsEveryFileAGlobMatchesInOrder) {
  auto w = site_world();
  auto p = parse_text("import snippets.caddy\nimport sites/*.caddy\n", w, "/etc/usher/Caddyfile");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] encode gzip\n[b.com] respond b\n");
}

TEST(Parser, WarnsWhenAGlobMatchesNothing) {
  auto w = site_world();
  auto p = parse_text("import conf.d/*.caddy\na.com {\n}\n", w, "/etc/usher/Caddyfile");
  EXPECT_FALSE(p.diagnostics.has_errors());
  EXPECT_EQ(dump(p.blocks), "[a.com]\n");
  ASSERT_EQ(p.diagnostics.items().size(), 1u);
  EXPECT_EQ(p.diagnostics.items()[0].str(),
            "/etc/usher/Caddyfile:1: warning: import pattern `conf.d/*.caddy` matches no files");
}

TEST(Parser, ImportsSegmentsIntoABlockFromAFile) {
  auto w = site_world();
  auto p =
      parse_text("a.com {\n\trespond ok\n\timport headers.caddy\n}", w, "/etc/usher/Caddyfile");
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] respond ok; header X-Frame-Options DENY; header -Server\n");
  EXPECT_EQ(p.blocks[0].segments[2].tokens[0].file, "/etc/usher/headers.caddy");
  EXPECT_EQ(p.blocks[0].segments[2].tokens[0].line, 2);
}

TEST(Parser, ReportsAMissingFileAtTheImport) {
  auto p =
      parse_text("a.com {\n}\nimport sites/missing.caddy\n", site_world(), "/etc/usher/Caddyfile");
  EXPECT_EQ(first_error(p.diagnostics),
            "/etc/usher/Caddyfile:3: cannot import `sites/missing.caddy`: no such file "
            "`/etc/usher/sites/missing.caddy`; file paths are relative to the directory of the "
            "importing file");
}

TEST(Parser, DetectsAnImportCycleBetweenFiles) {
  FakeWorld w;
  w.files["a.caddy"] = "import b.caddy\n";
  w.files["b.caddy"] = "\n\nimport a.caddy\n";
  auto p = parse_text("import a.caddy\n", w);
  EXPECT_EQ(p.diagnostics.error_count(), 1u);
  EXPECT_EQ(first_error(p.diagnostics),
            "b.caddy:3: import cycle: a.caddy imports b.caddy imports a.caddy; remove one of "
            "these imports");
}

TEST(Parser, DetectsAFileImportingItself) {
  auto p = parse_text("a.com {\n}\nimport Caddyfile\n", FakeWorld{});
  EXPECT_EQ(first_error(p.diagnostics),
            "Caddyfile:3: import cycle: Caddyfile imports Caddyfile; remove one of these imports");
}

TEST(Parser, SkipsTheImportingFileWhenItsGlobMatchesIt) {
  FakeWorld w;
  w.files["conf/a.caddy"] = "a.com { respond a }\nimport *.caddy\n";
  w.files["conf/b.caddy"] = "b.com { respond b }\n";
  auto p = parse_text("import conf/a.caddy\n", w);
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] respond a\n[b.com] respond b\n");
}

TEST(Parser, RejectsAGlobWithSeveralWildcardsAsCaddyDoes) {
  auto p = parse_text("import */*.caddy\n", site_world(), "/etc/usher/Caddyfile");
  EXPECT_THAT(first_error(p.diagnostics), HasSubstr("has more than one wildcard"));
}

TEST(Parser, ReportsALexicalErrorInAnImportedFileAtThatFile) {
  FakeWorld w;
  w.files["bad.caddy"] = "a.com {\n\trespond `x\n}\n";
  auto p = parse_text("import bad.caddy\n", w);
  EXPECT_EQ(first_error(p.diagnostics),
            "bad.caddy:2: unterminated backtick string: missing closing `` ` ``");
}

TEST(Parser, ReadsRealFilesAndGlobsByDefault) {
  const std::string dir = USHER_TESTDATA_DIR "/imports";
  std::ifstream main_file(dir + "/Caddyfile");
  ASSERT_TRUE(main_file) << "missing fixture " << dir << "/Caddyfile";
  std::string text((std::istreambuf_iterator<char>(main_file)), std::istreambuf_iterator<char>());
  Diagnostics diagnostics;
  auto blocks = parse(text, dir + "/Caddyfile", diagnostics);
  EXPECT_FALSE(diagnostics.has_errors()) << diagnostics.str();
  EXPECT_EQ(dump(blocks),
            "[] email admin@example.com\n"
            "[app.example.com] reverse_proxy 127.0.0.1:8080; encode zstd gzip\n"
            "[blog.example.com] root * /srv/blog; file_server; encode zstd gzip\n");
  EXPECT_EQ(blocks.at(2).keys.at(0).file, dir + "/sites/blog.caddy");
}

// ---- environment variables

TEST(Parser, SubstitutesEnvironmentVariablesBeforeLexing) {
  FakeWorld w;
  w.env["UPSTREAMS"] = "a:1 b:2";
  w.env["DOMAIN"] = "example.com";
  auto p = parse_text("{$DOMAIN} {\n\treverse_proxy {$UPSTREAMS}\n}", w);
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[example.com] reverse_proxy a:1 b:2\n");
}

TEST(Parser, UsesTheDefaultOfAnUnsetVariable) {
  auto p = parse_text("a.com {\n\treverse_proxy {$UPSTREAM:localhost:3000}\n}");
  EXPECT_TRUE(p.diagnostics.items().empty()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] reverse_proxy localhost:3000\n");
}

TEST(Parser, WarnsAboutAnUnsetVariableAndGoesOn) {
  auto p = parse_text("a.com {\n\tencode\n\treverse_proxy {$UPSTREAM}\n}");
  EXPECT_FALSE(p.diagnostics.has_errors());
  EXPECT_EQ(dump(p.blocks), "[a.com] encode; reverse_proxy\n");
  ASSERT_EQ(p.diagnostics.items().size(), 1u);
  EXPECT_THAT(p.diagnostics.items()[0].str(),
              HasSubstr("Caddyfile:3: warning: environment variable `UPSTREAM` is not set"));
}

TEST(Parser, KeepsLineNumbersRightAfterAMultiLineValue) {
  FakeWorld w;
  w.env["EXTRA"] = "encode gzip\nheader -Server";
  auto p = parse_text("a.com {\n\t{$EXTRA}\n\trespond ok\n\t}", w);
  EXPECT_FALSE(p.diagnostics.has_errors()) << p.diagnostics.str();
  EXPECT_EQ(dump(p.blocks), "[a.com] encode gzip; header -Server; respond ok\n");
  EXPECT_EQ(p.blocks[0].segments[2].tokens[0].line, 3);
}

TEST(Parser, SubstitutesEnvironmentVariablesInImportedFiles) {
  FakeWorld w;
  w.env["PORT"] = "9000";
  w.files["site.caddy"] = "a.com { reverse_proxy :{$PORT} }\n";
  auto p = parse_text("import site.caddy\n", w);
  EXPECT_EQ(dump(p.blocks), "[a.com] reverse_proxy :9000\n");
}

}  // namespace
}  // namespace usher::core::caddyfile
