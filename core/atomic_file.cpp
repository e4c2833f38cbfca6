#include "core/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace usher::core {

namespace {

constexpr mode_t kPrivateDirectoryMode = 0700;

[[noreturn]] void throw_errno(const std::string& action, const std::string& path, int error) {
  throw std::runtime_error(action + " " + path + ": " + std::strerror(error));
}

// Closes a descriptor on every path out of a function.
class FileDescriptor {
 public:
  explicit FileDescriptor(int fd) : fd_(fd) {}
  ~FileDescriptor() {
    if (fd_ >= 0) ::close(fd_);
  }
  FileDescriptor(const FileDescriptor&) = delete;
  FileDescriptor& operator=(const FileDescriptor&) = delete;
  int get() const { return fd_; }
  // Closes now so that a failing close (delayed write errors on NFS) is seen.
  int close_now() {
    int result = ::close(fd_);
    fd_ = -1;
    return result;
  }

 private:
  int fd_;
};

void write_all(int fd, std::string_view bytes, const std::string& path) {
  while (!bytes.empty()) {
    ssize_t written = ::write(fd, bytes.data(), bytes.size());
    if (written < 0) {
      if (errno == EINTR) continue;
      throw_errno("writing", path, errno);
    }
    bytes.remove_prefix(static_cast<size_t>(written));
  }
}

// Fsyncs a directory so that a rename into it survives a power cut.
void sync_directory(const std::string& directory) {
  FileDescriptor fd(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) throw_errno("opening directory", directory, errno);
  if (::fsync(fd.get()) != 0) throw_errno("syncing directory", directory, errno);
}

std::string parent_directory(const std::string& path) {
  auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? std::string(".") : parent.string();
}

// Writes the temporary copy; returns its path. Removes it again on failure.
std::string write_temporary(const std::string& path, std::string_view bytes, mode_t mode) {
  std::string temp = path + ".tmp.XXXXXX";
  std::vector<char> name(temp.begin(), temp.end());
  name.push_back('\0');
  FileDescriptor fd(::mkostemp(name.data(), O_CLOEXEC));
  if (fd.get() < 0) throw_errno("creating a temporary file for", path, errno);
  temp.assign(name.data());
  try {
    if (::fchmod(fd.get(), mode) != 0) throw_errno("setting the mode of", temp, errno);
    write_all(fd.get(), bytes, temp);
    if (::fsync(fd.get()) != 0) throw_errno("syncing", temp, errno);
    if (fd.close_now() != 0) throw_errno("closing", temp, errno);
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  return temp;
}

}  // namespace

void write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode) {
  std::string temp = write_temporary(path, bytes, mode);
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int error = errno;
    ::unlink(temp.c_str());
    throw_errno("replacing", path, error);
  }
  sync_directory(parent_directory(path));
}

void ensure_private_directory(const std::string& path) {
  if (path.empty()) throw std::runtime_error("creating a directory: empty path");
  std::filesystem::path current;
  for (const auto& part : std::filesystem::path(path)) {
    current /= part;
    if (::mkdir(current.c_str(), kPrivateDirectoryMode) == 0) {
      // The umask may have cleared bits we asked for; 0700 has nothing it
      // could widen, but make the mode exact rather than umask-dependent.
      ::chmod(current.c_str(), kPrivateDirectoryMode);
      continue;
    }
    if (errno != EEXIST) throw_errno("creating directory", current.string(), errno);
  }
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw_errno("creating directory", path, errno);
  if (!S_ISDIR(info.st_mode))
    throw std::runtime_error("creating directory " + path + ": not a directory");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_errno("reading", path, errno);
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw_errno("reading", path, errno);
  return content.str();
}

}  // namespace usher::core
