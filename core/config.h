#pragma once

// The typed configuration. Both front ends (Caddyfile, YAML) build it, the
// validator checks it, `usher adapt` prints it, and the proxy and certificate
// manager are built from it. Field comments double as user documentation.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "core/placeholder.h"

namespace usher::core {

/// Durations are kept in milliseconds; YAML writes them as Go-style strings
/// (`30s`, `1m30s`, `250ms`), as the Caddyfile accepts them.
using Duration = std::chrono::milliseconds;

/// Where an element of the config was written, for error messages.
struct Origin {
  std::string file;
  int line = 0;
  bool operator==(const Origin&) const = default;
};

// ---------------------------------------------------------------- addresses

/// One site address: `host`, `host:port`, `http://host`, `https://host:port`,
/// `:port`, `*.example.com`, `[::1]:8443`, `localhost`.
struct SiteAddress {
  std::string scheme;    // "", "http" or "https"
  std::string host;      // "" = every host; IPv6 without brackets; may start with "*."
  uint16_t port = 0;     // 0 = the default for the scheme (http_port / https_port)
  std::string path;      // optional path matcher written in the address (`example.com/api/*`)
  std::string original;  // as written, for messages
  bool operator==(const SiteAddress&) const = default;
};

// ----------------------------------------------------------------- matchers

/// A header condition: the header named `name` has one of `values` (`*` as a
/// prefix/suffix wildcard); no values means "the header is present"; a name
/// starting with `!` means "the header is absent".
struct HeaderMatch {
  std::string name;
  std::vector<std::string> values;
  bool operator==(const HeaderMatch&) const = default;
};

/// A query condition: key=value (value `*` matches any value).
struct QueryMatch {
  std::string key;
  std::string value;
  bool operator==(const QueryMatch&) const = default;
};

/// A set of request conditions. Every non-empty condition must hold (AND);
/// the values within one condition are alternatives (OR), as in Caddy.
struct MatcherSet {
  std::vector<std::string> paths;    // path patterns, `*` wildcards, case-insensitive
  std::vector<std::string> hosts;    // host names, `*.example.com` wildcards
  std::vector<std::string> methods;  // upper-case method names
  std::vector<HeaderMatch> headers;
  std::vector<QueryMatch> query;
  std::vector<std::string> remote_ip;  // CIDRs or addresses of the direct peer
  std::vector<std::string> client_ip;  // CIDRs; the client address after trusted_proxies
  std::string protocol;                // "", http, https, grpc, http/1.1, http/2, http/3
  std::vector<MatcherSet> nots;        // each must NOT match (`not { … }` blocks)

