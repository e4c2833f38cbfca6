#include "cmd/usher/systemd_notify.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <map>

namespace usher::cmd::systemd {
namespace {

using namespace std::chrono_literals;

// Bounds every wait for a datagram: the sender runs in the same process, so a
// datagram that has not arrived by then never will.
constexpr int kReceiveTimeoutMs = 2000;

/// A real AF_UNIX datagram socket standing in for systemd's notify socket,
/// bound to a file in a fresh temporary directory or to an abstract name.
class NotifySocket {
 public:
  enum class Kind { kPath, kAbstract };

  explicit NotifySocket(Kind kind) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT_GE(fd_, 0) << std::strerror(errno);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    socklen_t length = 0;
    if (kind == Kind::kPath) {
      char dir_template[] = "/tmp/usher-notify-XXXXXX";
      EXPECT_NE(::mkdtemp(dir_template), nullptr);
      dir_ = dir_template;
      name_ = dir_ + "/notify";
      std::memcpy(address.sun_path, name_.c_str(), name_.size() + 1);
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + 1);
    } else {
      static std::atomic<int> counter{0};
      name_ = "@usher-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
      std::memcpy(address.sun_path + 1, name_.data() + 1, name_.size() - 1);
      length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    }
    EXPECT_EQ(::bind(fd_, reinterpret_cast<const sockaddr*>(&address), length), 0)
        << name_ << ": " << std::strerror(errno);
  }

  ~NotifySocket() {
    ::close(fd_);
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  /// The address as NOTIFY_SOCKET spells it.
  const std::string& name() const { return name_; }

  /// The next datagram, or nothing when none arrives in time.
  std::optional<std::string> receive(int timeout_ms = kReceiveTimeoutMs) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1) return std::nullopt;
    char buffer[4096];
    ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<size_t>(n));
  }

 private:
  int fd_ = -1;
  std::string dir_;
  std::string name_;
};

GetEnv env_of(std::map<std::string, std::string> values) {
  return [values](const std::string& name) -> std::optional<std::string> {
    auto it = values.find(name);
    if (it == values.end()) return std::nullopt;
    return it->second;
  };
}

/// Sets NOTIFY_SOCKET for the process functions and restores it afterwards.
class ScopedNotifySocket {
 public:
  explicit ScopedNotifySocket(const std::string& value) {
    if (const char* old = std::getenv("NOTIFY_SOCKET")) old_ = old;
    ::setenv("NOTIFY_SOCKET", value.c_str(), 1);
  }
  ~ScopedNotifySocket() {
    if (old_) {
      ::setenv("NOTIFY_SOCKET", old_->c_str(), 1);
    } else {
      ::unsetenv("NOTIFY_SOCKET");
    }
  }

 private:
  std::optional<std::string> old_;
};

TEST(SystemdNotify, SendsOneDatagramToAPathSocket) {
  NotifySocket socket(NotifySocket::Kind::kPath);
  Notifier notifier(socket.name());
  ASSERT_TRUE(notifier.enabled());
  EXPECT_FALSE(notifier.notify("READY=1\nSTATUS=serving 2 sites"));
  EXPECT_EQ(socket.receive(), "READY=1\nSTATUS=serving 2 sites");
}

TEST(SystemdNotify, SendsToAnAbstractSocketNamedWithAnAt) {
  NotifySocket socket(NotifySocket::Kind::kAbstract);
  Notifier notifier(socket.name());
  EXPECT_FALSE(notifier.notify("STOPPING=1"));
  EXPECT_EQ(socket.receive(), "STOPPING=1");
}

TEST(SystemdNotify, WithoutNotifySocketEveryCallSucceedsAndSendsNothing) {
  auto notifier = Notifier::from_environment(env_of({}));
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.notify("READY=1"));
}

TEST(SystemdNotify, ReadsTheSocketFromTheEnvironment) {
  NotifySocket socket(NotifySocket::Kind::kPath);
  auto notifier = Notifier::from_environment(env_of({{"NOTIFY_SOCKET", socket.name()}}));
  EXPECT_FALSE(notifier.notify("READY=1"));
  EXPECT_EQ(socket.receive(), "READY=1");
}

TEST(SystemdNotify, RejectsRelativeAndOverlongAddresses) {
  EXPECT_EQ(Notifier("run/notify").notify("READY=1"), std::errc::invalid_argument);
  EXPECT_EQ(Notifier("@").notify("READY=1"), std::errc::invalid_argument);
  EXPECT_EQ(Notifier("/" + std::string(200, 'x')).notify("READY=1"), std::errc::filename_too_long);
}

