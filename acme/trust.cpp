#include "acme/trust.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <spawn.h>
#include <sys/wait.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/atomic_file.h"
#include "core/openssl.h"

extern char** environ;

namespace usher::acme {

namespace {

// Trust stores are world-readable: every program on the machine reads them.
constexpr mode_t kTrustStoreFileMode = 0644;

core::X509Ptr parse_root(const std::string& pem, const std::string& path) {
  core::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  core::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert)
    throw std::runtime_error(path + ": no certificate found: " + core::openssl_error_text());
  return cert;
}

// Runs `command` without a shell (the path is not ours to quote) and waits.
void run_command(const std::string& command) {
  std::vector<char> program(command.begin(), command.end());
  program.push_back('\0');
  std::array<char*, 2> argv{program.data(), nullptr};
  pid_t pid = 0;
  int error = posix_spawnp(&pid, program.data(), nullptr, nullptr, argv.data(), environ);
  if (error != 0) throw std::runtime_error("running " + command + ": " + std::strerror(error));
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR)
      throw std::runtime_error("waiting for " + command + ": " + std::strerror(errno));
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    throw std::runtime_error(command + " failed (status " + std::to_string(status) + ")");
  }
}

}  // namespace

std::string install_root_in_system_store(const std::string& root_pem_path,
                                         const TrustStore& store) {
  std::string pem = core::read_file(root_pem_path);
  auto root = parse_root(pem, root_pem_path);
  std::string target = store.directory + "/" + store.file_name;
  core::write_file_atomically(target, pem, kTrustStoreFileMode);
  run_command(store.update_command);
  return "installed the local CA root " + root_pem_path + " as " + target +
         "\nSHA-256 fingerprint: " + certificate_fingerprint_sha256(root.get());
}

std::string certificate_fingerprint_sha256(X509* cert) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (X509_digest(cert, EVP_sha256(), digest.data(), &length) != 1) {
    throw std::runtime_error("computing a certificate fingerprint: " + core::openssl_error_text());
  }
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned int i = 0; i < length; ++i) {
    if (i > 0) out += ':';
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0x0f];
  }
  return out;
}

}  // namespace usher::acme
