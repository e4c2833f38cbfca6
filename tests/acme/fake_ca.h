#pragma once

// An in-process ACME CA for unit tests (style rule 15: fakes for what cannot
// run — a CA that answers rateLimited, one with ARI, a clock two months on).
// It implements enough of RFC 8555 to issue real certificates signed by a
// test root, verifies every JWS (a wrong signature fails the test), checks
// challenges through the ChallengeResponder the client publishes to, and
// can be scripted to misbehave.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "acme/http_transport.h"
#include "acme/json.h"
#include "core/certificates.h"
#include "core/clock.h"
#include "core/openssl.h"

namespace usher::acme::testing {

/// The fake CA. Thread-safe (the manager orders in parallel).
class FakeCa final : public HttpTransport {
 public:
  static constexpr const char* kBase = "https://ca.test";
  static constexpr const char* kDirectoryUrl = "https://ca.test/directory";

  FakeCa(const core::Clock& clock, const core::ChallengeResponder* responder);

  HttpResponse send(const HttpRequest& request) override;
  /// Where challenges are checked (may be set after construction).
  void set_responder(const core::ChallengeResponder* responder) { responder_ = responder; }

  // ---- script (set before the client runs; guarded by the same mutex)
  struct Script {
    int bad_nonces = 0;           // reject the next N signed POSTs with badNonce
    int rate_limited_orders = 0;  // refuse the next N newOrders with rateLimited
    std::chrono::seconds rate_limit_retry_after{3600};
    int processing_polls = 0;  // after finalize, the order stays processing for N fetches
    std::set<std::string> failing_types;  // challenge types that validate invalid
    std::vector<std::string> offered_types{"http-01", "tls-alpn-01"};
    std::chrono::hours lifetime{24 * 90};
    bool ari = false;  // publish renewalInfo
    // ARI window relative to each certificate's notBefore; defaults to the
    // last third of its life.
    std::optional<std::pair<std::chrono::hours, std::chrono::hours>> ari_window;
    std::chrono::seconds ari_retry_after{21600};
    bool eab_required = false;
    std::string eab_key_id = "kid-1";
    std::string eab_mac_key;       // raw bytes
    bool alternate_chain = false;  // offer a second chain via Link rel="alternate"
    bool down = false;             // every request fails as if the CA were unreachable
  };
  Script& script() { return script_; }
  std::mutex& mutex() { return mutex_; }

  // ---- observations
  int orders_created() const;
  int accounts_created() const;
  int bad_signatures() const;
  std::vector<std::string> replaces_seen() const;
  std::vector<std::string> validated_types() const;  // challenge types that passed
  X509* root() const { return root_.get(); }
  /// Common name of the alternate chain's issuer ("Fake Alternate Root").
  static constexpr const char* kAlternateIssuer = "Fake Alternate Root";

 private:
  struct AccountState {
    std::string url;
    core::EvpPkeyPtr key;
    std::string thumbprint;
  };
  struct ChallengeState {
    std::string type, token, status = "pending", error_type, error_detail;
    int authz = 0;
  };
  struct AuthzState {
    std::string name, status = "pending";
    std::vector<int> challenges;
    int order = 0;
  };
  struct OrderState {
    std::string status = "pending";
    std::vector<std::string> names;
    std::vector<int> authzs;
    std::string account;
    int processing_left = 0;
    int cert = 0;
    std::string replaces;
  };
  struct Verified {
    Json header;
    std::string payload;
    AccountState* account = nullptr;
  };

  HttpResponse handle(const HttpRequest& request);
  HttpResponse handle_post(const std::string& path, const HttpRequest& request);
  std::optional<Verified> verify(const HttpRequest& request, HttpResponse& error);
  HttpResponse new_account(const Verified& jws, const Json& payload);
  HttpResponse new_order(const Verified& jws, const Json& payload);
  HttpResponse get_order(int id);
  HttpResponse get_authz(int id);
  HttpResponse post_challenge(int id);
  HttpResponse finalize(int id, const Verified& jws, const Json& payload);
  HttpResponse get_certificate(int id, bool alternate);
  HttpResponse renewal_info(const std::string& id);
  Json order_json(int id);
  Json challenge_json(int id);
  bool validate(const ChallengeState& challenge, const std::string& name,
                const std::string& thumbprint);
  std::string issue(X509_REQ* csr, const std::vector<std::string>& names, X509* issuer,
                    EVP_PKEY* issuer_key);
  HttpResponse problem(int status, const std::string& type, const std::string& detail);
  HttpResponse json_response(int status, const Json& body);
  std::string fresh_nonce();

  const core::Clock& clock_;
  const core::ChallengeResponder* responder_;
  mutable std::mutex mutex_;
  Script script_;
  core::EvpPkeyPtr root_key_;
  core::X509Ptr root_;
  core::EvpPkeyPtr alternate_key_;
  core::X509Ptr alternate_;
  std::set<std::string> nonces_;
  int next_nonce_ = 0;
  std::map<std::string, AccountState> accounts_;  // by URL
  std::map<int, OrderState> orders_;
  std::map<int, AuthzState> authzs_;
  std::map<int, ChallengeState> challenges_;
  struct CertState {
    std::string leaf_pem, alternate_leaf_pem;
    std::string ari_id;
    std::chrono::system_clock::time_point not_before, not_after;
  };
  std::map<int, CertState> certs_;
  int next_id_ = 1;
  int accounts_created_ = 0;
  int bad_signatures_ = 0;
  std::vector<std::string> replaces_seen_;
  std::vector<std::string> validated_types_;
};

}  // namespace usher::acme::testing
