#include "acme/storage.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>

namespace usher::acme {
namespace {

using namespace std::chrono_literals;

class FileStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-storage-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static unsigned mode_of(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 0777;
  }

  std::string dir_;
  core::ManualClock clock_{std::chrono::system_clock::now()};
};

TEST_F(FileStorageTest, StoresPrivateFilesInPrivateDirectories) {
  FileStorage storage(dir_, clock_);
  storage.put("certificates/ca/a/a.key", "secret");
  EXPECT_EQ(storage.get("certificates/ca/a/a.key"), "secret");
  EXPECT_EQ(mode_of(dir_ + "/certificates/ca/a/a.key"), 0600u);
  EXPECT_EQ(mode_of(dir_ + "/certificates/ca/a"), 0700u);
  EXPECT_EQ(storage.get("certificates/ca/a/missing"), std::nullopt);
}

TEST_F(FileStorageTest, ListsKeysUnderAPrefixAndRemovesThem) {
  FileStorage storage(dir_, clock_);
  storage.put("certificates/ca/b/b.json", "{}");
  storage.put("certificates/ca/a/a.json", "{}");
  storage.put("acme/ca/accounts/x/account.key", "k");
  EXPECT_EQ(storage.list("certificates/"),
            (std::vector<std::string>{"certificates/ca/a/a.json", "certificates/ca/b/b.json"}));
  storage.remove("certificates/ca/a/a.json");
  storage.remove("certificates/ca/a/a.json");  // absent is fine
  EXPECT_EQ(storage.list("certificates/").size(), 1u);
  EXPECT_TRUE(storage.list("nothing/").empty());
}

TEST_F(FileStorageTest, RejectsKeysThatLeaveTheDirectory) {
  FileStorage storage(dir_, clock_);
  EXPECT_THROW(storage.put("../escape", "x"), std::runtime_error);
  EXPECT_THROW(storage.get("/etc/passwd"), std::runtime_error);
}

TEST_F(FileStorageTest, LocksExcludeOtherOwnersUntilTheyExpire) {
  FileStorage first(dir_, clock_);
  FileStorage second(dir_, clock_);
  EXPECT_TRUE(first.try_lock("issue-a.example.com", 30min));
  EXPECT_FALSE(second.try_lock("issue-a.example.com", 30min));
  EXPECT_TRUE(first.try_lock("issue-a.example.com", 30min));  // its own lock, extended
  second.unlock("issue-a.example.com");                       // not its lock: no effect
  EXPECT_FALSE(second.try_lock("issue-a.example.com", 30min));
  clock_.advance(31min);
  EXPECT_TRUE(second.try_lock("issue-a.example.com", 30min));  // the holder died
  EXPECT_FALSE(first.try_lock("issue-a.example.com", 30min));
  second.unlock("issue-a.example.com");
  EXPECT_TRUE(first.try_lock("issue-a.example.com", 30min));
}

}  // namespace
}  // namespace usher::acme
