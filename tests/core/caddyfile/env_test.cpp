#include "core/caddyfile/env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "core/caddyfile/lexer.h"

namespace usher::core::caddyfile {
namespace {

EnvLookup fake_env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

struct SubstitutionCase {
  const char* name;
  const char* input;
  const char* expected;
};

class EnvSubstitution : public ::testing::TestWithParam<SubstitutionCase> {};

TEST_P(EnvSubstitution, ReplacesReferencesAsCaddyDoes) {
  Diagnostics diagnostics;
  auto env = fake_env({{"HOST", "example.com"}, {"EMPTY", ""}, {"NESTED", "{$HOST}"}});
  auto out = substitute_env(GetParam().input, "Caddyfile", env, diagnostics);
  EXPECT_EQ(out.text, GetParam().expected);
  EXPECT_TRUE(diagnostics.items().empty()) << diagnostics.str();
}

INSTANTIATE_TEST_SUITE_P(
    Env, EnvSubstitution,
    ::testing::Values(SubstitutionCase{"SetVariable", "{$HOST} {", "example.com {"},
                      SubstitutionCase{"InsideAWord", "www.{$HOST}:443", "www.example.com:443"},
                      SubstitutionCase{"DefaultWhenUnset", "{$PORT:8080}", "8080"},
                      SubstitutionCase{"DefaultWithColons", "{$UP:localhost:9000}",
                                       "localhost:9000"},
                      SubstitutionCase{"ValueWinsOverDefault", "{$HOST:other}", "example.com"},
                      SubstitutionCase{"SetButEmptyStaysEmpty", "a{$EMPTY:x}b", "ab"},
                      SubstitutionCase{"ValueIsNotExpandedAgain", "{$NESTED}", "{$HOST}"},
                      SubstitutionCase{"UnclosedReferenceStaysAsWritten", "{$HOST\n}", "{$HOST\n}"},
                      SubstitutionCase{"EmptyNameStaysAsWritten", "{$} {$:x}", "{$} {$:x}"},
                      SubstitutionCase{"RequestPlaceholdersAreUntouched", "{host} {env.HOST}",
                                       "{host} {env.HOST}"}),
    [](const auto& param_info) { return std::string(param_info.param.name); });

TEST(Env, WarnsAboutAnUnsetVariableWithoutDefaultNamingFileLineAndFix) {
  Diagnostics diagnostics;
  auto out =
      substitute_env("a\nb\n\nreverse_proxy {$UPSTREAM}\n", "Caddyfile", fake_env({}), diagnostics);
  EXPECT_EQ(out.text, "a\nb\n\nreverse_proxy \n");
  ASSERT_EQ(diagnostics.items().size(), 1u);
  EXPECT_FALSE(diagnostics.has_errors());
  EXPECT_EQ(diagnostics.items()[0].str(),
            "Caddyfile:4: warning: environment variable `UPSTREAM` is not set; set it, or give a "
            "default with {$UPSTREAM:default}");
}

TEST(Env, CountsOriginalLinesForWarningsAfterAMultiLineValue) {
  Diagnostics diagnostics;
  substitute_env("{$MULTI}\n{$MISSING}", "f", fake_env({{"MULTI", "a\nb\nc"}}), diagnostics);
  ASSERT_EQ(diagnostics.items().size(), 1u);
  EXPECT_EQ(diagnostics.items()[0].line, 2);
}

TEST(Env, RecordsNewlinesOfValuesSoLaterTokensKeepTheirLines) {
  Diagnostics diagnostics;
  auto out = substitute_env("{$BLOCK}\nnext", "f", fake_env({{"BLOCK", "a\nb"}}), diagnostics);
  EXPECT_EQ(out.text, "a\nb\nnext");
  EXPECT_THAT(out.synthetic_newlines, ::testing::ElementsAre(1u));
  auto tokens = tokenize(out.text, "f", diagnostics, out.synthetic_newlines);
  ASSERT_TRUE(tokens);
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[2].text, "next");
  EXPECT_EQ((*tokens)[2].line, 2);
}

TEST(Env, ReadsTheProcessEnvironmentByDefault) {
  ::setenv("USHER_ENV_TEST_VALUE", "42", 1);
  EXPECT_EQ(process_getenv("USHER_ENV_TEST_VALUE"), "42");
  ::unsetenv("USHER_ENV_TEST_VALUE");
  EXPECT_EQ(process_getenv("USHER_ENV_TEST_VALUE"), std::nullopt);
}

}  // namespace
}  // namespace usher::core::caddyfile
