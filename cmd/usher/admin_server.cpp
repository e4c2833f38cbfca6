// The admin API's HTTP side: binding (TCP on loopback or a Unix socket),
// the local-only check, the endpoint table with 404/405/413, and the
// translation of each endpoint to an AdminActions call.

#include "cmd/usher/admin_server.h"

#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace usher::cmd {

namespace {

// The API serves one person's CLI and a metrics scraper: two threads are
// plenty, and each idle thread costs memory on a Raspberry Pi.
constexpr size_t kAdminThreads = 2;
// Slow or idle clients must not hold one of those threads for long.
constexpr time_t kAdminReadTimeoutSeconds = 10;
constexpr time_t kAdminKeepAliveSeconds = 2;
// How long stop() waits for the serving thread to have started.
constexpr int kStartWaitMillis = 5000;
constexpr int kListenBacklog = 16;

/// One row per endpoint: the table is the whole API, and 404/405 come from it.
struct Endpoint {
  std::string_view path;
  std::string_view method;
};
constexpr std::array<Endpoint, 6> kEndpoints = {{
    {"/load", "POST"},
    {"/config", "GET"},
    {"/stop", "POST"},
    {"/status", "GET"},
    {"/metrics", "GET"},
    {"/healthz", "GET"},
}};

/// httplib::Server serving a socket we bound ourselves: its own bind knows
/// neither Unix sockets nor how to report why a port could not be bound.
class AdoptingServer : public httplib::Server {
 public:
  void adopt(int fd) { svr_sock_ = fd; }
};

[[noreturn]] void throw_bind_error(const AdminAddress& address, int error) {
  std::string message =
      "admin API: cannot listen on " + address.str() + ": " + std::strerror(error) + "; ";
  if (error == EADDRINUSE) message += "another program (or another usher) uses it: ";
  message +=
      "change the global `admin` option (e.g. `admin localhost:2020` or `admin "
      "unix//run/usher/admin.sock`) or disable the API with `admin off`";
  throw std::runtime_error(message);
}

int listen_tcp(const AdminAddress& address) {
  sockaddr_storage storage{};
  const socklen_t length = socket_address(address, storage);
  int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_bind_error(address, errno);
  int yes = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  // Accepted sockets inherit it: httplib writes head and body separately,
  // and Nagle would hold the body back for the client's delayed ACK.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0 ||
      ::listen(fd, kListenBacklog) != 0) {
    int error = errno;
    ::close(fd);
    throw_bind_error(address, error);
  }
  return fd;
}

/// A socket file left by an instance that died: nothing accepts on it.
bool is_stale_socket(const sockaddr_un& addr) {
  int probe = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (probe < 0) return false;
  bool refused = ::connect(probe, reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0 &&
                 errno == ECONNREFUSED;
  ::close(probe);
  return refused;
}

int listen_unix(const AdminAddress& address) {
  const std::string& path = address.unix_path;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("admin API: socket path " + path + " is too long (at most " +
                             std::to_string(sizeof(addr.sun_path) - 1) + " bytes)");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode))
      throw std::runtime_error("admin API: " + path +
                               " exists and is not a socket; remove it or change `admin`");
    if (!is_stale_socket(addr)) throw_bind_error(address, EADDRINUSE);
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw_bind_error(address, errno);
  // Only the owner may talk to the API. The mode is set between bind and
  // listen: nobody can connect before listen(), so there is no window, and
  // the process-wide umask (which other threads' files depend on) is left alone.
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  int error = errno;
  if (rc != 0 || ::chmod(path.c_str(), 0600) != 0 || ::listen(fd, kListenBacklog) != 0) {
    error = rc != 0 ? error : errno;
    ::close(fd);
    if (rc == 0) ::unlink(path.c_str());
    throw_bind_error(address, error);
  }
  return fd;
}

void text(httplib::Response& res, int status, const std::string& body) {
  res.status = status;
  res.set_content(body, "text/plain; charset=utf-8");
}

/// POST /load reads YAML when the request says so, else the Caddyfile.
core::ConfigFormat request_format(const httplib::Request& req, std::string* error) {
  if (req.has_param("adapter")) {
    core::ConfigFormat format = core::ConfigFormat::kCaddyfile;
    std::string name = req.get_param_value("adapter");
    if (!core::parse_config_format(name, &format))
      *error = "unknown adapter `" + name + "`; expected caddyfile or yaml";
    return format;
  }
  std::string type = req.get_header_value("Content-Type");
  type = type.substr(0, type.find(';'));
  if (type == "application/yaml" || type == "text/yaml" || type == "application/x-yaml")
    return core::ConfigFormat::kYaml;
  return core::ConfigFormat::kCaddyfile;
}

}  // namespace