TEST(SystemdNotify, ReportsASocketNobodyListensOn) {
  std::string missing;
  {
    NotifySocket socket(NotifySocket::Kind::kPath);
    missing = socket.name();
  }  // closed and its directory removed
  auto ec = Notifier(missing).notify("READY=1");
  EXPECT_TRUE(ec);
  EXPECT_EQ(ec.category(), std::system_category());
}

TEST(SystemdNotify, ProcessFunctionsSendReadyReloadingAndStopping) {
  NotifySocket socket(NotifySocket::Kind::kAbstract);
  ScopedNotifySocket env(socket.name());
  EXPECT_FALSE(notify_ready());
  EXPECT_EQ(socket.receive(), "READY=1");
  EXPECT_FALSE(notify_reloading());
  auto reloading = socket.receive();
  ASSERT_TRUE(reloading);
  EXPECT_EQ(reloading->rfind("RELOADING=1\nMONOTONIC_USEC=", 0), 0u) << *reloading;
  EXPECT_GT(std::stoll(reloading->substr(reloading->find('=', 12) + 1)), 0);
  EXPECT_FALSE(notify_stopping());
  EXPECT_EQ(socket.receive(), "STOPPING=1");
}

TEST(SystemdNotify, ReloadingStateCarriesTheMonotonicTime) {
  EXPECT_EQ(reloading_state(1234567us), "RELOADING=1\nMONOTONIC_USEC=1234567");
}

TEST(SystemdNotify, ReloadNoticeBracketsAReloadWithReloadingAndReady) {
  NotifySocket socket(NotifySocket::Kind::kPath);
  ScopedNotifySocket env(socket.name());
  {
    ReloadNotice notice;
    auto first = socket.receive();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->rfind("RELOADING=1\n", 0), 0u) << *first;
    EXPECT_EQ(socket.receive(50), std::nullopt);  // READY=1 only once the reload ends
  }
  EXPECT_EQ(socket.receive(), "READY=1");
}

TEST(SystemdNotify, WatchdogIntervalIsHalfTheConfiguredPeriod) {
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "30000000"}})), 15s);
  auto own_pid = std::to_string(::getpid());
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "4000"}, {"WATCHDOG_PID", own_pid}})),
            2000us);
}

TEST(SystemdNotify, WatchdogIsOffWhenUnsetInvalidOrMeantForAnotherProcess) {
  EXPECT_EQ(watchdog_interval(env_of({})), std::nullopt);
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "0"}})), std::nullopt);
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "-5"}})), std::nullopt);
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "30s"}})), std::nullopt);
  auto other_pid = std::to_string(::getpid() + 1);
  EXPECT_EQ(watchdog_interval(env_of({{"WATCHDOG_USEC", "30000000"}, {"WATCHDOG_PID", other_pid}})),
            std::nullopt);
}

TEST(SystemdNotify, WatchdogPingsAtStartAndThenEveryInterval) {
  NotifySocket socket(NotifySocket::Kind::kPath);
  asio::io_context control;
  Watchdog watchdog(control, Notifier(socket.name()), 20ms);
  watchdog.start();
  EXPECT_EQ(socket.receive(), "WATCHDOG=1");  // sent by start() itself
  // Two more pings need two timer expiries; the loop is bounded by the
  // number of pings and by run_for's own time limit.
  int pings = 0;
  for (int round = 0; round < 50 && pings < 2; ++round) {
    control.run_for(20ms);
    while (auto datagram = socket.receive(0)) {
      EXPECT_EQ(*datagram, "WATCHDOG=1");
      ++pings;
    }
  }
  EXPECT_GE(pings, 2);
  while (socket.receive(0)) {
  }
  watchdog.stop();
  control.run_for(60ms);  // three intervals: the stopped timer sends nothing
  EXPECT_EQ(socket.receive(0), std::nullopt);
}

TEST(SystemdNotify, WatchdogWithoutAnIntervalSendsNothing) {
  NotifySocket socket(NotifySocket::Kind::kPath);
  asio::io_context control;
  Watchdog watchdog(control, Notifier(socket.name()), std::nullopt);
  watchdog.start();
  control.run_for(50ms);
  EXPECT_EQ(socket.receive(0), std::nullopt);
}

}  // namespace
}  // namespace usher::cmd::systemd
