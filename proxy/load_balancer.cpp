#include "proxy/load_balancer.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <array>
#include <random>

#include <spdlog/spdlog.h>

#include "core/diagnostic.h"
#include "proxy/http1_parser.h"

namespace usher::proxy {

namespace {

// Failures remembered per upstream at most: max_fails above this behaves as
// this many. Bounds the ring each upstream allocates once.
constexpr size_t kMaxFailSlots = 1024;

// The cookie the cookie policy uses when none is named (as in Caddy).
constexpr std::string_view kDefaultCookieName = "lb";

constexpr uint64_t kFnvOffset = 0xcbf29ce484222325ULL;
constexpr uint64_t kFnvPrime = 0x100000001b3ULL;

uint64_t fnv_continue(uint64_t state, std::string_view text) {
  for (char c : text) {
    state ^= static_cast<unsigned char>(c);
    state *= kFnvPrime;
  }
  return state;
}

// FNV alone mixes its last bytes poorly; the splitmix64 finaliser spreads
// them over every bit so rendezvous scores are independent per upstream.
uint64_t finalize(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

/// A per-thread generator: random choices take no lock and share no state.
uint64_t random_u64() {
  thread_local std::mt19937_64 generator{std::random_device{}()};
  return generator();
}

size_t random_below(size_t n) {
  return static_cast<size_t>(random_u64() % n);
}

int64_t to_ms(UpstreamHealth::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// Which upstreams a policy may pick: available ones, and among them the
/// ones this request has not tried yet when there are any.
class Candidates {
 public:
  Candidates(const LoadBalancer& lb, const SelectionInput& input,
             UpstreamHealth::Clock::time_point now)
      : lb_(lb), input_(input), now_(now) {
    for (size_t i = 0; i < lb.size(); ++i) {
      if (lb.health(i).available(now) && !tried(i)) {
        skip_tried_ = true;
        break;
      }
    }
  }
  bool usable(size_t i) const {
    return lb_.health(i).available(now_) && !(skip_tried_ && tried(i));
  }
  size_t size() const { return lb_.size(); }

 private:
  bool tried(size_t i) const { return i < 64 && (input_.tried >> i & 1U) != 0; }

  const LoadBalancer& lb_;
  const SelectionInput& input_;
  UpstreamHealth::Clock::time_point now_;
  bool skip_tried_ = false;
};

std::optional<size_t> pick_random(const Candidates& c) {
  // Reservoir sampling: one pass, no list of candidates.
  std::optional<size_t> chosen;
  size_t seen = 0;
  for (size_t i = 0; i < c.size(); ++i) {
    if (!c.usable(i)) continue;
    if (random_below(++seen) == 0) chosen = i;
  }
  return chosen;
}

std::optional<size_t> pick_first(const Candidates& c) {
  for (size_t i = 0; i < c.size(); ++i)
    if (c.usable(i)) return i;
  return std::nullopt;
}

}  // namespace

// ------------------------------------------------------------ UpstreamHealth

UpstreamHealth::UpstreamHealth(size_t fail_slots, std::chrono::milliseconds fail_duration)
    : fail_times_(std::make_unique<std::atomic<int64_t>[]>(fail_slots)),
      fail_slots_(fail_slots),
      fail_duration_ms_(fail_duration.count()) {
  for (size_t i = 0; i < fail_slots_; ++i)
    fail_times_[i].store(0, std::memory_order_relaxed);
}

bool UpstreamHealth::record_failure(Clock::time_point now) {
  if (fail_duration_ms_ <= 0) return false;
  const uint64_t slot = next_slot_.fetch_add(1, std::memory_order_relaxed) % fail_slots_;
  fail_times_[slot].store(to_ms(now) + 1, std::memory_order_relaxed);
  if (window_has_room(now)) return false;
  return !passive_down_.exchange(true, std::memory_order_relaxed);
}

bool UpstreamHealth::window_has_room(Clock::time_point now) const {
  const int64_t window_start = to_ms(now) + 1 - fail_duration_ms_;
  for (size_t i = 0; i < fail_slots_; ++i) {
    const int64_t t = fail_times_[i].load(std::memory_order_relaxed);
    if (t == 0 || t <= window_start) return true;
  }
  return false;
}

bool UpstreamHealth::passive_healthy(Clock::time_point now) const {
  if (fail_duration_ms_ <= 0) return true;
  if (!window_has_room(now)) return false;
  if (passive_down_.load(std::memory_order_relaxed) &&
      passive_down_.exchange(false, std::memory_order_relaxed))
    spdlog::info("upstream {} is back in rotation: fewer failures than max_fails in fail_duration",
                 name_.empty() ? "(unnamed)" : name_);
  return true;
}

bool UpstreamHealth::set_active_healthy(bool healthy) {
  return active_healthy_.exchange(healthy, std::memory_order_relaxed) != healthy;
}

// ------------------------------------------------------------ policies

/// The policy functions, with access to the balancer's precomputed state.
struct PolicyFunctions {
  static bool random(const LoadBalancer&, const SelectionInput&, const Candidates& c,
                     Selection& out) {
    auto i = pick_random(c);
    if (i) out.index = *i;
    return i.has_value();
  }

  static bool first(const LoadBalancer&, const SelectionInput&, const Candidates& c,
                    Selection& out) {
    auto i = pick_first(c);
    if (i) out.index = *i;
    return i.has_value();
  }

  static bool round_robin(const LoadBalancer& lb, const SelectionInput&, const Candidates& c,
                          Selection& out) {
    const uint64_t start = lb.round_robin_.fetch_add(1, std::memory_order_relaxed);
    for (size_t k = 0; k < c.size(); ++k) {
      const size_t i = static_cast<size_t>((start + k) % c.size());
      if (c.usable(i)) {
        out.index = i;
        return true;
      }
    }
    return false;
  }

  static bool least_conn(const LoadBalancer& lb, const SelectionInput&, const Candidates& c,
                         Selection& out) {
    // Fewest requests in flight; ties broken at random (reservoir sampling).
    int best = -1;
    size_t ties = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      if (!c.usable(i)) continue;
      const int load = lb.health(i).in_flight();
      if (best == -1 || load < best) {
        best = load;
        ties = 1;
        out.index = i;
      } else if (load == best && random_below(++ties) == 0) {
        out.index = i;
      }
    }
    return best != -1;
  }

  /// Rendezvous (highest random weight) hashing: the same key keeps its
  /// upstream while others come and go.
  static bool by_hash(const LoadBalancer& lb, std::string_view key, const Candidates& c,
                      Selection& out) {
    bool found = false;
    uint64_t best = 0;
    for (size_t i = 0; i < c.size(); ++i) {
      if (!c.usable(i)) continue;
      const uint64_t score = finalize(fnv_continue(lb.name_hashes_[i], key));
      if (!found || score > best) {
        best = score;
        out.index = i;
        found = true;
      }
    }
    return found;
  }

  static bool ip_hash(const LoadBalancer& lb, const SelectionInput& in, const Candidates& c,
                      Selection& out) {
    return by_hash(lb, in.remote_ip, c, out);
  }

  static bool uri_hash(const LoadBalancer& lb, const SelectionInput& in, const Candidates& c,
                       Selection& out) {
    return by_hash(lb, in.uri, c, out);
  }

  static bool header(const LoadBalancer& lb, const SelectionInput& in, const Candidates& c,
                     Selection& out) {
    const std::string* value = in.headers != nullptr ? in.headers->find(lb.policy_arg_) : nullptr;
    // Without the header there is nothing to hash: fall back to random, as Caddy does.
    if (value == nullptr || value->empty()) return random(lb, in, c, out);
    return by_hash(lb, *value, c, out);
  }

  static bool cookie(const LoadBalancer& lb, const SelectionInput& in, const Candidates& c,
                     Selection& out) {
    const std::string_view name =
        lb.policy_arg_.empty() ? kDefaultCookieName : std::string_view(lb.policy_arg_);
    const std::string_view value = find_cookie(in.headers, name);
    if (!value.empty()) {
      for (size_t i = 0; i < c.size(); ++i) {
        if (c.usable(i) && lb.cookie_values_[i] == value) {
          out.index = i;
          return true;
        }
      }
    }
    if (!random(lb, in, c, out)) return false;
    // A new pick: tell the client to stick to it.
    out.set_cookie.assign(name).append("=").append(lb.cookie_values_[out.index]);
    out.set_cookie.append(in.tls ? "; Path=/; HttpOnly; Secure; SameSite=None"
                                 : "; Path=/; HttpOnly; SameSite=Lax");
    return true;
  }

  /// The value of cookie `name` in the request's Cookie fields; "" when absent.
  static std::string_view find_cookie(const Headers* headers, std::string_view name) {
    if (headers == nullptr) return {};
    for (const Header& h : headers->fields()) {
      if (!iequals(h.name, "cookie")) continue;
      std::string_view rest = h.value;
      while (!rest.empty()) {
        const size_t semi = rest.find(';');
        std::string_view pair = rest.substr(0, semi);
        rest = semi == std::string_view::npos ? std::string_view() : rest.substr(semi + 1);
        while (!pair.empty() && pair.front() == ' ')
          pair.remove_prefix(1);
        const size_t eq = pair.find('=');
        if (eq == std::string_view::npos || pair.substr(0, eq) != name) continue;
        std::string_view value = pair.substr(eq + 1);
        if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
          value = value.substr(1, value.size() - 2);
        return value;
      }
    }
    return {};
  }
};

struct LoadBalancer::Policy {
  std::string_view name;
  bool (*select)(const LoadBalancer&, const SelectionInput&, const Candidates&, Selection&);
};

namespace {

constexpr std::array<LoadBalancer::Policy, 8> kPolicies{{
    {"random", PolicyFunctions::random},
    {"round_robin", PolicyFunctions::round_robin},
    {"first", PolicyFunctions::first},
    {"least_conn", PolicyFunctions::least_conn},
    {"ip_hash", PolicyFunctions::ip_hash},
    {"uri_hash", PolicyFunctions::uri_hash},
    {"header", PolicyFunctions::header},
    {"cookie", PolicyFunctions::cookie},
}};

}  // namespace

// ------------------------------------------------------------ LoadBalancer

LoadBalancer::LoadBalancer(const core::LoadBalancing& config,
                           const core::PassiveHealthCheck& passive, std::vector<std::string> names)
    // As Caddy: the cookie policy's cookie is called `lb` unless named.
    : policy_arg_(config.policy == "cookie" && config.policy_arg.empty() ? "lb"
                                                                         : config.policy_arg),
      passive_(passive),
      names_(std::move(names)) {
  const std::string_view policy =
      config.policy.empty() ? std::string_view("random") : std::string_view(config.policy);
  for (const Policy& p : kPolicies)
    if (p.name == policy) policy_ = &p;
  if (policy_ == nullptr)
    throw core::ConfigError("", 0, "lb_policy " + std::string(policy) + " is not supported");
  const size_t slots =
      std::clamp<size_t>(static_cast<size_t>(std::max(passive.max_fails, 1)), 1, kMaxFailSlots);
  for (const std::string& name : names_) {
    name_hashes_.push_back(fnv_continue(kFnvOffset, name));
    if (policy == "cookie") cookie_values_.push_back(cookie_hash(config.policy_secret, name));
    health_.push_back(std::make_unique<UpstreamHealth>(slots, passive.fail_duration));
    health_.back()->set_name(name);
  }
}

void LoadBalancer::log_down(size_t i, const std::string& reason) const {
  spdlog::warn(
      "upstream {} is down: {} failures within {} ms (last: {}); out of rotation until "
      "fewer remain in that window",
      names_[i], passive_.max_fails, passive_.fail_duration.count(), reason);
}

std::optional<Selection> LoadBalancer::select(const SelectionInput& input,
                                              Clock::time_point now) const {
  if (names_.size() == 1 && cookie_values_.empty()) {
    // The common case: one upstream, no policy to run.
    if (!health_[0]->available(now)) return std::nullopt;
    return Selection{};
  }
  Candidates candidates(*this, input, now);
  Selection out;
  if (!policy_->select(*this, input, candidates, out)) return std::nullopt;
  return out;
}

bool LoadBalancer::is_unhealthy_status(int status) const {
  for (int match : passive_.unhealthy_status) {
    // A single digit stands for a class: 5 is 5xx.
    if (match < 10 ? status / 100 == match : status == match) return true;
  }
  return false;
}

std::string LoadBalancer::cookie_hash(std::string_view secret, std::string_view name) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(name.data()), name.size(), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0x0f]);
  }
  return out;
}

}  // namespace usher::proxy
