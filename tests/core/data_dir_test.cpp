#include "core/data_dir.h"

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

namespace usher::core {
namespace {

using Environment = std::map<std::string, std::string>;

struct DataDirCase {
  const char* what;
  std::string configured;
  Environment environment;
  std::string expected;
};

class DataDirectory : public ::testing::TestWithParam<DataDirCase> {};

TEST_P(DataDirectory, FollowsThePrecedence) {
  const auto& environment = GetParam().environment;
  auto getenv = [&](const std::string& name) -> std::optional<std::string> {
    auto it = environment.find(name);
    if (it == environment.end()) return std::nullopt;
    return it->second;
  };
  EXPECT_EQ(data_directory(GetParam().configured, getenv), GetParam().expected) << GetParam().what;
}

const Environment kEverything{
    {"STATE_DIRECTORY", "/var/lib/usher"}, {"XDG_DATA_HOME", "/home/u/.data"}, {"HOME", "/home/u"}};

INSTANTIATE_TEST_SUITE_P(
    DataDir, DataDirectory,
    ::testing::Values(
        DataDirCase{"configured path first", "/srv/usher", kEverything, "/srv/usher"},
        DataDirCase{"systemd state directory", "", kEverything, "/var/lib/usher"},
        DataDirCase{"first of several state directories",
                    "",
                    {{"STATE_DIRECTORY", "/var/lib/usher:/var/lib/other"}, {"HOME", "/home/u"}},
                    "/var/lib/usher"},
        DataDirCase{"XDG data home",
                    "",
                    {{"XDG_DATA_HOME", "/home/u/.data"}, {"HOME", "/home/u"}},
                    "/home/u/.data/usher"},
        DataDirCase{"empty variables count as unset",
                    "",
                    {{"STATE_DIRECTORY", ""}, {"XDG_DATA_HOME", ""}, {"HOME", "/home/u"}},
                    "/home/u/.local/share/usher"},
        DataDirCase{"relative XDG data home is ignored",
                    "",
                    {{"XDG_DATA_HOME", "data"}, {"HOME", "/home/u"}},
                    "/home/u/.local/share/usher"},
        DataDirCase{"home", "", {{"HOME", "/home/u"}}, "/home/u/.local/share/usher"}));

TEST(DataDir, FailsWithAHintWhenNothingApplies) {
  auto nothing = [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
  try {
    data_directory("", nothing);
    FAIL() << "found a data directory without HOME";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("storage file_system"), std::string::npos) << e.what();
  }
}

TEST(DataDir, ReadsTheProcessEnvironmentByDefault) {
  ::setenv("STATE_DIRECTORY", "/tmp/usher-state-test", 1);
  std::string found = data_directory("");
  ::unsetenv("STATE_DIRECTORY");
  EXPECT_EQ(found, "/tmp/usher-state-test");
}

}  // namespace
}  // namespace usher::core
