#include "acme/storage.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>
#include <stdexcept>

#include "acme/local_certificates.h"
#include "acme/timestamp.h"
#include "core/atomic_file.h"

namespace usher::acme {

namespace {

namespace fs = std::filesystem;

constexpr mode_t kPrivateFileMode = 0600;

// Keys are relative paths without `..`: a name from a config must never
// reach outside the data directory.
void check_key(const std::string& key) {
  if (key.empty() || key.front() == '/' || key.find("..") != std::string::npos ||
      key.find('\0') != std::string::npos) {
    throw std::runtime_error("invalid storage key " + key);
  }
}

std::string random_owner() {
  std::random_device device;
  return std::to_string(::getpid()) + "-" + std::to_string(device()) + std::to_string(device());
}

// A lock file holds "<owner>\n<expiry>\n".
struct LockContent {
  std::string owner;
  std::optional<std::chrono::system_clock::time_point> expires;
};

LockContent parse_lock(const std::string& text) {
  LockContent content;
  auto newline = text.find('\n');
  content.owner = text.substr(0, newline);
  if (newline != std::string::npos) {
    std::string rest = text.substr(newline + 1);
    if (!rest.empty() && rest.back() == '\n') rest.pop_back();
    content.expires = parse_rfc3339(rest);
  }
  return content;
}

}  // namespace

FileStorage::FileStorage(std::string root, const core::Clock& clock)
    : root_(std::move(root)), clock_(clock), owner_(random_owner()) {}

std::string FileStorage::path_of(const std::string& key) const {
  check_key(key);
  return root_ + "/" + key;
}

std::string FileStorage::lock_path(const std::string& name) const {
  return path_of("locks/" + storage_name(name) + ".lock");
}

std::optional<std::string> FileStorage::get(const std::string& key) const {
  std::string path = path_of(key);
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return std::nullopt;
  return core::read_file(path);
}

void FileStorage::put(const std::string& key, std::string_view value) {
  std::string path = path_of(key);
  core::ensure_private_directory(fs::path(path).parent_path().string());
  core::write_file_atomically(path, value, kPrivateFileMode);
}

std::vector<std::string> FileStorage::list(const std::string& prefix) const {
  std::vector<std::string> keys;
  std::string base = root_ + "/" + prefix;
  std::error_code ec;
  if (!fs::is_directory(base, ec)) return keys;
  for (auto it = fs::recursive_directory_iterator(base, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::string path = it->path().string();
    std::string key = path.substr(root_.size() + 1);
    if (key.find(".tmp") != std::string::npos) continue;  // a write in progress
    keys.push_back(std::move(key));
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

void FileStorage::remove(const std::string& key) {
  std::string path = path_of(key);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
    throw std::runtime_error("removing " + path + ": " + std::strerror(errno));
  }
}

bool FileStorage::try_lock(const std::string& name, std::chrono::seconds ttl) {
  std::string path = lock_path(name);
  core::ensure_private_directory(fs::path(path).parent_path().string());
  std::string content = owner_ + "\n" + format_rfc3339(clock_.now() + ttl) + "\n";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, kPrivateFileMode);
  if (fd >= 0) {
    bool written =
        ::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size());
    ::fsync(fd);
    ::close(fd);
    if (!written) throw std::runtime_error("writing lock " + path);
    return true;
  }
  if (errno != EEXIST)
    throw std::runtime_error("creating lock " + path + ": " + std::strerror(errno));
  LockContent held = parse_lock(get("locks/" + storage_name(name) + ".lock").value_or(""));
  if (held.owner == owner_) {
    core::write_file_atomically(path, content, kPrivateFileMode);  // extend our own lock
    return true;
  }
  if (held.expires && *held.expires > clock_.now()) return false;
  // Expired (or unreadable): its holder died. Take it over, then read it back
  // so that of two processes racing for it only the last writer proceeds.
  core::write_file_atomically(path, content, kPrivateFileMode);
  return parse_lock(core::read_file(path)).owner == owner_;
}

void FileStorage::unlock(const std::string& name) {
  auto text = get("locks/" + storage_name(name) + ".lock");
  if (text && parse_lock(*text).owner == owner_) remove("locks/" + storage_name(name) + ".lock");
}

}  // namespace usher::acme
