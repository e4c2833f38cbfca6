#pragma once

// The CLI's side of the admin API: one request, one response, over TCP on
// loopback or a Unix socket (`usher reload`, `stop`, `status`, `certs`).

#include <chrono>
#include <stdexcept>
#include <string>
#include <string_view>

#include "cmd/usher/admin_address.h"

namespace usher::cmd {

/// Nothing answered at the address (refused, no socket, timed out).
class AdminUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct AdminResponse {
  int status = 0;
  std::string content_type;
  std::string body;
};

/// How long the CLI waits for an answer: a reload builds the whole config
/// (and may load certificate files) before it answers.
inline constexpr std::chrono::seconds kAdminClientTimeout{60};

/// Sends one request and reads the whole response. Throws AdminUnreachable
/// when nothing listens or answers, std::runtime_error for a garbled reply.
AdminResponse admin_request(const AdminAddress& address, std::string_view method,
                            std::string_view target, std::string_view body = {},
                            std::string_view content_type = {},
                            std::chrono::seconds timeout = kAdminClientTimeout);

}  // namespace usher::cmd
