#include "acme/certificate_manager.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <deque>

#include "acme/account.h"
#include "acme/ari.h"
#include "acme/directory.h"
#include "acme/local_certificates.h"
#include "acme/timestamp.h"
#include "acme/x509_util.h"

namespace usher::acme {

namespace {

using namespace std::chrono_literals;
using TimePoint = std::chrono::system_clock::time_point;

// retry_delay(): the n-th failure in a row waits the n-th entry.
constexpr std::array<std::chrono::seconds, 9> kRetryTable{1min, 2min, 5min, 10min, 30min,
                                                          1h,   2h,   4h,   6h};
// A rateLimited answer without Retry-After still waits at least this long.
constexpr std::chrono::hours kRateLimitFloor{1};
// Below this lifetime a third leaves too little room to retry (design.md §4).
constexpr std::chrono::hours kShortLifetime{24 * 10};
constexpr std::chrono::hours kOrderWindow{1};

// Config spelling of challenge types (`disable_challenges http tls-alpn`).
constexpr std::array<std::pair<std::string_view, std::string_view>, 2> kChallengeNames{{
    {"http", kHttp01},
    {"tls-alpn", kTlsAlpn01},
}};

std::string when(std::optional<TimePoint> t) {
  return t ? format_rfc3339(*t) : "-";
}

std::string directory_of(const core::IssuerConfig& issuer) {
  return issuer.directory.empty() ? kLetsEncryptDirectory : issuer.directory;
}

bool disabled(const core::IssuerConfig& issuer, std::string_view type) {
  for (const auto& [config_name, challenge] : kChallengeNames) {
    if (challenge != type) continue;
    return std::find(issuer.disabled_challenges.begin(), issuer.disabled_challenges.end(),
                     config_name) != issuer.disabled_challenges.end();
  }
  return false;
}

// What worked last goes first; disabled types are left out.
std::vector<std::string> challenge_order(const core::IssuerConfig& issuer,
                                         const std::string& worked_last) {
  std::vector<std::string> order{kHttp01, kTlsAlpn01};
  if (worked_last == kTlsAlpn01) std::swap(order[0], order[1]);
  std::erase_if(order, [&](const std::string& type) { return disabled(issuer, type); });
  return order;
}

}  // namespace

// ----------------------------------------------------------- pure policy

std::chrono::seconds retry_delay(int attempts) {
  size_t index = static_cast<size_t>(std::max(attempts, 1) - 1);
  return kRetryTable[std::min(index, kRetryTable.size() - 1)];
}

TimePoint default_renewal_time(TimePoint not_before, TimePoint not_after) {
  auto lifetime = not_after - not_before;
  return not_after - (lifetime < kShortLifetime ? lifetime / 2 : lifetime / 3);
}

std::string ca_storage_name(const std::string& directory_url) {
  std::string_view url = directory_url;
  for (std::string_view scheme : {"https://", "http://"}) {
    if (url.starts_with(scheme)) url.remove_prefix(scheme.size());
  }
  std::string name(url);
  std::replace(name.begin(), name.end(), '/', '-');
  while (!name.empty() && name.back() == '-')
    name.pop_back();
  return storage_name(name);
}

std::vector<core::IssuerConfig> acme_issuers(const core::GlobalOptions& global,
                                             const core::SiteTls* site_tls) {
  std::vector<core::IssuerConfig> issuers;
  if (site_tls && !site_tls->issuers.empty()) {
    issuers = site_tls->issuers;
  } else if (!global.cert_issuers.empty()) {
    issuers = global.cert_issuers;
  } else {
    core::IssuerConfig issuer;
    issuer.directory = site_tls && !site_tls->ca.empty() ? site_tls->ca : global.acme_ca;
    if (site_tls) issuer.trusted_root = site_tls->ca_root;
    issuers.push_back(issuer);
  }
  std::erase_if(issuers, [](const auto& i) { return i.kind != core::IssuerConfig::Kind::kAcme; });
  std::string global_ca = global.acme_ca.empty() ? kLetsEncryptDirectory : global.acme_ca;
  for (auto& issuer : issuers) {
    // An `issuer acme` without a directory means the global CA, as in Caddy
    // (`tls { issuer acme { disable_http_challenge } }` must not leave it).
    if (issuer.directory.empty()) issuer.directory = global_ca;
    if (issuer.email.empty())
      issuer.email = site_tls && !site_tls->email.empty() ? site_tls->email : global.email;
    if (issuer.trusted_root.empty()) issuer.trusted_root = global.acme_ca_root;
    // EAB credentials belong to one CA: the global ones go with the global CA.
    if (!issuer.eab && issuer.directory == global_ca) issuer.eab = global.acme_eab;
  }
  return issuers;
}

// ------------------------------------------------------------ the manager

struct CertificateManager::Managed {
  mutable std::mutex mutex;  // guards config, state and cert
  ManagedName config;
  CertificateState state;
  std::shared_ptr<const core::TlsCertificate> cert;
};

struct CertificateManager::AccountCache {
  std::mutex mutex;
  std::optional<AccountKey> key;
  std::string url;
  std::deque<TimePoint> orders;  // recent order times, for the internal rate limit
};

CertificateManager::CertificateManager(CertificateManagerOptions options)
    : options_(std::move(options)),
      clock_(*options_.clock),
      storage_(options_.storage ? options_.storage
                                : std::make_shared<FileStorage>(options_.data_dir, clock_)),
      responder_(clock_),
      random_engine_(std::random_device{}()) {
  if (!options_.transport_factory) options_.transport_factory = network_transport_factory();
  if (options_.max_parallel == 0) options_.max_parallel = 1;
  snapshot_ = std::make_shared<core::CertificateSet>();
}

CertificateManager::~CertificateManager() {
  stop();
}

std::shared_ptr<const core::CertificateSet> CertificateManager::certificates() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

std::string CertificateManager::state_key(const Managed& managed) const {
  // The state lives with the first issuer: the name's home, whichever CA
  // issued its current certificate.
  std::string ca = ca_storage_name(directory_of(managed.config.issuers.front()));
  std::string name = storage_name(managed.config.name);
  return "certificates/" + ca + "/" + name + "/" + name + ".json";
}

void CertificateManager::set_names(std::vector<ManagedName> names) {
  std::map<std::string, std::shared_ptr<Managed>> next;
  for (auto& name : names) {
    if (name.issuers.empty()) name.issuers.push_back(core::IssuerConfig{});
    for (auto& issuer : name.issuers)
      issuer.directory = directory_of(issuer);
    std::shared_ptr<Managed> managed;
    {
      std::lock_guard lock(state_mutex_);
      if (auto it = managed_.find(name.name); it != managed_.end()) managed = it->second;
    }
    if (managed) {
      std::lock_guard lock(managed->mutex);
      managed->config = std::move(name);
    } else {
      managed = std::make_shared<Managed>();
      managed->config = std::move(name);
      load_stored(*managed);
    }
    next[managed->config.name] = managed;
  }
  {
    std::lock_guard lock(state_mutex_);
    managed_ = std::move(next);
  }
  publish();
  {
    std::lock_guard lock(thread_mutex_);
    names_changed_ = true;
  }
  wake_.notify_all();
}

// Reads the state file and the best stored certificate. Damaged files are
// reported and left in place (never deleted: the certificate may be the
// only one there is); the name then starts from a fresh state.
void CertificateManager::load_stored(Managed& managed) {
  std::lock_guard lock(managed.mutex);
  const std::string& name = managed.config.name;
  CertificateState state;
  std::string key = state_key(managed);
  try {
    if (auto text = storage_->get(key)) state = CertificateState::from_json(*text);
  } catch (const std::exception& e) {
    spdlog::error("certificate state {} is damaged and ignored (the file is kept): {}", key,
                  e.what());
    state = CertificateState{};
  }
  state.name = name;
  std::vector<std::string> bases;
  if (!state.certificate_key.empty()) bases.push_back(state.certificate_key);
  for (const auto& issuer : managed.config.issuers) {
    std::string sn = storage_name(name);
    bases.push_back("certificates/" + ca_storage_name(issuer.directory) + "/" + sn + "/" + sn);
  }
  std::shared_ptr<core::TlsCertificate> best;
  for (const std::string& base : bases) {
    try {
      auto chain = storage_->get(base + ".crt");
      auto private_key = storage_->get(base + ".key");
      if (!chain || !private_key) continue;
      auto cert = core::load_tls_certificate(*chain, *private_key);
      if (!best || cert->not_after > best->not_after) {
        best = cert;
        state.certificate_key = base;
      }
    } catch (const std::exception& e) {
      spdlog::error("stored certificate {} for {} is damaged and ignored (the file is kept): {}",
                    base, name, e.what());
    }
  }
  if (best) {
    if (state.issuer.empty()) state.issuer = managed.config.issuers.front().directory;
    best->issuer = "acme:" + state.issuer;
    state.not_before = best->not_before;
    state.not_after = best->not_after;
    if (!state.renew_at) state.renew_at = default_renewal_time(best->not_before, best->not_after);
  } else {
    state.certificate_key.clear();
  }
  managed.state = std::move(state);
  // The same certificate read again keeps its object: no needless publish.
  if (!best || !managed.cert || X509_cmp(best->leaf.get(), managed.cert->leaf.get()) != 0) {
    managed.cert = std::move(best);
  }
}

bool CertificateManager::due(const Managed& managed) const {
  auto now = clock_.now();
  const CertificateState& state = managed.state;
  if (state.next_try && now < *state.next_try) return false;
  if (!managed.cert) return true;
  return now >= managed.cert->not_after || (state.renew_at && now >= *state.renew_at);
}

size_t CertificateManager::maintain() {
  std::lock_guard pass(maintain_mutex_);
  std::vector<std::shared_ptr<Managed>> all;
  {
    std::lock_guard lock(state_mutex_);
    for (const auto& [name, managed] : managed_)
      all.push_back(managed);
  }
  std::vector<std::shared_ptr<Managed>> jobs;
  for (const auto& managed : all) {
    refresh_ari(*managed);
    std::lock_guard lock(managed->mutex);
    if (due(*managed)) jobs.push_back(managed);
  }
  std::atomic<size_t> next{0};
  std::atomic<size_t> obtained{0};
  auto worker = [&] {
    for (size_t i = next++; i < jobs.size(); i = next++) {
      if (obtain_with_lock(*jobs[i])) ++obtained;
    }
  };
  size_t threads = std::min(options_.max_parallel, jobs.size());
  if (threads <= 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    for (size_t t = 0; t < threads; ++t)
      pool.emplace_back(worker);
    for (auto& thread : pool)
      thread.join();
  }
  return obtained;
}

bool CertificateManager::obtain_with_lock(Managed& managed) {
  std::string name;
  {
    std::lock_guard lock(managed.mutex);
    name = managed.config.name;
  }
  std::string lock_name = "issue-" + name;
  try {
    if (!storage_->try_lock(lock_name, kIssuanceLockTtl)) {
      spdlog::info("{}: another usher process is obtaining its certificate; waiting for it", name);
      return false;
    }
  } catch (const std::exception& e) {
    spdlog::error("{}: taking the storage lock: {}", name, e.what());
    return false;
  }
  // Another process sharing the data directory may have renewed it already.
  load_stored(managed);
  bool still_due = false;
  {
    std::lock_guard lock(managed.mutex);
    still_due = due(managed);
  }
  bool obtained = still_due && obtain(managed);
  if (!still_due) publish();
  try {
    storage_->unlock(lock_name);
  } catch (const std::exception& e) {
    spdlog::warn("{}: releasing the storage lock: {}", name, e.what());
  }
  return obtained;
}

bool CertificateManager::take_order_slot(const core::IssuerConfig& issuer) {
  AccountCache* cache = nullptr;
  {
    std::lock_guard lock(state_mutex_);
    auto& slot = accounts_[ca_storage_name(issuer.directory) + "/" + issuer.email];
    if (!slot) slot = std::make_unique<AccountCache>();
    cache = slot.get();
  }
  std::lock_guard lock(cache->mutex);
  auto now = clock_.now();
  while (!cache->orders.empty() && now - cache->orders.front() >= kOrderWindow) {
    cache->orders.pop_front();
  }
  if (cache->orders.size() >= static_cast<size_t>(kMaxOrdersPerAccountPerHour)) return false;
  cache->orders.push_back(now);
  return true;
}

void CertificateManager::ensure_account(Connection& connection, const core::IssuerConfig& issuer) {
  std::string ca = ca_storage_name(issuer.directory);
  std::string who = issuer.email.empty() ? "default" : storage_name(issuer.email);
  std::string base = "acme/" + ca + "/accounts/" + who + "/";
  AccountCache* cache = nullptr;
  {
    std::lock_guard lock(state_mutex_);
    auto& slot = accounts_[ca + "/" + issuer.email];
    if (!slot) slot = std::make_unique<AccountCache>();
    cache = slot.get();
  }
  std::lock_guard lock(cache->mutex);
  if (!cache->key) {
    if (auto pem = storage_->get(base + "account.key")) {
      cache->key = AccountKey::from_pem(*pem);
    } else {
      cache->key = AccountKey::generate();
      storage_->put(base + "account.key", cache->key->to_pem());
    }
    if (auto text = storage_->get(base + "account.json")) {
      try {
        cache->url = Json::parse(*text).string_or("url");
      } catch (const std::exception& e) {
        spdlog::warn("account file {}account.json is damaged; looking the account up again: {}",
                     base, e.what());
      }
    }
  }
  if (cache->url.empty()) {
    Account account = register_account(connection, *cache->key, {issuer.email, issuer.eab, false});
    cache->url = account.url;
    Json record;
    record.set("url", account.url);
    record.set("email", issuer.email);
    storage_->put(base + "account.json", record.dump() + "\n");
    spdlog::info("registered acme account {} with {}", account.url, issuer.directory);
  }
  connection.use_key(*cache->key, cache->url);
}

void CertificateManager::interruptible_sleep(std::chrono::milliseconds duration) {
  std::unique_lock lock(thread_mutex_);
  if (wake_.wait_for(lock, duration, [this] { return stopping_; })) {
    throw std::runtime_error("usher is stopping");
  }
}

double CertificateManager::random_fraction() {
  if (options_.random) return options_.random();
  std::lock_guard lock(state_mutex_);
  return std::uniform_real_distribution<double>(0.0, 1.0)(random_engine_);
}

bool CertificateManager::obtain(Managed& managed) {
  core::IssuerConfig issuer;
  OrderOptions options;
  {
    std::lock_guard lock(managed.mutex);
    const auto& issuers = managed.config.issuers;
    issuer = issuers[managed.state.issuer_index % issuers.size()];
    options.names = {managed.config.name};
    options.challenge_types = challenge_order(issuer, managed.state.challenge);
    if (managed.cert && managed.state.issuer == issuer.directory) {
      options.replaces = managed.state.ari_id;
    }
    options.preferred_chain = issuer.preferred_chain;
  }
  if (!take_order_slot(issuer)) {
    std::lock_guard lock(managed.mutex);
    managed.state.next_try = clock_.now() + kOrderWindow / 4;
    orders_held_back_.fetch_add(1);
    spdlog::warn("{}: holding back: more than {} orders in the last hour on this account",
                 managed.config.name, kMaxOrdersPerAccountPerHour);
    save_state(managed);
    return false;
  }
  try {
    auto transport = options_.transport_factory(issuer.trusted_root);
    Connection connection(*transport, issuer.directory, clock_);
    ensure_account(connection, issuer);
    Sleeper sleep =
        options_.sleep ? options_.sleep : Sleeper([this](auto d) { interruptible_sleep(d); });
    IssuedCertificate issued = obtain_certificate(connection, responder_, sleep, options);
    orders_valid_.fetch_add(1);
    record_success(managed, issuer, issued);
    // ARI is best effort: a certificate without a window renews by lifetime.
    if (!connection.directory().renewal_info.empty()) {
      refresh_ari(managed);
    } else {
      // Known now: without this, the next pass (after a restart too) would
      // fetch the directory again only to learn the same.
      std::lock_guard lock(managed.mutex);
      managed.state.ari_id.clear();
      save_state(managed);
    }
    return true;
  } catch (const std::exception& e) {
    record_failure(managed, issuer, e);
    return false;
  }
}

void CertificateManager::record_success(Managed& managed, const core::IssuerConfig& issuer,
                                        const IssuedCertificate& issued) {
  auto cert = core::load_tls_certificate(issued.chain_pem, issued.key_pem);
  cert->issuer = "acme:" + issuer.directory;
  std::string sn = storage_name(managed.config.name);
  std::string base = "certificates/" + ca_storage_name(issuer.directory) + "/" + sn + "/" + sn;
  // Key first: a crash between the writes leaves a certificate that does not
  // match its key, which loading rejects, and the old pair is never removed.
  storage_->put(base + ".key", issued.key_pem);
  storage_->put(base + ".crt", issued.chain_pem);
  {
    std::lock_guard lock(managed.mutex);
    CertificateState& state = managed.state;
    state.issuer = issuer.directory;
    state.certificate_key = base;
    state.not_before = cert->not_before;
    state.not_after = cert->not_after;
    state.renew_at = default_renewal_time(cert->not_before, cert->not_after);
    state.attempts = 0;
    state.last_error.clear();
    state.next_try.reset();
    if (!issued.challenge_type.empty()) state.challenge = issued.challenge_type;
    state.ari_window_start.reset();
    state.ari_window_end.reset();
    state.ari_recheck.reset();
    try {
      state.ari_id = ari_certificate_id(cert->leaf.get());
    } catch (const std::exception&) {
      state.ari_id.clear();  // no AKI: the CA cannot have ARI for it either
    }
    managed.cert = cert;
    save_state(managed);
  }
  spdlog::info("obtained a certificate for {} from {}, valid until {}", managed.config.name,
               issuer.directory, format_rfc3339(cert->not_after));
  publish();
}

void CertificateManager::record_failure(Managed& managed, const core::IssuerConfig& issuer,
                                        const std::exception& e) {
  auto now = clock_.now();
  const auto* acme_error = dynamic_cast<const AcmeError*>(&e);
  const auto* challenge_error = dynamic_cast<const ChallengeError*>(&e);
  const bool rate_limited =
      acme_error != nullptr && acme_error->problem_class() == ProblemClass::kRateLimited;
  (rate_limited ? orders_rate_limited_ : orders_failed_).fetch_add(1);
  if (acme_error && acme_error->problem_class() == ProblemClass::kAccountGone) {
    std::lock_guard accounts(state_mutex_);  // before managed.mutex: publish() locks in this order
    if (auto it = accounts_.find(ca_storage_name(issuer.directory) + "/" + issuer.email);
        it != accounts_.end()) {
      std::lock_guard cache(it->second->mutex);
      it->second->url.clear();  // registered again on the next try
    }
  }
  std::lock_guard lock(managed.mutex);
  CertificateState& state = managed.state;
  const std::string& name = managed.config.name;
  ++state.attempts;
  std::chrono::seconds delay = retry_delay(state.attempts);
  if (acme_error) {
    if (auto after = acme_error->retry_after()) delay = std::max(delay, *after);
    if (acme_error->problem_class() == ProblemClass::kRateLimited) {
      delay = std::max<std::chrono::seconds>(delay, kRateLimitFloor);
    }
  }
  state.next_try = now + delay;
  state.last_error = e.what();
  std::string context = managed.cert ? "renewing " + name : "obtaining a certificate for " + name;
  std::string summary =
      fmt::format("{} from {} failed (attempt {}, next try {}): {}", context, issuer.directory,
                  state.attempts, when(state.next_try), e.what());
  // One line per failed attempt, with the CA's problem detail and what to
  // do: a second line (the hint) would read as a second failure.
  if (challenge_error) summary += "; " + challenge_failure_hint(*challenge_error);
  if (managed.cert) {
    spdlog::error("{}; the current certificate stays in use until it expires on {}", summary,
                  format_rfc3339(managed.cert->not_after));
  } else {
    spdlog::error("{}; tls handshakes for {} fail until a certificate is obtained", summary, name);
  }
  const auto& issuers = managed.config.issuers;
  if (issuers.size() > 1 && state.attempts % kFailuresBeforeFallback == 0) {
    state.issuer_index = (state.issuer_index + 1) % issuers.size();
    spdlog::warn("{}: {} failures in a row; trying issuer {} next", name, state.attempts,
                 directory_of(issuers[state.issuer_index]));
  }
  save_state(managed);
}

// Called with managed.mutex held.
void CertificateManager::save_state(const Managed& managed) {
  try {
    storage_->put(state_key(managed), managed.state.to_json());
  } catch (const std::exception& e) {
    spdlog::error("{}: saving certificate state: {}", managed.config.name, e.what());
  }
}

void CertificateManager::refresh_ari(Managed& managed) {
  std::string id, directory, name;
  core::IssuerConfig issuer;
  {
    std::lock_guard lock(managed.mutex);
    const CertificateState& state = managed.state;
    if (!managed.cert || state.ari_id.empty()) return;
    if (state.ari_recheck && clock_.now() < *state.ari_recheck) return;
    id = state.ari_id;
    name = managed.config.name;
    issuer.directory = state.issuer;
    for (const auto& configured : managed.config.issuers) {
      if (configured.directory == state.issuer) issuer = configured;
    }
  }
  try {
    auto transport = options_.transport_factory(issuer.trusted_root);
    Connection connection(*transport, issuer.directory, clock_);
    if (connection.directory().renewal_info.empty()) {
      std::lock_guard lock(managed.mutex);
      managed.state.ari_id.clear();  // this CA has no ARI: renew by lifetime
      save_state(managed);
      return;
    }
    RenewalInfo info = fetch_renewal_info(connection, id);
    double fraction = random_fraction();
    std::lock_guard lock(managed.mutex);
    CertificateState& state = managed.state;
    bool moved =
        state.ari_window_start != info.window.start || state.ari_window_end != info.window.end;
    state.ari_window_start = info.window.start;
    state.ari_window_end = info.window.end;
    state.ari_recheck = clock_.now() + info.recheck_after;
    // RFC 9773 §4.3.1: a new window gets a new random pick; an unchanged one
    // keeps the time already chosen so that re-checks do not drift it.
    if (moved) state.renew_at = pick_renewal_time(info.window, fraction);
    save_state(managed);
  } catch (const std::exception& e) {
    std::lock_guard lock(managed.mutex);
    managed.state.ari_recheck = clock_.now() + kDefaultAriRecheck;
    spdlog::warn("{}: fetching renewal information: {}", name, e.what());
    save_state(managed);
  }
}

void CertificateManager::publish() {
  auto set = std::make_shared<core::CertificateSet>();
  auto now = clock_.now();
  {
    std::lock_guard lock(state_mutex_);
    for (const auto& [name, managed] : managed_) {
      std::lock_guard entry(managed->mutex);
      if (managed->cert && now < managed->cert->not_after) set->add(name, managed->cert);
    }
  }
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(set);
  }
  if (on_publish_) on_publish_();
}

