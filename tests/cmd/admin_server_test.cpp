// The admin server's HTTP behaviour through a real socket and the CLI's own
// client: the endpoint table, 403/404/405/413, and what reaches the actions.
// The actions are a recorder here; tests/integration/admin_test.sh drives
// the same endpoints against the real instance.

#include "cmd/usher/admin_server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>

#include "cmd/usher/admin_client.h"

namespace usher::cmd {
namespace {

class RecordingActions : public AdminActions {
 public:
  LoadOutcome load(const std::string& text, core::ConfigFormat format) override {
    last_text = text;
    last_format = format;
    LoadOutcome outcome;
    if (text.find("bad") != std::string::npos) {
      outcome.errors = {"admin:/load:1: first problem", "admin:/load:2: second problem"};
    } else {
      outcome.applied = true;
      outcome.sites = 2;
    }
    return outcome;
  }
  std::string config_yaml() override { return "global: {}\n"; }
  std::string status_json() override { return "{\"version\":\"x\"}"; }
  std::string metrics() override { return "usher_workers 1\n"; }
  void request_stop() override { stops++; }

  std::string last_text;
  core::ConfigFormat last_format = core::ConfigFormat::kAuto;
  std::atomic<int> stops{0};
};

/// An admin server on a Unix socket in a fresh temporary directory.
class AdminServerTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("usher-admin-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
    std::string error;
    address_ = *parse_admin_address("unix/" + (dir_ / "admin.sock").string(), &error);
    server_ = std::make_unique<AdminServer>(address_, actions_);
    server_->start();
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  AdminResponse get(const std::string& target) { return admin_request(address_, "GET", target); }

  std::filesystem::path dir_;
  AdminAddress address_;
  RecordingActions actions_;
  std::unique_ptr<AdminServer> server_;
};

TEST_F(AdminServerTest, CreatesTheSocketOwnerOnly) {
  struct stat st {};
  ASSERT_EQ(::stat(address_.unix_path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(AdminServerTest, AnswersHealthzConfigStatusAndMetrics) {
  auto health = get("/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  EXPECT_EQ(get("/config").body, "global: {}\n");
  EXPECT_EQ(get("/config").content_type, "application/yaml");
  EXPECT_EQ(get("/status").content_type, "application/json");
  EXPECT_NE(get("/metrics").content_type.find("version=0.0.4"), std::string::npos);
}

TEST_F(AdminServerTest, LoadPassesTheBodyAndItsFormat) {
  auto ok = admin_request(address_, "POST", "/load", "localhost { respond hi }", "text/caddyfile");
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body, "config applied: 2 sites\n");
  EXPECT_EQ(actions_.last_text, "localhost { respond hi }");
  EXPECT_EQ(actions_.last_format, core::ConfigFormat::kCaddyfile);
  admin_request(address_, "POST", "/load", "sites: []", "application/yaml; charset=utf-8");
  EXPECT_EQ(actions_.last_format, core::ConfigFormat::kYaml);
  admin_request(address_, "POST", "/load?adapter=yaml", "sites: []", "text/plain");
  EXPECT_EQ(actions_.last_format, core::ConfigFormat::kYaml);
  auto unknown = admin_request(address_, "POST", "/load?adapter=json", "{}", "text/plain");
  EXPECT_EQ(unknown.status, 400);
  EXPECT_NE(unknown.body.find("unknown adapter `json`"), std::string::npos);
}

TEST_F(AdminServerTest, RejectedLoadListsEveryErrorOnItsOwnLine) {
  auto bad = admin_request(address_, "POST", "/load", "bad", "text/caddyfile");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(bad.content_type, "text/plain; charset=utf-8");
  EXPECT_EQ(bad.body, "admin:/load:1: first problem\nadmin:/load:2: second problem\n");
}

TEST_F(AdminServerTest, WrongMethodIs405WithAllowAndUnknownPathIs404) {
  auto wrong = admin_request(address_, "GET", "/load");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_NE(wrong.body.find("POST"), std::string::npos);
  EXPECT_EQ(admin_request(address_, "POST", "/status").status, 405);
  EXPECT_EQ(get("/nothing-here").status, 404);
  EXPECT_EQ(actions_.stops, 0);
}

TEST_F(AdminServerTest, BodyOverTheLimitIs413AndNeverLoaded) {
  std::string big(kMaxAdminBody + 1, 'a');
  auto response = admin_request(address_, "POST", "/load", big, "text/caddyfile");
  EXPECT_EQ(response.status, 413);
  EXPECT_TRUE(actions_.last_text.empty());
}

TEST_F(AdminServerTest, StopAnswersThenAsksForTheShutdown) {
  auto response = admin_request(address_, "POST", "/stop");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(actions_.stops, 1);
}

TEST_F(AdminServerTest, RemovesItsSocketOnStopAndReplacesAStaleOne) {
  server_->stop();
  EXPECT_FALSE(std::filesystem::exists(address_.unix_path));
  EXPECT_THROW(admin_request(address_, "GET", "/healthz"), AdminUnreachable);
  // A socket file nobody listens on (left by a crashed instance) is replaced.
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", address_.unix_path.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ::close(fd);
  ASSERT_TRUE(std::filesystem::exists(address_.unix_path));
  server_ = std::make_unique<AdminServer>(address_, actions_);
  server_->start();
  EXPECT_EQ(get("/healthz").status, 200);
}

TEST_F(AdminServerTest, RefusesASocketAnotherServerIsUsing) {
  AdminServer second(address_, actions_);
  try {
    second.start();
    FAIL() << "a second server bound a live socket";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("change the global `admin` option"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(get("/healthz").status, 200);  // the first one still answers
}

TEST(AdminServerTcp, PortInUseIsAClearError) {
  RecordingActions actions;
  std::string error;
  // Port 0 cannot be named in an admin address; find a free port by binding one.
  auto first_address = *parse_admin_address("127.0.0.1:1", &error);
  for (uint16_t port = 20000 + static_cast<uint16_t>(::getpid() % 20000); port < 65000; ++port) {
    first_address.port = port;
    try {
      AdminServer probe(first_address, actions);
      probe.start();
      AdminServer second(first_address, actions);
      try {
        second.start();
        FAIL() << "bound a port already in use";
      } catch (const std::runtime_error& e) {
        std::string what = e.what();
        EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
        EXPECT_NE(what.find("in use"), std::string::npos) << what;
        EXPECT_NE(what.find("`admin off`"), std::string::npos) << what;
      }
      auto answer = admin_request(first_address, "GET", "/healthz");
      EXPECT_EQ(answer.status, 200);
      return;
    } catch (const std::runtime_error&) {
      continue;  // that port was taken by someone else; try the next
    }
  }
  FAIL() << "no free port found";
}

}  // namespace
}  // namespace usher::cmd
