#include "core/placeholder.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace usher::core {
namespace {

using Kind = PlaceholderKind;

struct ClassifyCase {
  std::string name;
  Kind kind;
  std::string arg;
};

class ClassifyPlaceholder : public testing::TestWithParam<ClassifyCase> {};

TEST_P(ClassifyPlaceholder, MapsTheNameToItsKindAndArgument) {
  const auto& c = GetParam();
  std::string arg = "stale";
  EXPECT_EQ(classify_placeholder(c.name, &arg), c.kind) << c.name;
  EXPECT_EQ(arg, c.arg) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    ShortForms, ClassifyPlaceholder,
    testing::Values(
        ClassifyCase{"host", Kind::kHost, ""}, ClassifyCase{"hostport", Kind::kHostport, ""},
        ClassifyCase{"port", Kind::kPort, ""}, ClassifyCase{"uri", Kind::kUri, ""},
        ClassifyCase{"path", Kind::kPath, ""}, ClassifyCase{"dir", Kind::kDir, ""},
        ClassifyCase{"file", Kind::kFile, ""}, ClassifyCase{"query", Kind::kQuery, ""},
        ClassifyCase{"query.page", Kind::kQueryParam, "page"},
        ClassifyCase{"scheme", Kind::kScheme, ""}, ClassifyCase{"method", Kind::kMethod, ""},
        ClassifyCase{"remote", Kind::kRemote, ""},
        ClassifyCase{"remote_host", Kind::kRemoteHost, ""},
        ClassifyCase{"remote_port", Kind::kRemotePort, ""},
        ClassifyCase{"client_ip", Kind::kClientIp, ""},
        ClassifyCase{"header.X-Forwarded-For", Kind::kHeader, "X-Forwarded-For"},
        ClassifyCase{"cookie.session_id", Kind::kCookie, "session_id"},
        ClassifyCase{"labels.0", Kind::kLabel, "0"}, ClassifyCase{"labels.12", Kind::kLabel, "12"},
        ClassifyCase{"tls_server_name", Kind::kTlsServerName, ""},
        ClassifyCase{"upstream_hostport", Kind::kUpstreamHostport, ""},
        ClassifyCase{"rp.upstream.hostport", Kind::kUpstreamHostport, ""},
        ClassifyCase{"err.status_code", Kind::kErrorStatusCode, ""},
        ClassifyCase{"err.status_text", Kind::kErrorStatusText, ""},
        ClassifyCase{"err.message", Kind::kErrorMessage, ""},
        ClassifyCase{"env.HOME", Kind::kEnv, "HOME"}));

INSTANTIATE_TEST_SUITE_P(
    LongForms, ClassifyPlaceholder,
    testing::Values(ClassifyCase{"http.request.host", Kind::kHost, ""},
                    ClassifyCase{"http.request.hostport", Kind::kHostport, ""},
                    ClassifyCase{"http.request.port", Kind::kPort, ""},
                    ClassifyCase{"http.request.uri", Kind::kUri, ""},
                    ClassifyCase{"http.request.uri.path", Kind::kPath, ""},
                    ClassifyCase{"http.request.uri.path.dir", Kind::kDir, ""},
                    ClassifyCase{"http.request.uri.path.file", Kind::kFile, ""},
                    ClassifyCase{"http.request.uri.query", Kind::kQuery, ""},
                    ClassifyCase{"http.request.uri.query.q", Kind::kQueryParam, "q"},
                    ClassifyCase{"http.request.scheme", Kind::kScheme, ""},
                    ClassifyCase{"http.request.method", Kind::kMethod, ""},
                    ClassifyCase{"http.request.remote", Kind::kRemote, ""},
                    ClassifyCase{"http.request.remote.host", Kind::kRemoteHost, ""},
                    ClassifyCase{"http.request.remote.port", Kind::kRemotePort, ""},
                    ClassifyCase{"http.vars.client_ip", Kind::kClientIp, ""},
                    ClassifyCase{"http.request.header.Accept", Kind::kHeader, "Accept"},
                    ClassifyCase{"http.request.cookie.lb", Kind::kCookie, "lb"},
                    ClassifyCase{"http.request.host.labels.1", Kind::kLabel, "1"},
                    ClassifyCase{"http.request.tls.server_name", Kind::kTlsServerName, ""},
                    ClassifyCase{"http.reverse_proxy.upstream.hostport", Kind::kUpstreamHostport,
                                 ""},
                    ClassifyCase{"http.error.status_code", Kind::kErrorStatusCode, ""},
                    ClassifyCase{"http.error.status_text", Kind::kErrorStatusText, ""},
                    ClassifyCase{"http.error.message", Kind::kErrorMessage, ""}));

INSTANTIATE_TEST_SUITE_P(
    UnknownNames, ClassifyPlaceholder,
    testing::Values(
        ClassifyCase{"hots", Kind::kUnknown, ""},
        ClassifyCase{"HOST", Kind::kUnknown, ""},  // names are case-sensitive
        ClassifyCase{"", Kind::kUnknown, ""}, ClassifyCase{"header.", Kind::kUnknown, ""},
        ClassifyCase{"header.Bad:Name", Kind::kUnknown, ""},
        ClassifyCase{"header.a/b", Kind::kUnknown, ""}, ClassifyCase{"cookie.", Kind::kUnknown, ""},
        ClassifyCase{"labels.x", Kind::kUnknown, ""}, ClassifyCase{"labels.-1", Kind::kUnknown, ""},
        ClassifyCase{"labels.", Kind::kUnknown, ""}, ClassifyCase{"labels.127", Kind::kUnknown, ""},
        ClassifyCase{"query.", Kind::kUnknown, ""}, ClassifyCase{"env.", Kind::kUnknown, ""},
        ClassifyCase{"http.request.hots", Kind::kUnknown, ""},
        ClassifyCase{"http.request.host.labels.a", Kind::kUnknown, ""},
        ClassifyCase{"path.0", Kind::kUnknown, ""},
        ClassifyCase{"system.hostname", Kind::kUnknown, ""}));

TEST(ClassifyPlaceholder, AcceptsANullArgumentPointer) {
  EXPECT_EQ(classify_placeholder("header.Host", nullptr), Kind::kHeader);
}

// What Template::parse should produce, written compactly: literal parts as
// "text", placeholders as "{name}".
std::vector<std::string> shape(const Template& t) {
  std::vector<std::string> out;
  for (const auto& part : t.parts)
    out.push_back(part.literal ? part.text : "{" + part.text + "}");
  return out;
}

struct ParseCase {
  std::string label;
  std::string raw;
  std::vector<std::string> parts;
};

class TemplateParse : public testing::TestWithParam<ParseCase> {};

TEST_P(TemplateParse, SplitsLiteralsAndPlaceholders) {
  const auto& c = GetParam();
  auto t = Template::parse(c.raw);
  EXPECT_EQ(t.raw, c.raw);
  EXPECT_EQ(shape(t), c.parts) << c.raw;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, TemplateParse,
    testing::Values(ParseCase{"Empty", "", {}},
                    ParseCase{"PlainText", "hello world", {"hello world"}},
                    ParseCase{"OnePlaceholder", "{host}", {"{host}"}},
                    ParseCase{"TextAround", "https://{host}/x", {"https://", "{host}", "/x"}},
                    ParseCase{"Adjacent", "{scheme}{host}{uri}", {"{scheme}", "{host}", "{uri}"}},
                    ParseCase{"EscapedBraces", "\\{host\\}", {"{host}"}},
                    ParseCase{"EscapeMergesWithText", "a\\{b{uri}", {"a{b", "{uri}"}},
                    ParseCase{"OtherBackslashKept", "a\\nb", {"a\\nb"}},
                    ParseCase{"UnclosedBrace", "a{host", {"a{host"}},
                    ParseCase{"LoneClosingBrace", "a}b", {"a}b"}},
                    ParseCase{"EmptyBraces", "x{}y", {"x{}y"}},
                    ParseCase{"BraceThenSpace", "{ \"a\": 1 }", {"{ \"a\": 1 }"}},
                    ParseCase{"SpaceInsideName", "{ho st}", {"{ho st}"}},
                    ParseCase{"EnvLeftOver", "{$HOME}", {"{$HOME}"}},
                    ParseCase{"NestedOpenBrace", "{a{host}", {"{a", "{host}"}},
                    ParseCase{"UnknownIsStillAPlaceholder", "{hots}", {"{hots}"}},
                    ParseCase{"EscapedCloseInside", "{a\\}b}", {"{a}b}"}},
                    ParseCase{"TrailingBackslash", "a\\", {"a\\"}}),
    [](const auto& test) { return test.param.label; });

TEST(TemplateParse, ClassifiesEachPlaceholder) {
  auto t = Template::parse("{header.X-Real-IP}-{labels.1}");
  ASSERT_EQ(t.parts.size(), 3u);
  EXPECT_EQ(t.parts[0].kind, Kind::kHeader);
  EXPECT_EQ(t.parts[0].arg, "X-Real-IP");
  EXPECT_TRUE(t.parts[1].literal);
  EXPECT_EQ(t.parts[2].kind, Kind::kLabel);
  EXPECT_EQ(t.parts[2].arg, "1");
}

TEST(Template, IsLiteralOnlyWithoutPlaceholders) {
  EXPECT_TRUE(Template::parse("").is_literal());
  EXPECT_TRUE(Template::parse("/static/\\{x\\}").is_literal());
  EXPECT_TRUE(Template::parse("{ not one }").is_literal());
  EXPECT_FALSE(Template::parse("/x/{path}").is_literal());
  EXPECT_FALSE(Template::parse("{bogus}").is_literal());
}

TEST(Template, ListsEachUnknownPlaceholderOnceInOrder) {
  auto t = Template::parse("{hots}{uri}{labels.x}{hots}");
  EXPECT_EQ(t.unknown_placeholders(), (std::vector<std::string>{"hots", "labels.x"}));
  EXPECT_TRUE(Template::parse("{host}{uri}").unknown_placeholders().empty());
}

TEST(Template, ComparesByWhatTheUserWrote) {
  EXPECT_EQ(Template::parse("{host}"), Template::parse("{host}"));
  EXPECT_FALSE(Template::parse("{host}") == Template::parse("{uri}"));
}

}  // namespace
}  // namespace usher::core
