// The network transport against real local servers: cpp-httplib servers
// with throwaway certificates from two local CAs (one trusted, one not), and
// a listening socket that never answers. Loopback only, ports picked by the
// kernel.

#include "acme/http_transport.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <fstream>
#include <stdexcept>
#include <thread>

#include "acme/local_ca.h"
#include "core/clock.h"
#include "core/unique_fd.h"
#include "tests/test_files.h"

namespace usher::acme {
namespace {

using ::testing::AllOf;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

// Short enough that the timeout tests take about a second each. The other
// tests keep the production timeout, so that a loaded machine (or valgrind)
// does not fail them.
constexpr std::chrono::milliseconds kTestTimeout{1000};

/// A cpp-httplib server (TLS when given a certificate) on a loopback port
/// chosen by the kernel, listening on its own thread until destroyed.
class TestServer {
 public:
  TestServer(const std::string& address, const core::TlsCertificate* cert) {
    if (cert) {
      server_ = std::make_unique<httplib::SSLServer>(cert->leaf.get(), cert->key.get());
    } else {
      server_ = std::make_unique<httplib::Server>();
    }
    if (!server_->is_valid()) throw std::runtime_error("test server: invalid TLS setup");
    add_routes();
    port_ = server_->bind_to_any_port(address);
    if (port_ <= 0) throw std::runtime_error("test server: cannot bind " + address);
    thread_ = std::thread([this] { server_->listen_after_bind(); });
    for (int i = 0; i < 500 && !server_->is_running(); ++i)
      std::this_thread::sleep_for(10ms);
    if (!server_->is_running()) throw std::runtime_error("test server: did not start");
  }
  ~TestServer() {
    server_->stop();
    thread_.join();
  }
  TestServer(const TestServer&) = delete;
  TestServer& operator=(const TestServer&) = delete;

  int port() const { return port_; }

 private:
  void add_routes() {
    // Echoes what the client sent, so that the tests see the wire request.
    auto echo = [](const httplib::Request& req, httplib::Response& res) {
      std::string sni;
      if (req.ssl) {
        const char* name = SSL_get_servername(req.ssl, TLSEXT_NAMETYPE_host_name);
        sni = name ? name : "";
      }
      res.set_header("Replay-Nonce", "nonce-1");
      res.headers.emplace("Link", "<https://ca.test/a>;rel=\"alternate\"");
      res.headers.emplace("Link", "<https://ca.test/b>;rel=\"alternate\"");
      res.set_content(req.method + " " + req.target + "\nhost=" + req.get_header_value("Host") +
                          "\nua=" + req.get_header_value("User-Agent") +
                          "\nx-test=" + req.get_header_value("X-Test") + "\nsni=" + sni +
                          "\ncontent-type=" + req.get_header_value("Content-Type") +
                          "\nbody=" + req.body,
                      "text/plain");
    };
    server_->Get("/echo", echo);
    server_->Post("/echo", echo);
    server_->Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.status = 302;
      res.set_header("Location", "/echo");
      res.set_content("moved", "text/plain");
    });
    // One byte every 300 ms, 20 in all: each read is quick, the whole is slow.
    server_->Get("/drip", [](const httplib::Request&, httplib::Response& res) {
      res.set_chunked_content_provider("text/plain", [](size_t offset, httplib::DataSink& sink) {
        std::this_thread::sleep_for(300ms);
        if (!sink.write("x", 1)) return false;
        if (offset + 1 >= 20) sink.done();
        return true;
      });
    });
    server_->Get("/size/(\\d+)", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(std::string(std::stoul(req.matches[1]), 'x'), "application/octet-stream");
    });
  }

  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

/// A TCP socket that listens and never accepts: the kernel completes the
/// handshake from its backlog, then nothing is ever read or written.
class SilentListener {
 public:
  SilentListener() : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_.get() < 0 || ::bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(fd_.get(), 4) != 0 ||
        ::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      throw std::runtime_error("silent listener: cannot listen on 127.0.0.1");
    }
    port_ = ntohs(addr.sin_port);
  }
  int port() const { return port_; }

 private:
  core::UniqueFd fd_;
  int port_ = 0;
};

class NetworkTransportTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // A server closing first must fail a write, not end the test process
    // (usher itself ignores SIGPIPE the same way, cmd/usher/app.cpp).
    std::signal(SIGPIPE, SIG_IGN);
  }

  NetworkTransport transport(std::string trusted_root,
                             std::chrono::milliseconds timeout = kHttpTimeout) {
    TransportOptions options;
    options.trusted_root_file = std::move(trusted_root);
    options.timeout = timeout;
    return NetworkTransport(std::move(options));
  }

  /// The error message of a request that must fail.
  static std::string error_of(NetworkTransport& t, const HttpRequest& request) {
    try {
      HttpResponse response = t.send(request);
      ADD_FAILURE() << request.url << " answered " << response.status << ": " << response.body;
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "";
  }

  static std::string url(const std::string& host, int port, const std::string& path,
                         const std::string& scheme = "https") {
    return scheme + "://" + host + ":" + std::to_string(port) + path;
  }

  core::SystemClock clock_;
  test_support::ScratchDir trusted_dir_{"usher-transport-trusted"};
  test_support::ScratchDir other_dir_{"usher-transport-other"};
  LocalCa trusted_ca_{trusted_dir_.path().string(), clock_};
  LocalCa other_ca_{other_dir_.path().string(), clock_};
  std::shared_ptr<core::TlsCertificate> good_cert_ =
      trusted_ca_.issue({"localhost", "127.0.0.1", "::1"});
};

TEST_F(NetworkTransportTest, GetReturnsStatusHeadersAndBodyAndSendsSni) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response =
      t.send({"GET", url("localhost", server.port(), "/echo?x=1"), {{"X-Test", "hello"}}, {}});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr("GET /echo?x=1\n"));
  EXPECT_THAT(response.body, HasSubstr("host=localhost:" + std::to_string(server.port()) + "\n"));
  EXPECT_THAT(response.body, HasSubstr("ua=usher-acme\n"));
  EXPECT_THAT(response.body, HasSubstr("x-test=hello\n"));
  EXPECT_THAT(response.body, HasSubstr("sni=localhost\n"));
  EXPECT_EQ(response.header("replay-nonce"), "nonce-1");
  EXPECT_THAT(link_targets(response, "alternate"),
              ElementsAre("https://ca.test/a", "https://ca.test/b"));
}

TEST_F(NetworkTransportTest, HeadReturnsHeadersWithoutBody) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response = t.send({"HEAD", url("127.0.0.1", server.port(), "/echo"), {}, {}});
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.header("Replay-Nonce"), "nonce-1");
  EXPECT_EQ(response.body, "");
}

TEST_F(NetworkTransportTest, PostSendsBodyAndContentType) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response = t.send({"POST",
                                  url("localhost", server.port(), "/echo"),
                                  {{"Content-Type", "application/jose+json"}},
                                  R"({"protected":"e30","payload":"","signature":"c2ln"})"});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr("POST /echo\n"));
  EXPECT_THAT(response.body, HasSubstr("content-type=application/jose+json\n"));
  EXPECT_THAT(response.body,
              HasSubstr(R"(body={"protected":"e30","payload":"","signature":"c2ln"})"));
}

TEST_F(NetworkTransportTest, TheSameTransportServesManyRequests) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.send({"GET", url("localhost", server.port(), "/echo"), {}, {}}).status, 200);
  }
}

TEST_F(NetworkTransportTest, Ipv4LiteralUrlIsCheckedAgainstTheIpAddressEntry) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response = t.send({"GET", url("127.0.0.1", server.port(), "/echo"), {}, {}});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr("host=127.0.0.1:" + std::to_string(server.port()) + "\n"));
}

TEST_F(NetworkTransportTest, Ipv6LiteralUrl) {
  TestServer server("::1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response = t.send({"GET", url("[::1]", server.port(), "/echo"), {}, {}});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr("host=[::1]:" + std::to_string(server.port()) + "\n"));
}

TEST_F(NetworkTransportTest, PlainHttpUrl) {
  TestServer server("127.0.0.1", nullptr);
  auto t = transport("");
  HttpResponse response = t.send({"GET", url("127.0.0.1", server.port(), "/echo", "http"), {}, {}});
  EXPECT_EQ(response.status, 200);
  EXPECT_THAT(response.body, HasSubstr("sni=\n"));
}

TEST_F(NetworkTransportTest, RedirectIsReturnedNotFollowed) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  HttpResponse response = t.send({"GET", url("localhost", server.port(), "/redirect"), {}, {}});
  EXPECT_EQ(response.status, 302);
  EXPECT_EQ(response.header("Location"), "/echo");
  EXPECT_EQ(response.body, "moved");
}

