#pragma once

#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace usher::cmd::systemd {

/// Reads one environment variable; injected by tests, the process
/// environment otherwise.
using GetEnv = std::function<std::optional<std::string>(const std::string&)>;

/// The sd_notify(3) datagram protocol spoken directly, without libsystemd:
/// one AF_UNIX datagram of newline-separated KEY=VALUE assignments sent to
/// $NOTIFY_SOCKET (a path, or an abstract name written with a leading '@').
/// A process that systemd did not start has no NOTIFY_SOCKET, and every call
/// is then a successful no-op, so `usher run` from a shell pays nothing.
class Notifier {
 public:
  /// The notifier of this process: NOTIFY_SOCKET from `getenv` (the process
  /// environment when empty).
  static Notifier from_environment(const GetEnv& getenv = {});

  /// A notifier for the given socket address ("" disables it).
  explicit Notifier(std::string socket) : socket_(std::move(socket)) {}

  /// True when there is a socket to notify.
  bool enabled() const { return !socket_.empty(); }

  /// Sends `state` (e.g. "READY=1\nSTATUS=serving") as one datagram. Errors
  /// say which socket failed; the caller decides whether that matters.
  std::error_code notify(std::string_view state) const;

 private:
  std::string socket_;
};

/// READY=1: the listeners are open and the service answers (Type=notify
/// makes `systemctl start` wait for this), or a reload has finished.
std::error_code notify_ready();

/// RELOADING=1 with MONOTONIC_USEC (systemd 253 and later require it; older
/// ones ignore it): a reload has begun; notify_ready() ends it.
std::error_code notify_reloading();

/// STOPPING=1: the process is draining and will exit.
std::error_code notify_stopping();

/// The state text notify_reloading() sends, for a given CLOCK_MONOTONIC time.
std::string reloading_state(std::chrono::microseconds monotonic_now);

/// How often to send WATCHDOG=1: half of $WATCHDOG_USEC, so that one late
/// timer tick never trips the watchdog. Nothing when the watchdog is off,
/// when WATCHDOG_USEC is not a positive number, or when $WATCHDOG_PID names
/// another process (the variables were inherited, not meant for us).
std::optional<std::chrono::microseconds> watchdog_interval(const GetEnv& getenv = {});

/// Sends WATCHDOG=1 from a timer on the control thread's io_context, every
/// watchdog_interval(). The control thread is the one that handles signals
/// and reloads, so a wedged control thread makes systemd restart usher.
class Watchdog {
 public:
  Watchdog(asio::io_context& control, Notifier notifier,
           std::optional<std::chrono::microseconds> interval)
      : notifier_(std::move(notifier)), interval_(interval), timer_(control) {}

  /// The watchdog of this process, from the environment.
  explicit Watchdog(asio::io_context& control)
      : Watchdog(control, Notifier::from_environment(), watchdog_interval()) {}

  /// Sends the first WATCHDOG=1 now and schedules the rest; does nothing
  /// when the watchdog is off.
  void start();

  /// Stops pinging (shutdown). A tick already due when stop() runs is
  /// dropped too, not only the timer's next wait.
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }

 private:
  void tick();

  Notifier notifier_;
  std::optional<std::chrono::microseconds> interval_;
  asio::steady_timer timer_;
  bool stopped_ = false;
};

/// Brackets a reload: RELOADING=1 when constructed, READY=1 when destroyed,
/// whichever way the reload ends (a rejected config leaves the old one
/// serving, so the service is ready again either way).
class ReloadNotice {
 public:
  ReloadNotice();
  ~ReloadNotice();
  ReloadNotice(const ReloadNotice&) = delete;
  ReloadNotice& operator=(const ReloadNotice&) = delete;
};

}  // namespace usher::cmd::systemd