std::optional<TimePoint> CertificateManager::next_event() const {
  std::optional<TimePoint> earliest;
  auto consider = [&](std::optional<TimePoint> t) {
    if (t && (!earliest || *t < *earliest)) earliest = t;
  };
  std::lock_guard lock(state_mutex_);
  for (const auto& [name, managed] : managed_) {
    std::lock_guard entry(managed->mutex);
    const CertificateState& state = managed->state;
    if (state.next_try) {
      consider(state.next_try);
    } else if (!managed->cert) {
      consider(clock_.now());
    } else {
      consider(state.renew_at);
    }
    if (managed->cert && !state.ari_id.empty()) consider(state.ari_recheck);
  }
  return earliest;
}

std::vector<CertificateStatus> CertificateManager::status() const {
  std::vector<CertificateStatus> out;
  std::lock_guard lock(state_mutex_);
  for (const auto& [name, managed] : managed_) {
    std::lock_guard entry(managed->mutex);
    const CertificateState& state = managed->state;
    out.push_back({name, state.issuer, state.not_after, state.renew_at, state.next_try,
                   state.attempts, state.last_error});
  }
  return out;
}

void CertificateManager::start(std::chrono::milliseconds interval) {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] { run(interval); });
}

void CertificateManager::stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CertificateManager::run(std::chrono::milliseconds interval) {
  std::unique_lock lock(thread_mutex_);
  while (!stopping_) {
    names_changed_ = false;
    lock.unlock();
    try {
      maintain();
    } catch (const std::exception& e) {
      spdlog::error("certificate maintenance: {}", e.what());
    }
    auto wait = interval;
    if (auto next = next_event()) {
      auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock_.now());
      wait = std::clamp<std::chrono::milliseconds>(until, 1s, interval);
    }
    lock.lock();
    wake_.wait_for(lock, wait, [this] { return stopping_ || names_changed_; });
  }
}

OrderCounts CertificateManager::order_counts() const {
  return {orders_valid_.load(), orders_failed_.load(), orders_rate_limited_.load(),
          orders_held_back_.load()};
}

}  // namespace usher::acme
