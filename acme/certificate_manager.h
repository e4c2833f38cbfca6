#pragma once

// The certificate manager (style rule 6, third layer): which names need a
// publicly trusted certificate, what storage already holds, when to renew
// (ARI or a share of the lifetime), how to back off after failures, and the
// snapshots the TLS layer reads.
//
// Wiring (cmd/usher/app):
//
//   CertificateManagerOptions options;
//   options.data_dir = core::data_directory(config.global.storage_path);
//   options.clock = &system_clock;                    // outlives the manager
//   // options.transport_factory defaults to the network transport (trusting each issuer's
//   // trusted_root / acme_ca_root when set)
//   CertificateManager acme(std::move(options));
//   acme.on_publish([&] { tls_contexts.rebuild(); });  // before start()
//   acme.set_names(managed_names(config, needs));      // every CertificateNeed with kAcme
//   proxy.set_challenge_responder(&acme.responder());
//   acme.start();                                      // issues in the background
//   … on reload: acme.set_names(new names);  on exit: acme.stop();
//
// set_names() never blocks on the network: stored certificates are
// published at once, new names are ordered by the background thread, up to
// options.max_parallel at a time.

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "acme/certificate_state.h"
#include "acme/challenge_responder.h"
#include "acme/client.h"
#include "acme/http_transport.h"
#include "acme/storage.h"
#include "core/certificates.h"
#include "core/clock.h"
#include "core/config.h"

namespace usher::acme {

/// How often maintenance runs at least (design.md §4).
inline constexpr std::chrono::minutes kMaintenanceInterval{10};
/// Orders running at once: enough to get a handful of new sites going
/// together, few enough not to trip CA rate limits or starve a Raspberry Pi.
inline constexpr size_t kDefaultMaxParallelOrders = 4;
/// Failures in a row on one issuer before the next configured one is tried.
inline constexpr int kFailuresBeforeFallback = 3;
/// New orders per account per hour at most: a loop in our own logic must
/// never hammer a CA (Let's Encrypt allows 300 per 3 hours).
inline constexpr int kMaxOrdersPerAccountPerHour = 20;
/// How long the per-name issuance lock lasts: longer than an order can take
/// (kPollDeadline per wait), short enough that a crashed holder's lock frees.
inline constexpr std::chrono::minutes kIssuanceLockTtl{30};

/// Backoff after the n-th failure in a row (the last entry repeats): quick
/// retries for a port forward fixed a minute later, then no more than one
/// order every 6 hours.
std::chrono::seconds retry_delay(int attempts);

/// When a certificate without ARI should be renewed: when a third of its
/// lifetime remains, half for lifetimes under 10 days (design.md §4).
std::chrono::system_clock::time_point default_renewal_time(
    std::chrono::system_clock::time_point not_before,
    std::chrono::system_clock::time_point not_after);

/// The storage directory name of a CA: its directory URL without scheme,
/// '/' spelled '-' ("acme-v02.api.letsencrypt.org-directory").
std::string ca_storage_name(const std::string& directory_url);

/// A name that needs a publicly trusted certificate, with its issuers in
/// fallback order (never empty once through acme_issuers()).
struct ManagedName {
  std::string name;
  std::vector<core::IssuerConfig> issuers;
};

/// The ACME issuers of a site, Caddy's way: `tls { issuer … }` of the site,
/// else global `cert_issuer`s, else one issuer from `acme_ca` (default Let's
/// Encrypt) — each completed with the site's `tls EMAIL` or global `email`,
/// `acme_ca_root`, and `acme_eab` for the global CA. Internal issuers are
/// left out (the local CA serves those names).
std::vector<core::IssuerConfig> acme_issuers(const core::GlobalOptions& global,
                                             const core::SiteTls* site_tls);

/// The manager's view of one name, for `usher certs`, the admin API and logs.
struct CertificateStatus {
  std::string name;
  std::string issuer;
  std::optional<std::chrono::system_clock::time_point> not_after;
  std::optional<std::chrono::system_clock::time_point> renew_at;
  std::optional<std::chrono::system_clock::time_point> next_try;
  int attempts = 0;
  std::string last_error;
};

/// Orders by outcome since the process started (`usher_acme_orders_total`).
struct OrderCounts {
  uint64_t valid = 0;         // a certificate was issued
  uint64_t failed = 0;        // the order failed (challenge, CA error, network)
  uint64_t rate_limited = 0;  // the CA answered rateLimited
  uint64_t held_back = 0;     // not sent: our own per-account hourly cap
};

/// Everything injected (style rule 10).
struct CertificateManagerOptions {
  std::string data_dir;
  const core::Clock* clock = nullptr;  // required; must outlive the manager
  TransportFactory transport_factory;  // default: network_transport_factory()
  std::shared_ptr<Storage> storage;    // default: FileStorage(data_dir)
  Sleeper sleep;                       // waits between polls; default: interruptible real sleep
  std::function<double()> random;      // uniform [0, 1) for ARI picks; default: mt19937_64
  size_t max_parallel = kDefaultMaxParallelOrders;
};

/// Obtains, stores, renews and publishes ACME certificates.
/// certificates() and responder() may be used from any thread.
class CertificateManager final : public core::CertificateSource {
 public:
  explicit CertificateManager(CertificateManagerOptions options);
  ~CertificateManager() override;
  CertificateManager(const CertificateManager&) = delete;
  CertificateManager& operator=(const CertificateManager&) = delete;

