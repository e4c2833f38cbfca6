#pragma once

// The bridge between the order flow and the proxy's ports: the client
// presents challenge answers here (ChallengeSolver), the proxy reads them
// on the HTTP and HTTPS ports (core::ChallengeResponder).

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "acme/client.h"
#include "core/certificates.h"
#include "core/clock.h"

namespace usher::acme {

/// Pending HTTP-01 tokens and TLS-ALPN-01 certificates. Thread-safe: the
/// renewal thread writes, proxy workers read (rarely: only CA validation
/// requests reach it).
class AcmeChallengeResponder final : public core::ChallengeResponder, public ChallengeSolver {
 public:
  explicit AcmeChallengeResponder(const core::Clock& clock) : clock_(clock) {}

  // core::ChallengeResponder
  std::optional<std::string> http01_key_authorization(std::string_view host,
                                                      std::string_view token) const override;
  std::shared_ptr<const core::TlsCertificate> tls_alpn01_certificate(
      std::string_view server_name) const override;

  // ChallengeSolver
  void present(const std::string& type, const std::string& name, const std::string& token,
               const std::string& key_authorization) override;
  void cleanup(const std::string& type, const std::string& name, const std::string& token) override;

  /// How many challenges are being answered (tests, status).
  size_t pending() const;

 private:
  struct HttpAnswer {
    std::string name;  // lower case
    std::string key_authorization;
  };

  const core::Clock& clock_;
  mutable std::mutex mutex_;
  std::map<std::string, HttpAnswer, std::less<>> http_;  // by token
  std::map<std::string, std::shared_ptr<const core::TlsCertificate>, std::less<>> alpn_;  // by name
};

}  // namespace usher::acme
