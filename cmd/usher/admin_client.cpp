#include "cmd/usher/admin_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/unique_fd.h"

namespace usher::cmd {

namespace {

// Bounds what a reply may cost the CLI (a status of thousands of sites is
// far below it).
constexpr size_t kMaxResponseBytes = 64 * 1024 * 1024;

[[noreturn]] void unreachable(const AdminAddress& address, int error) {
  throw AdminUnreachable("no usher admin API answers at " + address.str() + ": " +
                         std::strerror(error));
}

int connect_to(const AdminAddress& address, std::chrono::seconds timeout) {
  sockaddr_storage storage{};
  const socklen_t length = socket_address(address, storage);
  if (length == 0) unreachable(address, ENAMETOOLONG);
  int fd = ::socket(storage.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) unreachable(address, errno);
  timeval tv{};
  tv.tv_sec = timeout.count();
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&storage), length) != 0) {
    int error = errno;
    ::close(fd);
    unreachable(address, error);
  }
  return fd;
}

void send_all(int fd, std::string_view data, const AdminAddress& address) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) unreachable(address, n < 0 ? errno : EPIPE);
    data.remove_prefix(static_cast<size_t>(n));
  }
}

std::string receive_all(int fd, const AdminAddress& address) {
  std::string data;
  char buffer[16 * 1024];
  for (;;) {
    ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) unreachable(address, errno);
    if (n == 0) return data;
    data.append(buffer, static_cast<size_t>(n));
    if (data.size() > kMaxResponseBytes)
      throw std::runtime_error("the admin API at " + address.str() + " sent more than 64 MiB");
  }
}

std::string lower(std::string text) {
  for (char& c : text)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return text;
}

/// Parses a complete HTTP/1.1 response read until the server closed.
AdminResponse parse_response(const std::string& data, const AdminAddress& address) {
  auto garbled = [&] {
    return std::runtime_error("the admin API at " + address.str() + " sent a garbled response");
  };
  auto head_end = data.find("\r\n\r\n");
  if (!data.starts_with("HTTP/1.") || head_end == std::string::npos || data.size() < 12)
    throw garbled();
  AdminResponse response;
  response.status = std::atoi(data.c_str() + 9);
  size_t content_length = std::string::npos;
  size_t line = data.find("\r\n") + 2;
  while (line < head_end) {
    size_t end = data.find("\r\n", line);
    std::string field = data.substr(line, end - line);
    auto colon = field.find(':');
    if (colon != std::string::npos) {
      std::string name = lower(field.substr(0, colon));
      std::string value = field.substr(field.find_first_not_of(' ', colon + 1));
      if (name == "content-length") content_length = std::stoul(value);
      if (name == "content-type") response.content_type = value;
    }
    line = end + 2;
  }
  response.body = data.substr(head_end + 4);
  if (content_length != std::string::npos) {
    if (response.body.size() < content_length) throw garbled();
    response.body.resize(content_length);
  }
  return response;
}

}  // namespace

AdminResponse admin_request(const AdminAddress& address, std::string_view method,
                            std::string_view target, std::string_view body,
                            std::string_view content_type, std::chrono::seconds timeout) {
  core::UniqueFd fd(connect_to(address, timeout));
  std::string request = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n" +
                        "Host: " + address.host_header() + "\r\n" +
                        "Connection: close\r\nUser-Agent: usher-cli\r\n";
  if (!content_type.empty()) request += "Content-Type: " + std::string(content_type) + "\r\n";
  if (method == "POST") request += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  request += "\r\n";
  request += body;
  send_all(fd.get(), request, address);
  return parse_response(receive_all(fd.get(), address), address);
}

}  // namespace usher::cmd