TEST_F(NetworkTransportTest, CertificateFromAnotherRootIsRejected) {
  auto foreign = other_ca_.issue({"localhost", "127.0.0.1"});
  TestServer server("127.0.0.1", foreign.get());
  auto t = transport(trusted_ca_.root_path());
  std::string target = url("localhost", server.port(), "/echo");
  EXPECT_THAT(error_of(t, {"GET", target, {}, {}}),
              AllOf(HasSubstr("GET " + target + ": certificate verify failed"),
                    HasSubstr(trusted_ca_.root_path() + " (acme_ca_root) is not the root")));
}

TEST_F(NetworkTransportTest, SystemTrustStoreRejectsAPrivateRootAndSaysWhatToSet) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport("");
  std::string target = url("localhost", server.port(), "/echo");
  EXPECT_THAT(error_of(t, {"GET", target, {}, {}}),
              AllOf(HasSubstr(target + ": certificate verify failed"),
                    HasSubstr("set acme_ca_root to the CA's root certificate")));
}

TEST_F(NetworkTransportTest, WrongHostNameIsRejected) {
  auto elsewhere = trusted_ca_.issue({"other.test"});
  TestServer server("127.0.0.1", elsewhere.get());
  auto t = transport(trusted_ca_.root_path());
  std::string by_name = url("localhost", server.port(), "/echo");
  EXPECT_THAT(error_of(t, {"GET", by_name, {}, {}}),
              AllOf(HasSubstr(by_name), HasSubstr("hostname mismatch"),
                    HasSubstr("does not cover localhost")));
  std::string by_ip = url("127.0.0.1", server.port(), "/echo");
  EXPECT_THAT(error_of(t, {"GET", by_ip, {}, {}}),
              AllOf(HasSubstr(by_ip), HasSubstr("IP address mismatch")));
}

TEST_F(NetworkTransportTest, MissingTrustedRootFileIsNamed) {
  TestServer server("127.0.0.1", good_cert_.get());
  std::string missing = (trusted_dir_.path() / "no-such-root.pem").string();
  auto t = transport(missing);
  EXPECT_THAT(error_of(t, {"GET", url("localhost", server.port(), "/echo"), {}, {}}),
              AllOf(HasSubstr("cannot read the trusted root file " + missing),
                    HasSubstr("No such file or directory"), HasSubstr("acme_ca_root")));
}

TEST_F(NetworkTransportTest, TrustedRootFileWithoutCertificateIsNamed) {
  TestServer server("127.0.0.1", good_cert_.get());
  std::string junk = (trusted_dir_.path() / "junk.pem").string();
  std::ofstream(junk) << "not a certificate\n";
  auto t = transport(junk);
  EXPECT_THAT(error_of(t, {"GET", url("localhost", server.port(), "/echo"), {}, {}}),
              HasSubstr(junk + " (acme_ca_root) holds no PEM certificate"));
}

