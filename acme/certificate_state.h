#pragma once

// What the manager remembers about one managed name between runs
// (design.md §4): the certificate's issuer and validity, its ARI window,
// and the retry state (attempts, last error, next try). Stored as
// `certificates/<ca>/<name>/<name>.json` beside the certificate.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace usher::acme {

/// The persisted state of one managed name.
struct CertificateState {
  using TimePoint = std::chrono::system_clock::time_point;

  std::string name;
  std::string issuer;           // ACME directory URL of the current certificate
  std::string certificate_key;  // storage key prefix of <name>.crt/.key ("" = none yet)
  std::optional<TimePoint> not_before;
  std::optional<TimePoint> not_after;
  std::string ari_id;  // RFC 9773 certificate ID
  std::optional<TimePoint> ari_window_start;
  std::optional<TimePoint> ari_window_end;
  std::optional<TimePoint> ari_recheck;  // when to ask the CA again
  std::optional<TimePoint> renew_at;     // the chosen renewal time
  int attempts = 0;                      // consecutive failures
  std::string last_error;
  std::optional<TimePoint> next_try;  // no order before this (backoff, Retry-After)
  size_t issuer_index = 0;            // which configured issuer to use next
  std::string challenge;              // the challenge type that worked last

  std::string to_json() const;
  /// Parses a state file; throws std::runtime_error ("invalid state: …")
  /// on anything malformed so that the caller can report it and go on.
  static CertificateState from_json(const std::string& text);
};

}  // namespace usher::acme
