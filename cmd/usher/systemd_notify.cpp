#include "cmd/usher/systemd_notify.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>

#include "core/unique_fd.h"

namespace usher::cmd::systemd {

namespace {

std::optional<std::string> process_getenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

const GetEnv& or_process(const GetEnv& getenv) {
  static const GetEnv process = process_getenv;
  return getenv ? getenv : process;
}

/// The sockaddr_un for `socket` and its length. Abstract names ("@name")
/// have a leading NUL and no terminating one, so the length counts exactly
/// the name's bytes.
std::error_code socket_address(const std::string& socket, sockaddr_un& address, socklen_t& length) {
  // Like sd_notify: only absolute paths and abstract names are addresses.
  if (socket.size() < 2 || (socket.front() != '/' && socket.front() != '@')) {
    return std::make_error_code(std::errc::invalid_argument);
  }
  if (socket.size() >= sizeof(address.sun_path)) {
    return std::make_error_code(std::errc::filename_too_long);
  }
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, socket.data(), socket.size());
  size_t path_bytes = socket.size();
  if (socket.front() == '@') {
    address.sun_path[0] = '\0';
  } else {
    path_bytes += 1;  // the terminating NUL of a file system path
  }
  length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path_bytes);
  return {};
}

/// Sends `state` through a fresh notifier from the environment and logs a
/// failure: a lost notification is worth a warning, never worth stopping.
std::error_code notify_logged(std::string_view state) {
  auto notifier = Notifier::from_environment();
  auto ec = notifier.notify(state);
  if (ec) {
    std::string first_line(state.substr(0, state.find('\n')));
    spdlog::warn("telling systemd {}: {}", first_line, ec.message());
  }
  return ec;
}

std::chrono::microseconds monotonic_now() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::chrono::seconds(ts.tv_sec) + std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::nanoseconds(ts.tv_nsec));
}

std::optional<long long> parse_positive(const std::string& text) {
  long long value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value <= 0) return std::nullopt;
  return value;
}

}  // namespace

Notifier Notifier::from_environment(const GetEnv& getenv) {
  return Notifier(or_process(getenv)("NOTIFY_SOCKET").value_or(""));
}

std::error_code Notifier::notify(std::string_view state) const {
  if (!enabled()) return {};
  sockaddr_un address{};
  socklen_t length = 0;
  if (auto ec = socket_address(socket_, address, length)) return ec;
  core::UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return {errno, std::system_category()};
  // MSG_NOSIGNAL: a vanished manager must not raise SIGPIPE.
  ssize_t sent = ::sendto(fd.get(), state.data(), state.size(), MSG_NOSIGNAL,
                          reinterpret_cast<const sockaddr*>(&address), length);
  if (sent < 0) return {errno, std::system_category()};
  if (static_cast<size_t>(sent) != state.size())
    return std::make_error_code(std::errc::message_size);
  return {};
}

std::string reloading_state(std::chrono::microseconds monotonic) {
  return "RELOADING=1\nMONOTONIC_USEC=" + std::to_string(monotonic.count());
}

std::error_code notify_ready() {
  return notify_logged("READY=1");
}

std::error_code notify_reloading() {
  return notify_logged(reloading_state(monotonic_now()));
}

std::error_code notify_stopping() {
  return notify_logged("STOPPING=1");
}

std::optional<std::chrono::microseconds> watchdog_interval(const GetEnv& getenv) {
  const auto& env = or_process(getenv);
  auto usec = env("WATCHDOG_USEC");
  if (!usec) return std::nullopt;
  auto period = parse_positive(*usec);
  if (!period) return std::nullopt;
  if (auto pid_text = env("WATCHDOG_PID")) {
    auto pid = parse_positive(*pid_text);
    if (!pid || *pid != static_cast<long long>(::getpid())) return std::nullopt;
  }
  return std::chrono::microseconds(*period / 2);
}

void Watchdog::start() {
  if (!interval_ || !notifier_.enabled()) return;
  stopped_ = false;
  tick();
}

void Watchdog::tick() {
  if (auto ec = notifier_.notify("WATCHDOG=1")) {
    spdlog::warn("telling systemd WATCHDOG=1: {}", ec.message());
  }
  timer_.expires_after(*interval_);
  timer_.async_wait([this](std::error_code ec) {
    if (!ec && !stopped_) tick();
  });
}

ReloadNotice::ReloadNotice() {
  notify_reloading();
}

ReloadNotice::~ReloadNotice() {
  notify_ready();
}

}  // namespace usher::cmd::systemd