struct AdminServer::Impl {
  AdoptingServer http;
};

AdminServer::AdminServer(AdminAddress address, AdminActions& actions)
    : address_(std::move(address)), impl_(std::make_unique<Impl>()) {
  auto& http = impl_->http;
  http.new_task_queue = [] { return new httplib::ThreadPool(kAdminThreads); };
  http.set_payload_max_length(kMaxAdminBody);
  http.set_read_timeout(kAdminReadTimeoutSeconds);
  http.set_write_timeout(kAdminReadTimeoutSeconds);
  http.set_keep_alive_timeout(kAdminKeepAliveSeconds);

  http.set_pre_routing_handler(
      [this, &actions](const httplib::Request& req, httplib::Response& res) {
        std::string reason;
        std::optional<std::string_view> origin;
        std::string origin_value = req.get_header_value("Origin");
        if (req.has_header("Origin")) origin = origin_value;
        if (!is_local_request(req.get_header_value("Host"), origin, address_, &reason)) {
          spdlog::warn("admin API: refused {} {}: {}", req.method, req.path, reason);
          text(res, 403, "forbidden: " + reason + "\n");
          return httplib::Server::HandlerResponse::Handled;
        }
        const Endpoint* found = nullptr;
        for (const Endpoint& e : kEndpoints)
          if (e.path == req.path) found = &e;
        if (found == nullptr) {
          text(res, 404,
               "unknown admin endpoint " + req.path +
                   "; the API has /load, /config, /stop, /status, /metrics, /healthz\n");
          return httplib::Server::HandlerResponse::Handled;
        }
        bool head_of_get = found->method == "GET" && req.method == "HEAD";
        if (found->method != req.method && !head_of_get) {
          res.set_header("Allow", std::string(found->method));
          text(res, 405, req.path + " accepts " + std::string(found->method) + " only\n");
          return httplib::Server::HandlerResponse::Handled;
        }
        // Answered here, before httplib reads a body: it rejects a POST
        // without Content-Length (as `curl -X POST` sends it) with 400.
        if (req.path == "/stop") {
          text(res, 200, "stopping\n");
          res.set_header("Connection", "close");
          actions.request_stop();
          return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
      });
  http.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    if (res.status == 413)
      text(res, 413,
           "request body too large: the admin API takes at most " +
               std::to_string(kMaxAdminBody / (1024 * 1024)) + " MiB\n");
    else
      text(res, res.status, "error " + std::to_string(res.status) + "\n");
  });
  http.set_exception_handler(
      [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
        std::string what = "unknown error";
        try {
          std::rethrow_exception(ep);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
        }
        spdlog::error("admin API: {} {}: {}", req.method, req.path, what);
        text(res, 500, what + "\n");
      });

  http.Post("/load", [&actions](const httplib::Request& req, httplib::Response& res) {
    std::string error;
    core::ConfigFormat format = request_format(req, &error);
    if (!error.empty()) return text(res, 400, error + "\n");
    LoadOutcome outcome = actions.load(req.body, format);
    if (!outcome.applied) {
      std::string body;
      for (const auto& line : outcome.errors)
        body += line + "\n";
      return text(res, 400, body);
    }
    text(res, 200,
         "config applied: " + std::to_string(outcome.sites) +
             (outcome.sites == 1 ? " site\n" : " sites\n"));
  });
  http.Get("/config", [&actions](const httplib::Request&, httplib::Response& res) {
    res.set_content(actions.config_yaml(), "application/yaml");
  });
  http.Get("/status", [&actions](const httplib::Request&, httplib::Response& res) {
    res.set_content(actions.status_json(), "application/json");
  });
  http.Get("/metrics", [&actions](const httplib::Request&, httplib::Response& res) {
    res.set_content(actions.metrics(), "text/plain; version=0.0.4; charset=utf-8");
  });
  http.Get("/healthz",
           [](const httplib::Request&, httplib::Response& res) { text(res, 200, "ok\n"); });
}

AdminServer::~AdminServer() {
  stop();
}

void AdminServer::start() {
  int fd = address_.is_unix() ? listen_unix(address_) : listen_tcp(address_);
  impl_->http.adopt(fd);
  thread_ = std::thread([this] { impl_->http.listen_after_bind(); });
}

void AdminServer::stop() {
  if (!thread_.joinable()) return;
  // httplib's stop() only acts once the serving loop runs.
  for (int waited = 0; !impl_->http.is_running() && waited < kStartWaitMillis; ++waited)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  impl_->http.stop();
  thread_.join();
  if (address_.is_unix()) ::unlink(address_.unix_path.c_str());
}

}  // namespace usher::cmd