  bool empty() const;
  bool operator==(const MatcherSet&) const = default;
};

// ----------------------------------------------------------------- handlers

/// A header manipulation: `Name value` sets, `+Name value` adds, `-Name`
/// deletes (a trailing `*` deletes every header with that prefix),
/// `Name search replacement` replaces a substring (`>Name` defers it until
/// the response is written, as Caddy does).
struct HeaderOp {
  enum class Op { kSet, kAdd, kDelete, kReplace };
  Op op = Op::kSet;
  std::string name;
  Template value;      // kSet/kAdd: the value; kReplace: the replacement
  std::string search;  // kReplace: the substring to find
  bool defer = false;  // apply to the response after the handler ran
  bool operator==(const HeaderOp&) const = default;
};

/// One upstream of reverse_proxy: `host:port`, `http://host:port`,
/// `https://host`, `h2c://host:port`, `unix//path/to.sock`.
struct Upstream {
  std::string scheme;     // "http", "https", "h2c" or "unix"
  std::string host;       // empty for unix sockets
  uint16_t port = 0;      // defaults: 80 for http and h2c, 443 for https
  std::string unix_path;  // for unix sockets
  std::string original;   // as written
  bool operator==(const Upstream&) const = default;
};

/// How to choose among several upstreams and when to try another.
struct LoadBalancing {
  std::string policy = "random";  // random, round_robin, first, least_conn, ip_hash,
                                  // uri_hash, header NAME, cookie NAME [SECRET]
  std::string policy_arg;         // header or cookie name
  std::string policy_secret;      // cookie policy HMAC secret
  int retries = 0;                // lb_retries: extra attempts after the first
  Duration try_duration{0};       // lb_try_duration: keep trying for this long (0 = off)
  Duration try_interval{250};     // lb_try_interval: wait between attempts
  bool operator==(const LoadBalancing&) const = default;
};

/// Status code condition: an exact code (e.g. 503) or a class (`5xx` is 5).
using StatusMatch = int;

/// Active health checks, run on a timer off the request path.
struct ActiveHealthCheck {
  std::string uri;                // health_uri; empty = active checks off
  uint16_t port = 0;              // health_port; 0 = the upstream's own port
  Duration interval{30'000};      // health_interval
  Duration timeout{5'000};        // health_timeout
  StatusMatch expect_status = 2;  // health_status; default any 2xx
  bool operator==(const ActiveHealthCheck&) const = default;
};

/// Passive health: count failures of real requests.
struct PassiveHealthCheck {
  Duration fail_duration{0};  // how long a failure is remembered; 0 = passive checks off
  int max_fails = 1;          // failures within fail_duration that mark an upstream down
  std::vector<StatusMatch> unhealthy_status;  // responses that count as failures
  bool operator==(const PassiveHealthCheck&) const = default;
};

/// `transport http { … }`: how usher talks to the upstreams.
struct HttpTransport {
  std::optional<Duration> dial_timeout;             // default 3s
  std::optional<Duration> response_header_timeout;  // default none (504 when set and exceeded)
  std::optional<Duration> read_timeout;
  std::optional<Duration> write_timeout;
  std::optional<Duration> keepalive;  // idle timeout of pooled connections; 0 = keep-alive off
  std::optional<int> keepalive_idle_conns;  // pool cap per upstream
  bool tls = false;                         // speak TLS to the upstreams
  bool tls_insecure_skip_verify = false;
  std::string tls_server_name;
  std::vector<std::string> versions;  // "1.1", "2", "h2c"
  bool operator==(const HttpTransport&) const = default;
};

/// `reverse_proxy`: forwards the request to an upstream and relays the reply.
struct ReverseProxyHandler {
  std::vector<Upstream> upstreams;
  LoadBalancing load_balancing;
  ActiveHealthCheck active_health;
  PassiveHealthCheck passive_health;
  std::vector<HeaderOp> header_up;           // applied to the request sent upstream
  std::vector<HeaderOp> header_down;         // applied to the response sent to the client
  std::vector<std::string> trusted_proxies;  // CIDRs, or "private_ranges"
  std::optional<Duration> flush_interval;    // -1ms = flush immediately
  HttpTransport transport;
  bool operator==(const ReverseProxyHandler&) const = default;
};

/// `redir [TO] [CODE]`: `permanent` is 301, `temporary` 302 (the default),
/// `html` writes an HTML redirect page with status 200.
struct RedirHandler {
  Template to;
  int status = 302;
  bool html = false;
  bool operator==(const RedirHandler&) const = default;
};

/// `respond [BODY] [STATUS] { body close }`.
struct RespondHandler {
  Template body;
  int status = 200;
  bool close = false;  // close the connection after responding
  bool operator==(const RespondHandler&) const = default;
};

/// `header` (response) and `request_header` (request) manipulations.
struct HeadersHandler {
  bool request = false;  // true for request_header
  std::vector<HeaderOp> ops;
  bool operator==(const HeadersHandler&) const = default;
};

/// `request_body { max_size SIZE }`: bodies larger than max_size get 413.
struct RequestBodyHandler {
  uint64_t max_size = 0;  // bytes; 0 = no limit
  bool operator==(const RequestBodyHandler&) const = default;
};

/// `encode [FORMATS…] { minimum_length N }`: response compression.
struct EncodeHandler {
  std::vector<std::string> encodings;  // gzip, zstd
  int minimum_length = 0;
  bool operator==(const EncodeHandler&) const = default;
};

/// `root [MATCHER] PATH`: sets the site root for file_server and try_files.
struct RootHandler {
  Template path;
  bool operator==(const RootHandler&) const = default;
};

/// `file_server [browse] { root hide index }`.
struct FileServerHandler {
  bool browse = false;
  Template root;  // empty = from `root`, else the working directory
  std::vector<std::string> hide;
  std::vector<std::string> index;  // default index.html index.txt
  bool operator==(const FileServerHandler&) const = default;
};

/// `try_files FILES…`: rewrites to the first file that exists.
struct TryFilesHandler {
  std::vector<Template> files;
  bool operator==(const TryFilesHandler&) const = default;
};

/// `uri strip_prefix|strip_suffix|replace …`.
struct UriHandler {
  enum class Op { kStripPrefix, kStripSuffix, kReplace };
  Op op = Op::kStripPrefix;
  std::string find;     // prefix, suffix, or substring to replace
  std::string replace;  // kReplace only
  int limit = 0;        // kReplace: at most this many replacements; 0 = all
  bool operator==(const UriHandler&) const = default;
};

/// `rewrite [MATCHER] TO`: internal rewrite of the URI (path and query).
struct RewriteHandler {
  Template to;
  bool operator==(const RewriteHandler&) const = default;
};

struct Route;

/// `handle`, `handle_path` and `route`: a nested list of routes.
/// handle_path's prefix stripping is an explicit `uri strip_prefix` first route.
struct SubrouteHandler {
  std::vector<Route> routes;
  bool operator==(const SubrouteHandler&) const;
};

/// `basic_auth [MATCHER] [ALGORITHM [REALM]] { USER HASH … }`.
struct BasicAuthHandler {
  std::string algorithm = "bcrypt";
  std::string realm = "restricted";
  struct Account {
    std::string user;
    std::string hash;
    bool operator==(const Account&) const = default;
  };
  std::vector<Account> accounts;
  bool operator==(const BasicAuthHandler&) const = default;
};

/// `forward_auth UPSTREAM { uri copy_headers … }`: asks an auth service
/// (Authelia, Authentik) before letting a request through.
struct ForwardAuthHandler {
  std::vector<Upstream> upstreams;
  Template uri;
  std::vector<std::pair<std::string, std::string>> copy_headers;  // from -> to
  std::vector<HeaderOp> header_up;
  std::vector<std::string> trusted_proxies;
  bool operator==(const ForwardAuthHandler&) const = default;
};

/// `abort`: closes the connection without a response.
struct AbortHandler {
  bool operator==(const AbortHandler&) const = default;
};

/// `error [MESSAGE] STATUS`: triggers handle_errors with this status.
struct ErrorHandler {
  Template message;
  int status = 500;
  bool operator==(const ErrorHandler&) const = default;
};

using Handler = std::variant<ReverseProxyHandler, RedirHandler, RespondHandler, HeadersHandler,
                             RequestBodyHandler, EncodeHandler, RootHandler, FileServerHandler,
                             TryFilesHandler, UriHandler, RewriteHandler, SubrouteHandler,
                             BasicAuthHandler, ForwardAuthHandler, AbortHandler, ErrorHandler>;

/// One step of a site's handling: if the matcher matches, run the handler.
/// Routes are kept in execution order (Caddy's directive order already
/// applied outside `route`). Consecutive routes with the same non-empty
/// `group` are mutually exclusive: only the first that matches runs.
struct Route {
  std::string directive;            // e.g. "reverse_proxy", "handle_path"
  std::string matcher_name;         // "@api" when a named matcher was used
  std::optional<MatcherSet> match;  // nullopt = every request
  std::string group;                // mutual-exclusion group, e.g. "handle_0"
  Handler handler;
  Origin origin;
  bool operator==(const Route& other) const;
};

// ---------------------------------------------------------------------- TLS

/// External Account Binding credentials (RFC 8555 §7.3.4).
struct EabCredentials {
  std::string key_id;
  std::string mac_key;  // base64url
  bool operator==(const EabCredentials&) const = default;
};

/// Where certificates come from.
struct IssuerConfig {
  enum class Kind { kAcme, kInternal };
  Kind kind = Kind::kAcme;
  std::string directory;  // ACME directory URL; empty = Let's Encrypt production
  std::string email;
  std::string trusted_root;  // PEM file trusted for the CA's own HTTPS (pebble)
  std::optional<EabCredentials> eab;
  std::vector<std::string> disabled_challenges;  // "http", "tls-alpn"
  std::string preferred_chain;                   // issuer common name of the preferred chain
  bool operator==(const IssuerConfig&) const = default;
};

/// A site's `tls` directive.
struct SiteTls {
  enum class Mode { kAuto, kInternal, kFiles };
  Mode mode = Mode::kAuto;
  std::string email;      // tls EMAIL
  std::string cert_file;  // tls CERT KEY
  std::string key_file;
  std::vector<IssuerConfig> issuers;  // tls { issuer … } in fallback order
  std::string ca;                     // tls { ca URL }
  std::string ca_root;                // tls { ca_root FILE }
  std::string dns_provider;           // tls { dns PROVIDER … }: DNS-01 (not served yet)
  std::vector<std::string> dns_args;
  bool on_demand = false;
  std::string protocol_min;  // tls { protocols MIN [MAX] }
  std::string protocol_max;
  bool operator==(const SiteTls&) const = default;
};

// ---------------------------------------------------------------------- logs

/// Where a log goes.
struct LogOutput {
  enum class Kind { kStderr, kStdout, kFile, kDiscard };
  Kind kind = Kind::kStderr;
  std::string path;        // kFile
  uint64_t roll_size = 0;  // bytes; 0 = default (100 MiB)
  int roll_keep = 0;       // 0 = default (10)
  bool operator==(const LogOutput&) const = default;
};

/// A `log` block (global: named or default logger; per site: access log).
struct LogConfig {
  std::string name;  // global named loggers only
  LogOutput output;
  std::string format;  // "", "json" or "console" ("" = console on a terminal, else json)
  std::string level;   // "", DEBUG, INFO, WARN, ERROR
  bool operator==(const LogConfig&) const = default;
};

// ------------------------------------------------------------- global options

/// `servers { timeouts { … } }`.
struct Timeouts {
  std::optional<Duration> read_header;  // default 30s
  std::optional<Duration> read_body;    // idle read on bodies; default 60s without progress
  std::optional<Duration> write;        // idle write; default 60s without progress
  std::optional<Duration> idle;         // keep-alive between requests; default 5m
  bool operator==(const Timeouts&) const = default;
};

/// `servers [LISTENER] { … }`: options of the HTTP servers.
struct ServerOptions {
  std::string listener;  // "" = every server, else e.g. ":443"
  Timeouts timeouts;
  std::vector<std::string> trusted_proxies;  // CIDRs; "private_ranges" expands to them
  std::vector<std::string> protocols;        // h1 h2 h2c h3
  std::optional<uint64_t> max_header_size;   // bytes; default 64 KiB
  bool operator==(const ServerOptions&) const = default;
};

/// The admin API endpoint.
struct AdminConfig {
  bool enabled = true;
  std::string address = "localhost:2019";  // host:port or unix//path
  bool operator==(const AdminConfig&) const = default;
};

/// The global options block.
struct GlobalOptions {
  bool debug = false;
  std::string email;
  std::string acme_ca;       // default ACME directory for every site
  std::string acme_ca_root;  // PEM file trusted for the CA's HTTPS
  std::optional<EabCredentials> acme_eab;
  std::vector<IssuerConfig> cert_issuers;  // cert_issuer, in fallback order
  bool local_certs = false;                // every site from the local CA
  AdminConfig admin;
  uint16_t http_port = 80;
  uint16_t https_port = 443;
  enum class AutoHttps { kOn, kOff, kDisableRedirects };
  AutoHttps auto_https = AutoHttps::kOn;
  std::string storage_path;              // storage file_system PATH; "" = default data directory
  std::optional<Duration> grace_period;  // default 10s
  std::vector<ServerOptions> servers;
  std::vector<LogConfig> logs;
  std::optional<int> workers;  // worker threads; default one per core
  bool operator==(const GlobalOptions&) const = default;
};

// ---------------------------------------------------------------------- site

/// One site block.
struct Site {
  std::vector<SiteAddress> addresses;
  std::vector<std::string> binds;   // `bind`: IP addresses to listen on; empty = every address
  std::vector<Route> routes;        // execution order
  std::vector<Route> error_routes;  // handle_errors
  std::optional<SiteTls> tls;
  std::optional<LogConfig> log;
  Origin origin;
  bool operator==(const Site&) const = default;
};

/// A whole configuration.
struct Config {
  GlobalOptions global;
  std::vector<Site> sites;
  bool operator==(const Config&) const = default;
};

}  // namespace usher::core
