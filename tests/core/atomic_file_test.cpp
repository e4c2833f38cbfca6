#include "core/atomic_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <stdexcept>

namespace usher::core {
namespace {

using ::testing::HasSubstr;

class AtomicFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "usher-atomic-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  static mode_t mode_of(const std::string& path) {
    struct stat info {};
    EXPECT_EQ(::stat(path.c_str(), &info), 0) << path;
    return info.st_mode & 07777;
  }
  size_t entries() const {
    size_t count = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir_))
      ++count;
    return count;
  }

  std::string dir_;
};

class AtomicFileModes : public AtomicFile, public ::testing::WithParamInterface<mode_t> {};

TEST_P(AtomicFileModes, WritesTheRequestedMode) {
  std::string path = dir_ + "/file";
  write_file_atomically(path, "content", GetParam());
  EXPECT_EQ(mode_of(path), GetParam());
  EXPECT_EQ(read_file(path), "content");
}

INSTANTIATE_TEST_SUITE_P(AtomicFile, AtomicFileModes, ::testing::Values(0600, 0644, 0400));

TEST_F(AtomicFile, ReplacesAnExistingFileAndItsMode) {
  std::string path = dir_ + "/file";
  write_file_atomically(path, "old content that is longer", 0644);
  write_file_atomically(path, "new", 0600);
  EXPECT_EQ(read_file(path), "new");
  EXPECT_EQ(mode_of(path), 0600u);
}

TEST_F(AtomicFile, LeavesNoTemporaryFileBehind) {
  write_file_atomically(dir_ + "/a", "1", 0600);
  write_file_atomically(dir_ + "/a", "2", 0600);
  EXPECT_EQ(entries(), 1u);
}

TEST_F(AtomicFile, WritesBinaryBytesExactly) {
  std::string bytes("a\0b\xff", 4);
  write_file_atomically(dir_ + "/bin", bytes, 0600);
  EXPECT_EQ(read_file(dir_ + "/bin"), bytes);
}

TEST_F(AtomicFile, KeepsTheOldFileWhenTheReplacementCannotBeRenamed) {
  // A directory in the way makes rename() fail after the temp file is written.
  std::string path = dir_ + "/taken";
  std::filesystem::create_directory(path);
  EXPECT_THROW(write_file_atomically(path, "x", 0600), std::runtime_error);
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(entries(), 1u);  // the temporary file was removed
}

TEST_F(AtomicFile, NamesThePathAndReasonOnFailure) {
  std::string path = dir_ + "/missing/file";
  try {
    write_file_atomically(path, "x", 0600);
    FAIL() << "wrote into a missing directory";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(path));
    EXPECT_THAT(e.what(), HasSubstr("No such file or directory"));
  }
}

TEST_F(AtomicFile, CreatesPrivateDirectoriesWithParents) {
  std::string path = dir_ + "/a/b/c";
  ensure_private_directory(path);
  EXPECT_TRUE(std::filesystem::is_directory(path));
  EXPECT_EQ(mode_of(dir_ + "/a"), 0700u);
  EXPECT_EQ(mode_of(path), 0700u);
  ensure_private_directory(path);  // existing: fine
}

TEST_F(AtomicFile, KeepsTheModeOfAnExistingDirectory) {
  std::string path = dir_ + "/shared";
  std::filesystem::create_directory(path);
  ::chmod(path.c_str(), 0755);
  ensure_private_directory(path + "/inner");
  EXPECT_EQ(mode_of(path), 0755u);
  EXPECT_EQ(mode_of(path + "/inner"), 0700u);
}

TEST_F(AtomicFile, RefusesADirectoryPathThatIsAFile) {
  write_file_atomically(dir_ + "/file", "x", 0600);
  EXPECT_THROW(ensure_private_directory(dir_ + "/file"), std::runtime_error);
}

TEST_F(AtomicFile, ReadFileNamesAMissingFile) {
  try {
    read_file(dir_ + "/nothing");
    FAIL() << "read a missing file";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr(dir_ + "/nothing"));
  }
}

}  // namespace
}  // namespace usher::core
