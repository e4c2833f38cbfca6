#include "cmd/usher/logging.h"
#include "tests/test_files.h"

#include <gtest/gtest.h>
#include <spdlog/details/log_msg.h>
#include <spdlog/spdlog.h>

#include <filesystem>
#include <fstream>

namespace usher::cmd {
namespace {

using ::usher::test_support::read_file;
using ::usher::test_support::ScratchDir;

namespace fs = std::filesystem;

std::string format(bool json, bool journal, spdlog::level::level_enum level,
                   std::string_view text) {
  auto formatter = make_log_formatter(json, journal);
  spdlog::details::log_msg msg("usher", level, text);
  msg.time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  spdlog::memory_buf_t buffer;
  formatter->format(msg, buffer);
  return std::string(buffer.data(), buffer.size());
}

TEST(LogFormatter, WritesJsonLines) {
  EXPECT_EQ(format(true, false, spdlog::level::warn, "upstream \"a\" is down"),
            "{\"level\":\"warn\",\"ts\":1700000000.000000,\"logger\":\"usher\","
            "\"msg\":\"upstream \\\"a\\\" is down\"}\n");
}

TEST(LogFormatter, WritesConsoleLinesWithTimeAndLevel) {
  const std::string line = format(false, false, spdlog::level::info, "usher started");
  EXPECT_EQ(line.substr(line.find(" INFO")), " INFO  usher started\n");
  EXPECT_EQ(line[4], '/');
}

TEST(LogFormatter, LeavesTheTimestampToTheJournal) {
  EXPECT_EQ(format(false, true, spdlog::level::err, "reload failed"), "<3>ERROR reload failed\n");
  EXPECT_EQ(format(true, true, spdlog::level::debug, "x"),
            "<7>{\"level\":\"debug\",\"logger\":\"usher\",\"msg\":\"x\"}\n");
}

core::LogConfig file_log(const fs::path& path, std::string level = "") {
  core::LogConfig log;
  log.output.kind = core::LogOutput::Kind::kFile;
  log.output.path = path.string();
  log.level = std::move(level);
  return log;
}

TEST(LogSetup, DebugLowersTheDefaultLevelAndAnExplicitLevelWins) {
  ScratchDir dir("usher-logging-test");
  core::GlobalOptions global;
  EXPECT_EQ(make_log_setup(global).level, spdlog::level::info);
  global.debug = true;
  EXPECT_EQ(make_log_setup(global).level, spdlog::level::debug);
  global.logs = {file_log(dir.path() / "a.log", "WARN")};
  EXPECT_EQ(make_log_setup(global).level, spdlog::level::warn);
}

TEST(LogSetup, EachOutputFiltersItsOwnLevelAndReloadSwapsOutputs) {
  ScratchDir dir("usher-logging-test");
  core::GlobalOptions global;
  global.logs = {file_log(dir.path() / "all.log", "DEBUG"),
                 file_log(dir.path() / "errors.log", "ERROR")};
  install_logging(make_log_setup(global));
  spdlog::debug("a debug line");
  spdlog::error("an error line");
  // Reload: new outputs for the same logger.
  core::GlobalOptions next;
  next.logs = {file_log(dir.path() / "next.log", "INFO")};
  install_logging(make_log_setup(next));
  spdlog::debug("hidden at info");
  spdlog::info("after reload");
  const std::string all = read_file(dir.path() / "all.log");
  const std::string errors = read_file(dir.path() / "errors.log");
  const std::string after = read_file(dir.path() / "next.log");
  EXPECT_NE(all.find("a debug line"), std::string::npos);
  EXPECT_NE(all.find("an error line"), std::string::npos);
  EXPECT_EQ(all.find("after reload"), std::string::npos);
  EXPECT_EQ(errors.find("a debug line"), std::string::npos);
  EXPECT_NE(errors.find("\"level\":\"error\""), std::string::npos);  // files get JSON
  EXPECT_EQ(after.find("hidden at info"), std::string::npos);
  EXPECT_NE(after.find("after reload"), std::string::npos);
  install_logging(make_log_setup(core::GlobalOptions{}));  // back to stderr for other tests
}

TEST(LogSetup, NamesALogFileItCannotOpen) {
  ScratchDir dir("usher-logging-test");
  std::ofstream(dir.path() / "plain-file") << "";
  const fs::path path = dir.path() / "plain-file" / "usher.log";  // its "directory" is a file
  core::GlobalOptions global;
  global.logs = {file_log(path)};
  try {
    make_log_setup(global);
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace usher::cmd