TEST_F(NetworkTransportTest, SilentTlsServerTimesOut) {
  SilentListener silent;
  auto t = transport(trusted_ca_.root_path(), kTestTimeout);
  std::string target = url("127.0.0.1", silent.port(), "/dir");
  auto start = std::chrono::steady_clock::now();
  std::string error = error_of(t, {"GET", target, {}, {}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(error, AllOf(HasSubstr(target), HasSubstr("did not finish within 1 s")));
  EXPECT_GE(took, kTestTimeout * 9 / 10);
  EXPECT_LT(took, 5 * kTestTimeout);
}

TEST_F(NetworkTransportTest, SilentHttpServerTimesOut) {
  SilentListener silent;
  auto t = transport("", kTestTimeout);
  std::string target = url("127.0.0.1", silent.port(), "/dir", "http");
  auto start = std::chrono::steady_clock::now();
  std::string error = error_of(t, {"GET", target, {}, {}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(error, AllOf(HasSubstr(target), HasSubstr("no response within 1 s")));
  EXPECT_GE(took, kTestTimeout * 9 / 10);
  EXPECT_LT(took, 5 * kTestTimeout);
}

TEST_F(NetworkTransportTest, SlowBodyStopsAtTheDeadline) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path(), kTestTimeout);
  std::string target = url("localhost", server.port(), "/drip");
  auto start = std::chrono::steady_clock::now();
  std::string error = error_of(t, {"GET", target, {}, {}});
  auto took = std::chrono::steady_clock::now() - start;
  EXPECT_THAT(error, AllOf(HasSubstr(target), HasSubstr("the response took longer than 1 s")));
  EXPECT_LT(took, 3 * kTestTimeout);  // 20 bytes at 300 ms each would take 6 s
}

TEST_F(NetworkTransportTest, NothingListeningIsAConnectError) {
  int port;
  {
    SilentListener closed_soon;
    port = closed_soon.port();
  }
  auto t = transport("");
  std::string target = url("127.0.0.1", port, "/dir", "http");
  EXPECT_THAT(error_of(t, {"GET", target, {}, {}}),
              AllOf(HasSubstr(target), HasSubstr("cannot connect to 127.0.0.1:")));
}

TEST_F(NetworkTransportTest, BodyUpToTheLimitArrivesWhole) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  std::string path = "/size/" + std::to_string(kMaxResponseBytes);
  HttpResponse response = t.send({"GET", url("localhost", server.port(), path), {}, {}});
  EXPECT_EQ(response.body.size(), kMaxResponseBytes);
}

TEST_F(NetworkTransportTest, OversizedBodyIsCutOffWithAnError) {
  TestServer server("127.0.0.1", good_cert_.get());
  auto t = transport(trusted_ca_.root_path());
  std::string target =
      url("localhost", server.port(), "/size/" + std::to_string(kMaxResponseBytes + 1));
  EXPECT_THAT(error_of(t, {"GET", target, {}, {}}),
              AllOf(HasSubstr(target), HasSubstr("response larger than 1024 KiB, cut off")));
}

TEST_F(NetworkTransportTest, BadUrlIsRejectedBeforeConnecting) {
  auto t = transport("");
  EXPECT_THAT(error_of(t, {"GET", "ftp://ca.test/dir", {}, {}}),
              HasSubstr("GET ftp://ca.test/dir: bad URL ftp://ca.test/dir: only https:// and "
                        "http:// URLs are supported"));
}

TEST(ParseHttpUrl, SplitsSchemeHostPortAndTarget) {
  HttpUrl a = parse_http_url("https://acme-v02.api.letsencrypt.org/directory");
  EXPECT_TRUE(a.tls);
  EXPECT_EQ(a.host, "acme-v02.api.letsencrypt.org");
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.target, "/directory");

  HttpUrl b = parse_http_url("http://127.0.0.1:8055/add-a?x=1#frag");
  EXPECT_FALSE(b.tls);
  EXPECT_EQ(b.host, "127.0.0.1");
  EXPECT_EQ(b.port, 8055);
  EXPECT_EQ(b.target, "/add-a?x=1");

  HttpUrl c = parse_http_url("HTTPS://[::1]:14000");
  EXPECT_TRUE(c.tls);
  EXPECT_EQ(c.host, "::1");
  EXPECT_EQ(c.port, 14000);
  EXPECT_EQ(c.target, "/");

  EXPECT_EQ(parse_http_url("http://h?q").target, "/?q");
  EXPECT_EQ(parse_http_url("http://[fe80::1]/x").port, 80);
}

TEST(ParseHttpUrl, RejectsWhatItCannotUse) {
  auto error = [](std::string_view url) {
    try {
      parse_http_url(url);
    } catch (const std::runtime_error& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_THAT(error("ca.test/dir"), HasSubstr("only https:// and http://"));
  EXPECT_THAT(error("https://user@ca.test/"), HasSubstr("user info"));
  EXPECT_THAT(error("https://ca.test:0/"), HasSubstr("port must be a number from 1 to 65535"));
  EXPECT_THAT(error("https://ca.test:65536/"), HasSubstr("port must be"));
  EXPECT_THAT(error("https://ca.test:80x/"), HasSubstr("port must be"));
  EXPECT_THAT(error("https://:443/"), HasSubstr("no host"));
  EXPECT_THAT(error("https://[::1/"), HasSubstr("unclosed ["));
  EXPECT_THAT(error("https://[nope]/"), HasSubstr("not an IPv6 address"));
  EXPECT_THAT(error("https://[::1]x/"), HasSubstr("junk after ]"));
}

}  // namespace
}  // namespace usher::acme