  /// Replaces the managed names (start and every reload): loads what storage
  /// holds for new names, publishes at once, wakes the background thread to
  /// order what is missing. Names no longer configured stop being served;
  /// their files stay.
  void set_names(std::vector<ManagedName> names);

  std::shared_ptr<const core::CertificateSet> certificates() const override;
  /// The challenge answers the proxy must serve (HTTP-01 on the HTTP port,
  /// TLS-ALPN-01 on the HTTPS port).
  core::ChallengeResponder& responder() { return responder_; }

  /// One maintenance pass: refreshes ARI windows, orders every certificate
  /// that is missing or due and whose next try has come, up to max_parallel
  /// at a time, and waits for them. Failures become state and logs, never
  /// exceptions. Returns how many certificates were obtained.
  size_t maintain();

  /// When the next pass has work (a retry, a renewal, an ARI re-check);
  /// nullopt when nothing is scheduled.
  std::optional<std::chrono::system_clock::time_point> next_event() const;

  /// Called after every new snapshot (on the maintaining thread); set before start().
  void on_publish(std::function<void()> callback) { on_publish_ = std::move(callback); }

  /// Runs maintain() now and then at least every `interval` (sooner when a
  /// retry or renewal is due) on a background thread until stop().
  void start(std::chrono::milliseconds interval = kMaintenanceInterval);
  /// Stops promptly: wakes the thread and interrupts poll waits.
  void stop();

  std::vector<CertificateStatus> status() const;

  /// Orders so far by outcome; safe from any thread.
  OrderCounts order_counts() const;

 private:
  struct Managed;
  struct AccountCache;

  void load_stored(Managed& managed);
  void refresh_ari(Managed& managed);
  bool due(const Managed& managed) const;
  bool obtain(Managed& managed);
  bool obtain_with_lock(Managed& managed);
  void record_success(Managed& managed, const core::IssuerConfig& issuer,
                      const IssuedCertificate& issued);
  void record_failure(Managed& managed, const core::IssuerConfig& issuer, const std::exception& e);
  void save_state(const Managed& managed);
  std::string state_key(const Managed& managed) const;
  AccountKey& account_key(const core::IssuerConfig& issuer);
  void ensure_account(Connection& connection, const core::IssuerConfig& issuer);
  bool take_order_slot(const core::IssuerConfig& issuer);
  void publish();
  void run(std::chrono::milliseconds interval);
  void interruptible_sleep(std::chrono::milliseconds duration);
  double random_fraction();

  CertificateManagerOptions options_;
  const core::Clock& clock_;
  std::shared_ptr<Storage> storage_;
  AcmeChallengeResponder responder_;

  mutable std::mutex state_mutex_;  // guards managed_ and the accounts
  std::map<std::string, std::shared_ptr<Managed>> managed_;
  std::map<std::string, std::unique_ptr<AccountCache>> accounts_;  // by CA + email
  std::mutex maintain_mutex_;                                      // one pass at a time
  std::mt19937_64 random_engine_;

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const core::CertificateSet> snapshot_;
  std::function<void()> on_publish_;

  std::mutex thread_mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool names_changed_ = false;
  std::thread thread_;

  // Off the data path (one order at a time per name): plain atomics.
  std::atomic<uint64_t> orders_valid_{0};
  std::atomic<uint64_t> orders_failed_{0};
  std::atomic<uint64_t> orders_rate_limited_{0};
  std::atomic<uint64_t> orders_held_back_{0};
};

}  // namespace usher::acme
