// The site directives `tls` and `log`, and the issuer and log blocks they
// share with the global options `cert_issuer` and `log`.

#include <algorithm>
#include <array>
#include <cctype>
#include <limits>

#include "core/caddyfile/directives.h"

namespace usher::core::caddyfile {

namespace {

constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();

// --------------------------------------------------------------- issuers

void issuer_dir(Dispenser& d, IssuerConfig& i) {
  i.directory = take_one(d, "dir", "an ACME directory URL").text;
}
void issuer_email(Dispenser& d, IssuerConfig& i) {
  i.email = take_one(d, "email", "an email address").text;
}

void issuer_eab(Dispenser& d, IssuerConfig& i) {
  std::vector<Token> args = take_args(d, "eab", 2, 2, "a key ID and a MAC key");
  i.eab = EabCredentials{args[0].text, args[1].text};
}

void issuer_trusted_roots(Dispenser& d, IssuerConfig& i) {
  i.trusted_root = take_one(d, "trusted_roots", "a PEM file").text;
}

void issuer_disable_http(Dispenser& d, IssuerConfig& i) {
  take_none(d, "disable_http_challenge");
  i.disabled_challenges.push_back("http");
}

void issuer_disable_tlsalpn(Dispenser& d, IssuerConfig& i) {
  take_none(d, "disable_tlsalpn_challenge");
  i.disabled_challenges.push_back("tls-alpn");
}

void chain_common_name(Dispenser& d, IssuerConfig& i) {
  const std::string name = d.val();
  i.preferred_chain = take_one(d, name, "the common name of an issuer").text;
}

constexpr std::array<Subdirective<IssuerConfig>, 2> kChainSubdirectives{{
    {"root_common_name", chain_common_name},
    {"any_common_name", chain_common_name},
}};

// `preferred_chains { root_common_name NAME }`: usher keeps one preference.
void issuer_preferred_chains(Dispenser& d, IssuerConfig& i) {
  if (d.count_remaining_args() > 0)
    throw unsupported_error(d.remaining_arg_tokens().front(), "`preferred_chains smallest`",
                            "name the chain with `root_common_name NAME` in a block");
  if (!d.next_is_block_open())
    throw missing_arg_error(d.token(), "preferred_chains", "a block with `root_common_name NAME`");
  parse_subdirectives(d, "preferred_chains", kChainSubdirectives, i);
}

constexpr std::array<Subdirective<IssuerConfig>, 7> kAcmeIssuerSubdirectives{{
    {"dir", issuer_dir},
    {"email", issuer_email},
    {"eab", issuer_eab},
    {"trusted_roots", issuer_trusted_roots},
    {"disable_http_challenge", issuer_disable_http},
    {"disable_tlsalpn_challenge", issuer_disable_tlsalpn},
    {"preferred_chains", issuer_preferred_chains},
}};

// -------------------------------------------------------------- site tls

constexpr std::array<std::string_view, 2> kTlsVersions{"tls1.2", "tls1.3"};

void tls_issuer(Dispenser& d, SiteTls& t) {
  t.issuers.push_back(parse_issuer(d));
}
void tls_ca(Dispenser& d, SiteTls& t) {
  t.ca = take_one(d, "ca", "an ACME directory URL").text;
}
void tls_ca_root(Dispenser& d, SiteTls& t) {
  t.ca_root = take_one(d, "ca_root", "a PEM file").text;
}

void tls_dns(Dispenser& d, SiteTls& t) {
  std::vector<Token> args = take_args(d, "dns", 1, kNoLimit, "a DNS provider name");
  t.dns_provider = args[0].text;
  for (size_t i = 1; i < args.size(); ++i)
    t.dns_args.push_back(args[i].text);
}

void tls_on_demand(Dispenser& d, SiteTls& t) {
  take_none(d, "on_demand");
  t.on_demand = true;
}

void tls_protocols(Dispenser& d, SiteTls& t) {
  std::vector<Token> args = take_args(d, "protocols", 1, 2, "a minimum TLS version like `tls1.2`");
  t.protocol_min = parse_choice_arg(args[0], "protocols", kTlsVersions);
  if (args.size() == 2) t.protocol_max = parse_choice_arg(args[1], "protocols", kTlsVersions);
}

constexpr std::array<Subdirective<SiteTls>, 6> kTlsSubdirectives{{
    {"issuer", tls_issuer},
    {"ca", tls_ca},
    {"ca_root", tls_ca_root},
    {"dns", tls_dns},
    {"on_demand", tls_on_demand},
    {"protocols", tls_protocols},
}};

void set_tls_arguments(const std::vector<Token>& args, SiteTls& tls) {
  if (args.size() == 2) {
    tls.mode = SiteTls::Mode::kFiles;
    tls.cert_file = args[0].text;
    tls.key_file = args[1].text;
  } else if (args.size() == 1 && args[0].text == "internal") {
    tls.mode = SiteTls::Mode::kInternal;
  } else if (args.size() == 1) {
    if (args[0].text.find('/') != std::string::npos)
      throw Dispenser::error_at(
          args[0], "`tls` expects a key file after the certificate `" + args[0].text + "`");
    if (args[0].text.find('@') == std::string::npos)
      throw invalid_value_error(args[0], "argument", "tls",
                                "an email address, `internal`, or a certificate and a key file");
    tls.email = args[0].text;
  }
}

// ------------------------------------------------------------------ logs

constexpr std::array<std::string_view, 4> kLogLevels{"DEBUG", "INFO", "WARN", "ERROR"};
constexpr std::array<std::string_view, 2> kLogFormats{"json", "console"};

void output_roll_size(Dispenser& d, LogOutput& o) {
  o.roll_size = parse_size_arg(take_one(d, "roll_size", "a size like `100MiB`"), "roll_size");
}

void output_roll_keep(Dispenser& d, LogOutput& o) {
  o.roll_keep = parse_int_arg(take_one(d, "roll_keep", "a number of files"), "roll_keep", 0,
                              std::numeric_limits<int>::max());
}

constexpr std::array<Subdirective<LogOutput>, 2> kFileOutputSubdirectives{{
    {"roll_size", output_roll_size},
    {"roll_keep", output_roll_keep},
}};

struct OutputKind {
  std::string_view name;
  LogOutput::Kind kind;
};

constexpr std::array<OutputKind, 4> kOutputKinds{{
    {"stderr", LogOutput::Kind::kStderr},
    {"stdout", LogOutput::Kind::kStdout},
    {"discard", LogOutput::Kind::kDiscard},
    {"file", LogOutput::Kind::kFile},
}};

void log_output(Dispenser& d, LogConfig& log) {
  std::vector<Token> args =
      take_args(d, "output", 1, 2, "`stderr`, `stdout`, `discard` or `file PATH`");
  const std::array<std::string_view, 4> names{"stderr", "stdout", "discard", "file"};
  const std::string kind = parse_choice_arg(args[0], "output", names);
  for (const OutputKind& row : kOutputKinds)
    if (row.name == kind) log.output.kind = row.kind;
  if (kind != "file") {
    if (args.size() > 1)
      throw too_many_args_error(args[0], kind, 0, {args.begin() + 1, args.end()});
    return;
  }
  if (args.size() < 2) throw missing_arg_error(args[0], "output file", "a file path");
  log.output.path = args[1].text;
  parse_subdirectives(d, "output file", kFileOutputSubdirectives, log.output);
}

void log_format(Dispenser& d, LogConfig& log) {
  log.format =
      parse_choice_arg(take_one(d, "format", "`json` or `console`"), "format", kLogFormats);
}

void log_level(Dispenser& d, LogConfig& log) {
  Token level = take_one(d, "level", "a level like `INFO`");
  std::transform(level.text.begin(), level.text.end(), level.text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  log.level = parse_choice_arg(level, "level", kLogLevels);
}

constexpr std::array<Subdirective<LogConfig>, 3> kLogSubdirectives{{
    {"output", log_output},
    {"format", log_format},
    {"level", log_level},
}};

}  // namespace

IssuerConfig parse_issuer(Dispenser& d) {
  const std::string owner = d.val();
  std::vector<Token> args = take_args(d, owner, 1, 2, "`acme` or `internal`");
  IssuerConfig issuer;
  if (args[0].text == "zerossl")
    throw unsupported_error(args[0], "issuer `zerossl`", "use `acme` with `dir`");
  const std::array<std::string_view, 2> kinds{"acme", "internal"};
  parse_choice_arg(args[0], owner, kinds);
  if (args[0].text == "internal") {
    issuer.kind = IssuerConfig::Kind::kInternal;
    if (args.size() > 1)
      throw too_many_args_error(args[0], "internal", 0, {args.begin() + 1, args.end()});
    if (d.next_is_block_open()) throw no_block_error(args[0], "internal");
    return issuer;
  }
  if (args.size() == 2) issuer.directory = args[1].text;
  parse_subdirectives(d, "acme", kAcmeIssuerSubdirectives, issuer);
  return issuer;
}

void parse_log_block(Dispenser& d, LogConfig& log) {
  parse_subdirectives(d, "log", kLogSubdirectives, log);
}

void parse_tls(Dispenser& d, Scope&, Site& site) {
  const Token directive = d.token();
  if (site.tls)
    throw Dispenser::error_at(directive, "`tls` is given twice in one site", "merge them into one");
  SiteTls tls;
  std::vector<Token> args = take_args(d, "tls", 0, 2, "");
  set_tls_arguments(args, tls);
  const bool has_block = d.next_is_block_open();
  parse_subdirectives(d, "tls", kTlsSubdirectives, tls);
  if (args.empty() && !has_block)
    throw missing_arg_error(
        directive, "tls", "an email address, `internal`, a certificate and a key file, or a block");
  site.tls = std::move(tls);
}

void parse_site_log(Dispenser& d, Scope&, Site& site) {
  const Token directive = d.token();
  if (site.log)
    throw Dispenser::error_at(directive, "`log` is given twice in one site", "merge them into one");
  if (d.count_remaining_args() > 0)
    throw unsupported_error(d.remaining_arg_tokens().front(), "a logger name on a site's `log`");
  LogConfig log;
  parse_log_block(d, log);
  site.log = std::move(log);
}

}  // namespace usher::core::caddyfile
