// The global options block: the first block of a Caddyfile, without keys.
// One parse function per option, in a table; `servers` and `log` have
// tables of their own.

#include <array>
#include <limits>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

// More worker threads than this is a typo, not a machine: each worker holds
// its own sockets and upstream pools.
constexpr int kMaxWorkers = 1024;

Duration take_duration(Dispenser& d, std::string_view name) {
  return parse_duration_arg(take_one(d, name, "a duration like `30s`"), name);
}

// ---------------------------------------------------------------- simple

void opt_debug(Dispenser& d, GlobalOptions& g) {
  take_none(d, "debug");
  g.debug = true;
}

void opt_email(Dispenser& d, GlobalOptions& g) {
  g.email = take_one(d, "email", "an email address").text;
}
void opt_acme_ca(Dispenser& d, GlobalOptions& g) {
  g.acme_ca = take_one(d, "acme_ca", "an ACME directory URL").text;
}
void opt_acme_ca_root(Dispenser& d, GlobalOptions& g) {
  g.acme_ca_root = take_one(d, "acme_ca_root", "a PEM file").text;
}

void eab_key_id(Dispenser& d, EabCredentials& e) {
  e.key_id = take_one(d, "key_id", "a key ID").text;
}
void eab_mac_key(Dispenser& d, EabCredentials& e) {
  e.mac_key = take_one(d, "mac_key", "a MAC key").text;
}

constexpr std::array<Subdirective<EabCredentials>, 2> kEabSubdirectives{{
    {"key_id", eab_key_id},
    {"mac_key", eab_mac_key},
}};

void opt_acme_eab(Dispenser& d, GlobalOptions& g) {
  const Token owner = d.token();
  take_none(d, "acme_eab");
  EabCredentials eab;
  parse_subdirectives(d, "acme_eab", kEabSubdirectives, eab);
  if (eab.key_id.empty() || eab.mac_key.empty())
    throw missing_arg_error(owner, "acme_eab", "a block with both `key_id` and `mac_key`");
  g.acme_eab = eab;
}

void opt_cert_issuer(Dispenser& d, GlobalOptions& g) {
  g.cert_issuers.push_back(parse_issuer(d));
}

void opt_local_certs(Dispenser& d, GlobalOptions& g) {
  take_none(d, "local_certs");
  g.local_certs = true;
}

void opt_admin(Dispenser& d, GlobalOptions& g) {
  const Token arg = take_one(d, "admin", "`off` or an address like `localhost:2019`");
  g.admin.enabled = arg.text != "off";
  if (g.admin.enabled) g.admin.address = arg.text;
}

void opt_http_port(Dispenser& d, GlobalOptions& g) {
  g.http_port = parse_port_arg(take_one(d, "http_port", "a port"), "http_port");
}

void opt_https_port(Dispenser& d, GlobalOptions& g) {
  g.https_port = parse_port_arg(take_one(d, "https_port", "a port"), "https_port");
}

void opt_auto_https(Dispenser& d, GlobalOptions& g) {
  const std::array<std::string_view, 2> choices{"off", "disable_redirects"};
  const std::string v = parse_choice_arg(take_one(d, "auto_https", "`off` or `disable_redirects`"),
                                         "auto_https", choices);
  g.auto_https =
      v == "off" ? GlobalOptions::AutoHttps::kOff : GlobalOptions::AutoHttps::kDisableRedirects;
}

void storage_root(Dispenser& d, std::string& path) {
  path = take_one(d, "root", "a directory path").text;
}

constexpr std::array<Subdirective<std::string>, 1> kStorageSubdirectives{{
    {"root", storage_root},
}};

void opt_storage(Dispenser& d, GlobalOptions& g) {
  std::vector<Token> args = take_args(d, "storage", 1, 2, "`file_system PATH`");
  if (args[0].text != "file_system")
    throw unsupported_error(args[0], "storage `" + args[0].text + "`",
                            "only `file_system` is available");
  if (args.size() == 2) g.storage_path = args[1].text;
  parse_subdirectives(d, "storage file_system", kStorageSubdirectives, g.storage_path);
  if (g.storage_path.empty())
    throw missing_arg_error(args[0], "storage file_system", "a directory path");
}

void opt_grace_period(Dispenser& d, GlobalOptions& g) {
  g.grace_period = take_duration(d, "grace_period");
}

void opt_workers(Dispenser& d, GlobalOptions& g) {
  g.workers =
      parse_int_arg(take_one(d, "workers", "a number of threads"), "workers", 1, kMaxWorkers);
}

// --------------------------------------------------------------- servers

void timeout_read_header(Dispenser& d, Timeouts& t) {
  t.read_header = take_duration(d, "read_header");
}
void timeout_read_body(Dispenser& d, Timeouts& t) {
  t.read_body = take_duration(d, "read_body");
}
void timeout_write(Dispenser& d, Timeouts& t) {
  t.write = take_duration(d, "write");
}
void timeout_idle(Dispenser& d, Timeouts& t) {
  t.idle = take_duration(d, "idle");
}

