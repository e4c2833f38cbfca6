#include "core/diagnostic.h"

#include <gtest/gtest.h>

namespace usher::core {
namespace {

TEST(Diagnostic, RendersFileLineMessageAndHint) {
  Diagnostic d{Diagnostic::Severity::kError, "Caddyfile", 3, "unknown directive `reverse_prox`",
               "did you mean `reverse_proxy`?"};
  EXPECT_EQ(d.str(),
            "Caddyfile:3: unknown directive `reverse_prox`; did you mean `reverse_proxy`?");
}

TEST(Diagnostic, MarksWarningsAndOmitsMissingParts) {
  Diagnostic d{Diagnostic::Severity::kWarning, "Caddyfile", 0, "no sites", ""};
  EXPECT_EQ(d.str(), "Caddyfile: warning: no sites");
  Diagnostic bare{Diagnostic::Severity::kError, "", 0, "oops", ""};
  EXPECT_EQ(bare.str(), "oops");
}

TEST(Diagnostics, CountsErrorsButNotWarnings) {
  Diagnostics all;
  all.warning("a", 1, "w");
  EXPECT_FALSE(all.has_errors());
  all.error("a", 2, "e1");
  all.error("a", 3, "e2");
  EXPECT_EQ(all.error_count(), 2u);
  EXPECT_EQ(all.str(), "a:1: warning: w\na:2: e1\na:3: e2\n");
}

TEST(ConfigError, CarriesEveryDiagnosticAndNamesTheFirstError) {
  Diagnostics all;
  all.warning("a", 1, "w");
  all.error("a", 2, "first");
  all.error("a", 3, "second");
  ConfigError error(all);
  EXPECT_STREQ(error.what(), "a:2: first");
  EXPECT_EQ(error.diagnostics().items().size(), 3u);
}

}  // namespace
}  // namespace usher::core

namespace usher::core {
namespace {

TEST(Diagnostics, ReportsTheSameProblemOnlyOnce) {
  Diagnostics all;
  all.error("Caddyfile", 3, "`forward_auth` is not supported yet");
  all.error("Caddyfile", 3, "`forward_auth` is not supported yet");
  all.error("Caddyfile", 4, "`forward_auth` is not supported yet");
  EXPECT_EQ(all.items().size(), 2u);
}

}  // namespace
}  // namespace usher::core
