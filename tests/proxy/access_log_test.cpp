#include "proxy/access_log.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "core/diagnostic.h"
#include "tests/test_files.h"

namespace usher::proxy {
namespace {

using ::usher::test_support::read_file;
using ::usher::test_support::ScratchDir;

namespace fs = std::filesystem;

AccessRecord sample_record() {
  AccessRecord r;
  r.time = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  r.remote_ip = "203.0.113.7";
  r.remote_port = 40000;
  r.proto = "HTTP/1.1";
  r.method = "GET";
  r.host = "a.example";
  r.uri = "/x?y=1";
  r.status = 200;
  r.size = 12;
  r.duration = 0.0012;
  r.upstream = "127.0.0.1:8080";
  return r;
}

/// A fresh directory, removed at the end of the test.
core::LogConfig file_log(const fs::path& path, std::string format = "") {
  core::LogConfig log;
  log.output.kind = core::LogOutput::Kind::kFile;
  log.output.path = path.string();
  log.format = std::move(format);
  return log;
}

TEST(AccessLogFormat, ConsoleLineReadsAsOneHumanLine) {
  std::string line;
  format_access_console(sample_record(), line);
  // The time is local; everything after it is fixed.
  EXPECT_EQ(line.substr(line.find(" INFO")),
            " INFO  access 203.0.113.7 \"GET a.example/x?y=1 HTTP/1.1\" 200 12B 1.2ms "
            "upstream 127.0.0.1:8080");
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_EQ(line[4], '/');  // 2023/11/14 …
}

TEST(AccessLogFormat, JournalLinesCarryNoTimestamp) {
  std::string json;
  format_access_record(sample_record(), json, "error", false);
  EXPECT_EQ(json.rfind("{\"level\":\"error\",\"logger\":\"http.log.access\"", 0), 0u) << json;
  EXPECT_EQ(json.find("\"ts\""), std::string::npos);
  std::string console;
  format_access_console(sample_record(), console, "info", false);
  EXPECT_EQ(console.rfind("INFO  access 203.0.113.7", 0), 0u) << console;
  EXPECT_EQ(journal_prefix("error"), "<3>");
  EXPECT_EQ(journal_prefix("info"), "<6>");
}

TEST(AccessLog, WritesTheFormatTheConfigNames) {
  ScratchDir dir("usher-access-log-test");
  SinkCache sinks;
  auto json = AccessLog::open(file_log(dir.path() / "json.log", "json"), sinks);
  auto console = AccessLog::open(file_log(dir.path() / "console.log", "console"), sinks);
  auto automatic = AccessLog::open(file_log(dir.path() / "auto.log"), sinks);
  json->write(sample_record());
  console->write(sample_record());
  automatic->write(sample_record());
  EXPECT_EQ(read_file(dir.path() / "json.log").rfind("{\"level\":\"info\",\"ts\":1700000000,", 0),
            0u);
  EXPECT_NE(read_file(dir.path() / "console.log").find(" INFO  access 203.0.113.7 \"GET"),
            std::string::npos);
  // A file is not a terminal: JSON unless the config says otherwise.
  EXPECT_EQ(read_file(dir.path() / "auto.log").front(), '{');
}

TEST(AccessLog, HonoursTheLevelWithServerErrorsAtErrorLevel) {
  ScratchDir dir("usher-access-log-test");
  SinkCache sinks;
  core::LogConfig config = file_log(dir.path() / "errors.log", "json");
  config.level = "ERROR";
  auto log = AccessLog::open(config, sinks);
  AccessRecord ok = sample_record();
  AccessRecord failed = sample_record();
  failed.status = 502;
  AccessRecord aborted = sample_record();
  aborted.status = 0;
  log->write(ok);
  log->write(failed);
  log->write(aborted);
  const std::string text = read_file(dir.path() / "errors.log");
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 2) << text;
  EXPECT_EQ(text.find("\"status\":200"), std::string::npos);
  EXPECT_NE(text.find("{\"level\":\"error\""), std::string::npos);
}

TEST(AccessLog, RollsFilesAtRollSizeAndKeepsRollKeep) {
  ScratchDir dir("usher-access-log-test");
  SinkCache sinks;
  core::LogConfig config = file_log(dir.path() / "access.log", "json");
  config.output.roll_size = 1000;  // a few lines per file
  config.output.roll_keep = 2;
  auto log = AccessLog::open(config, sinks);
  for (int i = 0; i < 60; ++i)
    log->write(sample_record());
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir.path()))
    names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"access.1.log", "access.2.log", "access.log"}));
  for (const auto& name : names)
    EXPECT_LE(fs::file_size(dir.path() / name), 1000u) << name;
}

TEST(AccessLog, NamesTheFileItCannotOpen) {
  ScratchDir dir("usher-access-log-test");
  std::ofstream(dir.path() / "plain-file") << "";
  // A regular file where a directory should be: spdlog creates missing
  // directories, but cannot make this one.
  const fs::path path = dir.path() / "plain-file" / "access.log";
  SinkCache sinks;
  try {
    AccessLog::open(file_log(path), sinks);
    FAIL() << "expected an error";
  } catch (const core::ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

TEST(JournalStream, RecognisesOnlyTheStreamJournalStreamNames) {
  ScratchDir dir("usher-access-log-test");
  std::ofstream(dir.path() / "journal") << "";
  std::ofstream(dir.path() / "other") << "";
  FILE* journal = std::fopen((dir.path() / "journal").c_str(), "a");
  FILE* other = std::fopen((dir.path() / "other").c_str(), "a");
  ASSERT_NE(journal, nullptr);
  ASSERT_NE(other, nullptr);
  struct stat st {};
  ASSERT_EQ(fstat(fileno(journal), &st), 0);
  const std::string value = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  ::setenv("JOURNAL_STREAM", value.c_str(), 1);
  EXPECT_TRUE(is_journal_stream(fileno(journal)));
  EXPECT_FALSE(is_journal_stream(fileno(other)));
  ::unsetenv("JOURNAL_STREAM");
  EXPECT_FALSE(is_journal_stream(fileno(journal)));
  std::fclose(journal);
  std::fclose(other);
}

TEST(LogLevel, ParsesConfigLevels) {
  EXPECT_EQ(parse_log_level("DEBUG", spdlog::level::info), spdlog::level::debug);
  EXPECT_EQ(parse_log_level("warn", spdlog::level::info), spdlog::level::warn);
  EXPECT_EQ(parse_log_level("ERROR", spdlog::level::info), spdlog::level::err);
  EXPECT_EQ(parse_log_level("", spdlog::level::debug), spdlog::level::debug);
}

}  // namespace
}  // namespace usher::proxy