constexpr std::array<Subdirective<Timeouts>, 4> kTimeoutSubdirectives{{
    {"read_header", timeout_read_header},
    {"read_body", timeout_read_body},
    {"write", timeout_write},
    {"idle", timeout_idle},
}};

void server_timeouts(Dispenser& d, ServerOptions& s) {
  take_none(d, "timeouts");
  parse_subdirectives(d, "timeouts", kTimeoutSubdirectives, s.timeouts);
}

// `trusted_proxies static RANGES…`: `static` is Caddy's module name, the only
// source of ranges usher has.
void server_trusted_proxies(Dispenser& d, ServerOptions& s) {
  std::vector<Token> args = take_args(d, "trusted_proxies", 1, kNoLimit, "`static` and IP ranges");
  if (args[0].text != "static")
    throw unsupported_error(args[0], "trusted_proxies source `" + args[0].text + "`",
                            "write `trusted_proxies static RANGES…`");
  if (args.size() == 1)
    throw missing_arg_error(args[0], "trusted_proxies static", "IP ranges or `private_ranges`");
  for (size_t i = 1; i < args.size(); ++i)
    s.trusted_proxies.push_back(parse_ip_range_arg(args[i], "trusted_proxies", true));
}

void server_protocols(Dispenser& d, ServerOptions& s) {
  const std::array<std::string_view, 4> choices{"h1", "h2", "h2c", "h3"};
  for (const Token& t :
       take_args(d, "protocols", 1, kNoLimit, "one or more of `h1`, `h2`, `h2c` or `h3`"))
    s.protocols.push_back(parse_choice_arg(t, "protocols", choices));
}

void server_max_header_size(Dispenser& d, ServerOptions& s) {
  s.max_header_size =
      parse_size_arg(take_one(d, "max_header_size", "a size like `64KiB`"), "max_header_size");
}

constexpr std::array<Subdirective<ServerOptions>, 4> kServerSubdirectives{{
    {"timeouts", server_timeouts},
    {"trusted_proxies", server_trusted_proxies},
    {"protocols", server_protocols},
    {"max_header_size", server_max_header_size},
}};

void opt_servers(Dispenser& d, GlobalOptions& g) {
  ServerOptions s;
  std::vector<Token> args = take_args(d, "servers", 0, 1, "");
  if (!args.empty()) s.listener = args[0].text;
  parse_subdirectives(d, "servers", kServerSubdirectives, s);
  g.servers.push_back(std::move(s));
}

void opt_log(Dispenser& d, GlobalOptions& g) {
  LogConfig log;
  std::vector<Token> args = take_args(d, "log", 0, 1, "");
  if (!args.empty()) log.name = args[0].text;
  parse_log_block(d, log);
  g.logs.push_back(std::move(log));
}

constexpr std::array<Subdirective<GlobalOptions>, 16> kGlobalOptions{{
    {"debug", opt_debug},
    {"email", opt_email},
    {"acme_ca", opt_acme_ca},
    {"acme_ca_root", opt_acme_ca_root},
    {"acme_eab", opt_acme_eab},
    {"cert_issuer", opt_cert_issuer},
    {"local_certs", opt_local_certs},
    {"admin", opt_admin},
    {"http_port", opt_http_port},
    {"https_port", opt_https_port},
    {"auto_https", opt_auto_https},
    {"storage", opt_storage},
    {"grace_period", opt_grace_period},
    {"servers", opt_servers},
    {"log", opt_log},
    {"workers", opt_workers},
}};

constexpr auto kGlobalOptionNames = [] {
  std::array<std::string_view, kGlobalOptions.size()> names{};
  for (size_t i = 0; i < names.size(); ++i)
    names[i] = kGlobalOptions[i].name;
  return names;
}();

const Subdirective<GlobalOptions>* find_option(std::string_view name) {
  for (const auto& row : kGlobalOptions)
    if (row.name == name) return &row;
  return nullptr;
}

bool is_directive_name(std::string_view name) {
  for (const HandlerDirective& row : handler_directives())
    if (row.name == name) return true;
  for (const SiteDirective& row : site_directives())
    if (row.name == name) return true;
  return false;
}

void parse_option(const Segment& segment, GlobalOptions& global, Diagnostics& diagnostics) {
  Dispenser d(segment.tokens, &diagnostics);
  d.next();
  const Token name = d.token();
  const auto* row = find_option(name.text);
  if (row == nullptr && is_directive_name(name.text))
    throw Dispenser::error_at(name, "`" + name.text + "` is a directive, not a global option",
                              "directives belong in a site block like `example.com { … }`");
  if (row == nullptr) throw unknown_name_error(name, "global option", "", kGlobalOptionNames);
  row->parse(d, global);
  expect_segment_end(d, name.text);
}

}  // namespace

std::span<const std::string_view> global_option_names() {
  return kGlobalOptionNames;
}

void parse_global_options(const ServerBlock& block, GlobalOptions& global,
                          Diagnostics& diagnostics) {
  for (const Segment& segment : block.segments) {
    if (segment.tokens.empty()) continue;
    try {
      parse_option(segment, global, diagnostics);
    } catch (const ConfigError& e) {
      diagnostics.append(e.diagnostics());
    }
  }
}

}  // namespace usher::core::caddyfile
