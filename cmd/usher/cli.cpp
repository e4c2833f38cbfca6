#include "cmd/usher/cli.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "acme/certs_report.h"
#include "acme/local_ca.h"
#include "acme/trust.h"
#include "cmd/usher/admin_address.h"
#include "cmd/usher/admin_client.h"
#include "cmd/usher/app.h"
#include "cmd/usher/flags.h"
#include "cmd/usher/status.h"
#include "core/caddyfile/format.h"
#include "core/clock.h"
#include "core/config_loader.h"
#include "core/config_yaml.h"
#include "core/data_dir.h"
#include "usher/version.h"

namespace usher::cmd {

namespace {

/// Where `usher` looks for its config when no --config is given: the working
/// directory first (as caddy does), then the packaged location.
constexpr const char* kDefaultConfigPaths[] = {"Caddyfile", "/etc/usher/Caddyfile"};

struct Context {
  std::ostream& out;
  std::ostream& err;
};

using VerbFn = int (*)(const ParsedFlags&, Context&);

/// One verb of the command line. The table below is the whole CLI; `help`
/// is generated from it.
struct Verb {
  const char* name;
  const char* usage;
  const char* summary;
  const char* description;
  std::vector<FlagSpec> flags;
  size_t max_positional;  // positional arguments the verb takes
  VerbFn run;
};

const std::vector<Verb>& verbs();

int usage_error(Context& ctx, const Verb& verb, const std::string& message) {
  ctx.err << "usher " << verb.name << ": " << message << "\n";
  ctx.err << "usage: " << verb.usage << "\n";
  ctx.err << "run `usher help " << verb.name << "` for details\n";
  return kExitUsage;
}

const Verb* find_verb(const std::string& name) {
  for (const auto& verb : verbs())
    if (name == verb.name) return &verb;
  return nullptr;
}

/// Levenshtein distance, to suggest the verb the user probably meant.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j)
    row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string closest_verb(const std::string& name) {
  std::string best;
  size_t best_distance = 3;  // suggest only near misses
  for (const auto& verb : verbs()) {
    size_t d = edit_distance(name, verb.name);
    if (d < best_distance) {
      best_distance = d;
      best = verb.name;
    }
  }
  return best;
}

/// Resolves the config path: --config, else a positional argument, else the
/// first default that exists. Empty when nothing was found.
std::string config_path(const ParsedFlags& flags) {
  if (auto path = flags.get("config")) return *path;
  if (!flags.positional.empty()) return flags.positional.front();
  for (const char* candidate : kDefaultConfigPaths) {
    std::error_code ec;
    if (std::filesystem::exists(candidate, ec)) return candidate;
  }
  return {};
}

/// The config named on the command line, loaded; false (with messages
/// printed) when there is none or it does not parse.
struct LoadResult {
  bool ok = false;
  int exit_code = kExitOk;
  std::string path;
  core::LoadedConfig loaded;
};

LoadResult load_from_flags(const ParsedFlags& flags, Context& ctx, bool check) {
  LoadResult result;
  core::ConfigFormat format = core::ConfigFormat::kAuto;
  if (auto adapter = flags.get("adapter");
      adapter && !core::parse_config_format(*adapter, &format)) {
    ctx.err << "unknown adapter `" << *adapter << "`; expected `caddyfile` or `yaml`\n";
    result.exit_code = kExitUsage;
    return result;
  }
  result.path = config_path(flags);
  if (result.path.empty()) {
    ctx.err << "no config file found: looked for ./Caddyfile and /etc/usher/Caddyfile; "
               "pass one with --config FILE\n";
    result.exit_code = kExitConfig;
    return result;
  }
  result.loaded = core::load_config_file(result.path, format);
  if (check) core::check_config(result.loaded);
  const auto& diagnostics = result.loaded.diagnostics;
  for (const auto& d : diagnostics.items())
    ctx.err << d.str() << "\n";
  if (diagnostics.has_errors()) {
    size_t errors = diagnostics.error_count();
    ctx.err << result.path << ": " << errors << (errors == 1 ? " error" : " errors") << " found\n";
    result.exit_code = kExitConfig;
    return result;
  }
  result.ok = true;
  return result;
}

int run_version(const ParsedFlags&, Context& ctx) {
  ctx.out << "usher " << kVersion << "\n";
  return kExitOk;
}

void print_verb_help(const Verb& verb, std::ostream& out) {
  out << "usage: " << verb.usage << "\n\n" << verb.description << "\n";
  if (!verb.flags.empty()) {
    out << "\nflags:\n";
    for (const auto& flag : verb.flags) {
      std::string name = std::string("--") + flag.name + (flag.takes_value ? " VALUE" : "");
      out << "  " << name << std::string(name.size() < 20 ? 20 - name.size() : 1, ' ') << flag.help
          << "\n";
    }
  }
}

void print_overview(std::ostream& out) {
  out << "usher " << kVersion
      << " - a reverse proxy that gets and renews its own HTTPS certificates\n\n"
      << "usage: usher <verb> [flags]\n\nverbs:\n";
  size_t width = 0;
  for (const auto& verb : verbs())
    width = std::max(width, std::string_view(verb.name).size());
  for (const auto& verb : verbs())
    out << "  " << verb.name << std::string(width + 2 - std::string_view(verb.name).size(), ' ')
        << verb.summary << "\n";
  out << "\nrun `usher help <verb>` for the flags of one verb\n";
}

int run_help(const ParsedFlags& flags, Context& ctx) {
  if (flags.positional.empty()) {
    print_overview(ctx.out);
    return kExitOk;
  }
  const Verb* verb = find_verb(flags.positional.front());
  if (verb == nullptr) {
    ctx.err << "usher help: unknown verb `" << flags.positional.front() << "`\n";
    print_overview(ctx.err);
    return kExitUsage;
  }
  print_verb_help(*verb, ctx.out);
  return kExitOk;
}

int run_validate(const ParsedFlags& flags, Context& ctx) {
  if (flags.has("config") && !flags.positional.empty())
    return usage_error(ctx, *find_verb("validate"), "give the config file once");
  LoadResult result = load_from_flags(flags, ctx, /*check=*/true);
  if (!result.ok) return result.exit_code;
  size_t sites = result.loaded.config.sites.size();
  ctx.out << result.path << ": valid configuration (" << sites << (sites == 1 ? " site" : " sites")
          << ")\n";
  return kExitOk;
}

int run_adapt(const ParsedFlags& flags, Context& ctx) {
  if (flags.has("config") && !flags.positional.empty())
    return usage_error(ctx, *find_verb("adapt"), "give the config file once");
  LoadResult result = load_from_flags(flags, ctx, flags.has("validate"));
  if (!result.ok) return result.exit_code;
  std::string yaml = core::to_yaml(result.loaded.config);
  if (flags.has("pretty")) ctx.out << "# usher " << kVersion << " adapted " << result.path << "\n";
  ctx.out << yaml;
  return kExitOk;
}

/// Replaces `path` with `contents` without ever leaving a half-written file:
/// write a temporary file next to it, flush it to disk, then rename over.
bool write_file_atomically(const std::string& path, const std::string& contents,
                           std::string* error) {
  std::string temp = path + ".usher-fmt.tmp";
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out << contents;
    out.flush();
    if (!out) {
      *error = "cannot write " + temp;
      std::remove(temp.c_str());
      return false;
    }
  }
  std::error_code ec;
  auto perms = std::filesystem::status(path, ec).permissions();
  if (!ec) std::filesystem::permissions(temp, perms, ec);
  if (FILE* f = std::fopen(temp.c_str(), "rb")) {
    ::fsync(::fileno(f));
    std::fclose(f);
  }
  std::filesystem::rename(temp, path, ec);
  if (ec) {
    *error = "cannot replace " + path + ": " + ec.message();
    std::remove(temp.c_str());
    return false;
  }
  return true;
}

int run_fmt(const ParsedFlags& flags, Context& ctx) {
  const Verb& verb = *find_verb("fmt");
  std::string path = flags.positional.empty() ? "Caddyfile" : flags.positional.front();
  if (path == "-" && flags.has("overwrite"))
    return usage_error(ctx, verb, "--overwrite needs a file, not standard input");
  std::ostringstream text;
  if (path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      ctx.err << "usher fmt: cannot read " << path << "\n";
      return kExitFailure;
    }
    text << in.rdbuf();
  }
  std::string formatted = core::caddyfile::format(text.str());
  if (!flags.has("overwrite")) {
    ctx.out << formatted;
    return kExitOk;
  }
  if (formatted == text.str()) return kExitOk;
  std::string error;
  if (!write_file_atomically(path, formatted, &error)) {
    ctx.err << "usher fmt: " << error << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

int run_run(const ParsedFlags& flags, Context& ctx) {
  LoadResult result = load_from_flags(flags, ctx, /*check=*/true);
  if (!result.ok) return result.exit_code;
  ConfigSource source{result.path, core::ConfigFormat::kAuto};
  if (auto adapter = flags.get("adapter")) core::parse_config_format(*adapter, &source.format);
  return run_instance(result.loaded.config, source, ctx.out, ctx.err);
}

/// A flag value that is pasted into a generated Caddyfile must be one token.
bool is_single_token(const std::string& value) {
  return !value.empty() && value.find_first_of(" \t\r\n{}\"'`#") == std::string::npos;
}

/// `usher reverse-proxy --from HOST --to UPSTREAM`: one site without a config
/// file. The flags become a small Caddyfile so that they go through exactly
/// the same parser and checks as a config file would.
int run_reverse_proxy(const ParsedFlags& flags, Context& ctx) {
  const Verb& verb = *find_verb("reverse-proxy");
  auto to = flags.get("to");
  if (!to) return usage_error(ctx, verb, "--to is required");
  std::string from = flags.get("from").value_or("localhost");
  if (!is_single_token(from)) return usage_error(ctx, verb, "--from must be one site address");
  if (!is_single_token(*to)) return usage_error(ctx, verb, "--to must be one upstream address");
  std::string text;
  if (flags.has("debug")) text += "{\n\tdebug\n}\n";
  text += from + " {\n";
  if (flags.has("internal-certs")) text += "\ttls internal\n";
  text += "\treverse_proxy " + *to + " {\n";
  if (flags.has("change-host-header")) text += "\t\theader_up Host {upstream_hostport}\n";
  if (flags.has("insecure"))
    text += "\t\ttransport http {\n\t\t\ttls_insecure_skip_verify\n\t\t}\n";
  text += "\t}\n}\n";
  auto loaded = core::load_config_text(text, "reverse-proxy", core::ConfigFormat::kCaddyfile);
  core::check_config(loaded);
  for (const auto& d : loaded.diagnostics.items())
    ctx.err << d.str() << "\n";
  if (loaded.diagnostics.has_errors()) {
    ctx.err << "usher reverse-proxy: the flags do not make a valid site (generated config:\n"
            << text << ")\n";
    return kExitConfig;
  }
  return run_instance(loaded.config, ConfigSource{}, ctx.out, ctx.err);
}

/// The `storage` option of the config named on the command line, or ""
/// (the default data directory) when none is named. Sets `exit_code` and
/// returns nullopt, with the messages printed, when that config does not load.
std::optional<std::string> storage_from_flags(const ParsedFlags& flags, Context& ctx,
                                              int& exit_code) {
  if (!flags.has("config") && flags.positional.empty()) return std::string();
  LoadResult result = load_from_flags(flags, ctx, /*check=*/false);
  if (!result.ok) {
    exit_code = result.exit_code;
    return std::nullopt;
  }
  return result.loaded.config.global.storage_path;
}

/// `usher trust`: installs the local CA's root into the system trust store,
/// creating the CA first if this machine has none yet.
int run_trust(const ParsedFlags& flags, Context& ctx) {
  int exit_code = kExitOk;
  auto storage = storage_from_flags(flags, ctx, exit_code);
  if (!storage) return exit_code;
  try {
    core::SystemClock clock;
    acme::LocalCa ca(core::data_directory(*storage), clock);
    ctx.out << acme::install_root_in_system_store(ca.root_path()) << "\n";
    return kExitOk;
  } catch (const std::exception& e) {
    ctx.err << "usher trust: " << e.what() << "\n";
    if (geteuid() != 0) ctx.err << "installing a trusted root needs root: sudo usher trust\n";
    return kExitFailure;
  }
}

// ------------------------------------------------------------ admin API clients

/// The `admin` option of the config the command line names (or the default
/// config file found), when it sets one; nullopt otherwise.
std::optional<core::AdminConfig> admin_of_config(const ParsedFlags& flags) {
  std::string path = config_path(flags);
  if (path.empty()) return std::nullopt;
  core::ConfigFormat format = core::ConfigFormat::kAuto;
  if (auto adapter = flags.get("adapter")) core::parse_config_format(*adapter, &format);
  // A config with errors elsewhere still names its admin address (the
  // global options come first): `usher reload` of a broken file must reach
  // the instance, which then reports the errors.
  auto loaded = core::load_config_file(path, format);
  if (loaded.config.global.admin == core::AdminConfig{}) return std::nullopt;
  return loaded.config.global.admin;
}

/// The admin API a client verb talks to: --address; else the `admin`
/// option of the config file; else $USHER_ADMIN; else localhost:2019.
/// nullopt (with the message printed) when that is off or malformed.
std::optional<AdminAddress> admin_target(const ParsedFlags& flags, Context& ctx, const char* verb,
                                         bool report_off = true) {
  std::string text;
  std::string source;
  if (auto address = flags.get("address")) {
    text = *address;
    source = "--address";
  } else if (auto admin = admin_of_config(flags)) {
    if (!admin->enabled) {
      if (!report_off) return std::nullopt;
      ctx.err << "usher " << verb << ": the config sets `admin off`, so no admin API listens; "
              << "pass --address if usher runs with another config\n";
      return std::nullopt;
    }
    text = admin->address;
    source = "the config's `admin` option";
  } else if (const char* env = std::getenv(kAdminEnvVar); env != nullptr && *env != '\0') {
    text = env;
    source = std::string("$") + kAdminEnvVar;
  } else {
    text = kDefaultAdminAddress;
  }
  std::string error;
  auto address = parse_admin_address(text, &error);
  if (!address)
    ctx.err << "usher " << verb << ": " << error << (source.empty() ? "" : " (from " + source + ")")
            << "\n";
  return address;
}

int unreachable(Context& ctx, const char* verb, const AdminUnreachable& e) {
  ctx.err << "usher " << verb << ": " << e.what() << "\n"
          << "is usher running? is `admin` off? (the address comes from --address, the config's "
             "`admin` option, $USHER_ADMIN, else localhost:2019)\n";
  return kExitFailure;
}

/// A reply other than the expected one: its status and text, exit 1.
int unexpected_reply(Context& ctx, const char* verb, const AdminResponse& response) {
  ctx.err << "usher " << verb << ": the admin API answered " << response.status << ": "
          << response.body << (response.body.ends_with('\n') ? "" : "\n");
  return kExitFailure;
}

/// `usher reload`: sends the config file to the running instance, which
/// validates and applies it; exits once it is applied (systemd's ExecReload).
int run_reload(const ParsedFlags& flags, Context& ctx) {
  if (flags.has("config") && !flags.positional.empty())
    return usage_error(ctx, *find_verb("reload"), "give the config file once");
  core::ConfigFormat requested = core::ConfigFormat::kAuto;
  if (auto adapter = flags.get("adapter");
      adapter && !core::parse_config_format(*adapter, &requested)) {
    ctx.err << "unknown adapter `" << *adapter << "`; expected `caddyfile` or `yaml`\n";
    return kExitUsage;
  }
  std::string path = config_path(flags);
  if (path.empty()) {
    ctx.err << "usher reload: no config file found: looked for ./Caddyfile and "
               "/etc/usher/Caddyfile; pass one with --config FILE\n";
    return kExitConfig;
  }
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in) {
    ctx.err << "usher reload: cannot read " << path << "\n";
    return kExitConfig;
  }
  auto address = admin_target(flags, ctx, "reload");
  if (!address) return kExitFailure;
  bool yaml = core::detect_config_format(path, requested) == core::ConfigFormat::kYaml;
  try {
    auto response = admin_request(*address, "POST", "/load", text.str(),
                                  yaml ? "application/yaml" : "text/caddyfile");
    if (response.status == 200) {
      ctx.out << "usher reload: " << path << ": " << response.body;
      return kExitOk;
    }
    if (response.status == 400) {
      ctx.err << response.body << "usher reload: " << path
              << " was rejected; the running config is unchanged\n";
      return kExitConfig;
    }
    return unexpected_reply(ctx, "reload", response);
  } catch (const AdminUnreachable& e) {
    return unreachable(ctx, "reload", e);
  } catch (const std::exception& e) {
    ctx.err << "usher reload: " << e.what() << "\n";
    return kExitFailure;
  }
}

/// `usher stop`: asks the running instance for a graceful shutdown.
int run_stop(const ParsedFlags& flags, Context& ctx) {
  auto address = admin_target(flags, ctx, "stop");
  if (!address) return kExitFailure;
  try {
    auto response = admin_request(*address, "POST", "/stop");
    if (response.status != 200) return unexpected_reply(ctx, "stop", response);
    ctx.out << "usher stop: the usher at " << address->str()
            << " is shutting down (requests in flight finish first)\n";
    return kExitOk;
  } catch (const AdminUnreachable& e) {
    return unreachable(ctx, "stop", e);
  } catch (const std::exception& e) {
    ctx.err << "usher stop: " << e.what() << "\n";
    return kExitFailure;
  }
}

/// GET /status of the running instance, parsed; throws AdminUnreachable.
acme::Json fetch_status(const AdminAddress& address, std::chrono::seconds timeout,
                        std::string* raw) {
  auto response = admin_request(address, "GET", "/status", {}, {}, timeout);
  if (response.status != 200)
    throw std::runtime_error("the admin API answered " + std::to_string(response.status) + ": " +
                             response.body);
  if (raw != nullptr) *raw = response.body;
  return acme::Json::parse(response.body);
}

/// `usher status`: what the running instance serves and how its upstreams
/// and certificates are doing.
int run_status(const ParsedFlags& flags, Context& ctx) {
  auto address = admin_target(flags, ctx, "status");
  if (!address) return kExitFailure;
  try {
    std::string raw;
    acme::Json status = fetch_status(*address, kAdminClientTimeout, &raw);
    if (flags.has("json")) {
      ctx.out << raw;
    } else {
      ctx.out << format_status(status);
    }
    return kExitOk;
  } catch (const AdminUnreachable& e) {
    return unreachable(ctx, "status", e);
  } catch (const std::exception& e) {
    ctx.err << "usher status: " << e.what() << "\n";
    return kExitFailure;
  }
}

// `usher certs` asks a running instance first, briefly: nothing answering
// is the normal case when usher is stopped.
constexpr std::chrono::seconds kCertsLiveTimeout{3};

/// `usher certs`: the managed ACME certificates: the running instance's live
/// view when one answers, else read from the data directory, so it works
/// whether or not usher is running.
int run_certs(const ParsedFlags& flags, Context& ctx) {
  if (auto address = admin_target(flags, ctx, "certs", /*report_off=*/false)) {
    try {
      auto statuses = certificates_from_json(fetch_status(*address, kCertsLiveTimeout, nullptr));
      ctx.out << acme::format_certs_report(statuses);
      ctx.err << "(live view of the usher at " << address->str() << ")\n";
      return kExitOk;
    } catch (const AdminUnreachable&) {
      // Not running (or API off): the data directory has the same facts.
    } catch (const std::exception& e) {
      ctx.err << "usher certs: the running usher's status is unreadable (" << e.what()
              << "); reading the data directory\n";
    }
  }
  int exit_code = kExitOk;
  auto storage = storage_from_flags(flags, ctx, exit_code);
  if (!storage) return exit_code;
  try {
    ctx.out << acme::certs_report(core::data_directory(*storage));
    return kExitOk;
  } catch (const std::exception& e) {
    ctx.err << "usher certs: " << e.what() << "\n";
    return kExitFailure;
  }
}

const std::vector<FlagSpec> kConfigFlags = {
    {"config", true, "config file (default ./Caddyfile, else /etc/usher/Caddyfile)"},
    {"adapter", true, "config format: caddyfile or yaml (default: from the file name)"},
};

const FlagSpec kAddressFlag = {
    "address", true,
    "admin API address (default: the config's `admin`, else $USHER_ADMIN, else localhost:2019)"};

std::vector<FlagSpec> with_config_flags(std::vector<FlagSpec> extra) {
  extra.insert(extra.begin(), kConfigFlags.begin(), kConfigFlags.end());
  return extra;
}

const std::vector<Verb>& verbs() {
  static const std::vector<Verb> kVerbs = {
      {"version",
       "usher version",
       "print the version",
       "Prints the version of this usher binary.",
       {},
       0,
       run_version},
      {"help",
       "usher help [VERB]",
       "show help for usher or one verb",
       "Lists the verbs, or shows the usage and flags of one verb.",
       {},
       1,
       run_help},
      {"validate", "usher validate [--config FILE] [--adapter NAME]",
       "check a config file without running it",
       "Reads the config file, checks it completely and reports every problem with\n"
       "its file and line. Binds no socket and touches no data directory.\n"
       "Exit status: 0 valid, 64 usage error, 78 invalid config.",
       with_config_flags({}), 1, run_validate},
      {"adapt", "usher adapt [--config FILE] [--adapter NAME] [--pretty] [--validate]",
       "print a config as YAML",
       "Converts the config file to usher's YAML config format and prints it. The\n"
       "YAML can be run as it is (usher run --config site.yaml).\n"
       "Exit status: 0 converted, 64 usage error, 78 invalid config.",
       with_config_flags({{"pretty", false, "start the output with a comment naming its source"},
                          {"validate", false, "also run the checks of `usher validate`"}}),
       1, run_adapt},
      {"run", "usher run [--config FILE] [--adapter NAME]", "serve the sites of a config",
       "Checks the config like `validate`, then serves its sites until SIGTERM or SIGINT\n"
       "(graceful: requests in flight get grace_period to finish). SIGHUP reloads the\n"
       "config file; a config with errors is logged and the running one keeps serving.\n"
       "The admin API (reload, stop, status, metrics) listens on the `admin` option's\n"
       "address, else $USHER_ADMIN, else localhost:2019; `admin off` disables it.\n"
       "Exit status: 0 after a clean shutdown, 1 when a port cannot be opened,\n"
       "64 usage error, 78 invalid config.",
       with_config_flags({}), 1, run_run},
      {"reverse-proxy",
       "usher reverse-proxy [--from ADDRESS] --to UPSTREAM [flags]",
       "serve one site that proxies to an upstream, without a config file",
       "Serves ADDRESS (default localhost) over HTTPS and proxies every request to\n"
       "UPSTREAM, as the one-line config `ADDRESS { reverse_proxy UPSTREAM }` would.",
       {{"from", true, "the site address (default localhost)"},
        {"to", true, "the upstream address, e.g. 127.0.0.1:8080"},
        {"change-host-header", false, "send the upstream's address as Host"},
        {"insecure", false, "do not verify an https:// upstream's certificate"},
        {"internal-certs", false, "use usher's local CA even for public names"},
        {"debug", false, "log at debug level"}},
       0,
       run_reverse_proxy},
      {"trust", "usher trust [--config FILE]", "make this machine trust usher's local CA",
       "Installs the root certificate of usher's local CA (creating it when there is\n"
       "none yet) into the system trust store with update-ca-certificates, and prints\n"
       "its path and SHA-256 fingerprint. Needs root. The data directory follows the\n"
       "config's `storage` option when --config is given.",
       with_config_flags({}), 1, run_trust},
      {"certs", "usher certs [--config FILE]", "list the certificates usher manages",
       "Lists every ACME certificate in the data directory: names, issuer, expiry,\n"
       "next renewal (or next retry) and the last error. Reads the data directory\n"
       "only, so it works whether or not usher is running. With --config, the data\n"
       "directory follows the config's `storage` option.\n"
       "When a running usher answers on its admin API, shows its live view instead.",
       with_config_flags({kAddressFlag}), 1, run_certs},
      {"reload", "usher reload [--config FILE] [--adapter NAME] [--address ADDR]",
       "apply a config file to the running usher",
       "Sends the config file to the running usher's admin API (POST /load), which\n"
       "checks it like `validate` and applies it without dropping a connection.\n"
       "Returns once the new config serves. The address is --address, else the\n"
       "config's `admin` option, else $USHER_ADMIN, else localhost:2019.\n"
       "Exit status: 0 applied, 1 no usher answers, 64 usage error,\n"
       "78 config rejected (the running config is unchanged).",
       with_config_flags({kAddressFlag}), 1, run_reload},
      {"stop", "usher stop [--address ADDR]", "stop the running usher gracefully",
       "Asks the running usher (POST /stop) to shut down as on SIGTERM: requests in\n"
       "flight get grace_period to finish. Exit status: 0 asked, 1 no usher answers.",
       with_config_flags({kAddressFlag}), 1, run_stop},
      {"status", "usher status [--address ADDR] [--json]", "show what the running usher serves",
       "Shows the running usher's sites, listeners, upstreams (up or down, and why)\n"
       "and certificates (expiry, next renewal, last error), from GET /status.\n"
       "Exit status: 0 shown, 1 no usher answers.",
       with_config_flags({kAddressFlag, {"json", false, "print the status JSON as it is"}}), 1,
       run_status},
      {"fmt",
       "usher fmt [--overwrite] [FILE|-]",
       "format a Caddyfile canonically",
       "Prints FILE (default ./Caddyfile; - reads standard input) in canonical\n"
       "Caddyfile formatting: tab indentation, one space between tokens, comments\n"
       "kept. With --overwrite, replaces the file instead of printing it.",
       {{"overwrite", false, "write the result back to the file"}},
       1,
       run_fmt},
  };
  return kVerbs;
}

}  // namespace

int run_cli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  Context ctx{out, err};
  if (args.empty()) {
    print_overview(err);
    return kExitUsage;
  }
  const std::string& name = args.front();
  if (name == "--help" || name == "-h") return run_help({}, ctx);
  if (name == "--version" || name == "-v") return run_version({}, ctx);
  const Verb* verb = find_verb(name);
  if (verb == nullptr) {
    err << "usher: unknown verb `" << name << "`";
    if (auto guess = closest_verb(name); !guess.empty()) err << "; did you mean `" << guess << "`?";
    err << "\nrun `usher help` for the list of verbs\n";
    return kExitUsage;
  }
  std::vector<std::string> rest(args.begin() + 1, args.end());
  if (std::find(rest.begin(), rest.end(), "--help") != rest.end()) {
    print_verb_help(*verb, out);
    return kExitOk;
  }
  std::string error;
  auto flags = parse_flags(rest, verb->flags, &error);
  if (!flags) return usage_error(ctx, *verb, error);
  if (flags->positional.size() > verb->max_positional)
    return usage_error(ctx, *verb,
                       "unexpected argument `" + flags->positional[verb->max_positional] + "`");
  return verb->run(*flags, ctx);
}

}  // namespace usher::cmd
