#pragma once

// The steady clock read at the kernel's tick, for deadlines armed on every
// request (decision 0020).

#include <time.h>

#include <chrono>

namespace usher::proxy {

/// std::chrono::steady_clock's time (CLOCK_MONOTONIC) as of the kernel's last
/// tick (CLOCK_MONOTONIC_COARSE): the same time line, at most one tick (1 to
/// 10 ms) behind, read from a shared page without reading the TSC (about
/// 3 ns instead of 21 here). For deadlines of a second or more that each
/// request arms several times; a deadline computed from it fires at most a
/// tick early. Durations that are reported (access logs, metrics) keep the
/// fine clock.
inline std::chrono::steady_clock::time_point coarse_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return std::chrono::steady_clock::time_point(
      std::chrono::duration_cast<std::chrono::steady_clock::duration>(
          std::chrono::seconds(ts.tv_sec) + std::chrono::nanoseconds(ts.tv_nsec)));
}

}  // namespace usher::proxy
