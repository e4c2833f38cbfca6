#include "acme/local_certificates.h"

#include <openssl/err.h>
#include <sys/stat.h>

#include <cctype>
#include <stdexcept>

#include "core/atomic_file.h"

namespace usher::acme {

namespace {

using TimePoint = std::chrono::system_clock::time_point;

constexpr mode_t kKeyFileMode = 0600;
constexpr mode_t kCertificateFileMode = 0600;
// Below this lifetime a third leaves too little room to retry (design.md §4).
constexpr std::chrono::hours kShortLifetime{24 * 10};

bool file_exists(const std::string& path) {
  struct stat info {};
  return ::stat(path.c_str(), &info) == 0;
}

bool is_ip_address(const std::string& name) {
  ASN1_OCTET_STRING* ip = a2i_IPADDRESS(name.c_str());
  ERR_clear_error();
  ASN1_OCTET_STRING_free(ip);
  return ip != nullptr;
}

}  // namespace

bool renewal_due(TimePoint not_before, TimePoint not_after, TimePoint now) {
  auto lifetime = not_after - not_before;
  auto remaining = not_after - now;
  auto threshold = lifetime < kShortLifetime ? lifetime / 2 : lifetime / 3;
  return remaining <= threshold;
}

std::string storage_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    auto u = static_cast<unsigned char>(c);
    if (c == '*') {
      out += "wildcard_";
    } else if (std::isalnum(u) || c == '-' || c == '_' ||
               (c == '.' && !out.empty() && out.back() != '.')) {
      out += static_cast<char>(std::tolower(u));
    } else {
      out += '_';  // ':' of IPv6, '/' and anything else a path must not see
    }
  }
  if (out.empty() || out == ".") return "_";
  return out;
}

LocalCertificateManager::LocalCertificateManager(const std::string& data_dir,
                                                 std::vector<std::string> local_names,
                                                 const std::vector<FileCertificate>& files,
                                                 const core::Clock& clock)
    : directory_(data_dir + "/certificates/local"),
      clock_(clock),
      ca_(data_dir, clock),
      local_names_(std::move(local_names)) {
  for (const auto& file : files) {
    files_.emplace_back(file.name, core::load_tls_certificate_files(file.cert_file, file.key_file));
  }
  for (const auto& name : local_names_)
    local_[name] = load_or_issue(name);
  publish();
}

LocalCertificateManager::~LocalCertificateManager() {
  stop();
}

std::shared_ptr<const core::CertificateSet> LocalCertificateManager::certificates() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

LocalCertificateManager::CertificatePtr LocalCertificateManager::load_or_issue(
    const std::string& name) const {
  if (auto stored = load_stored(name)) return stored;
  return issue_and_store(name);
}

// A stored leaf is reused when it is readable, still signed by the current
// root (the root may have been replaced) and not yet due for renewal.
LocalCertificateManager::CertificatePtr LocalCertificateManager::load_stored(
    const std::string& name) const {
  std::string base = directory_ + "/" + storage_name(name) + "/" + storage_name(name);
  if (!file_exists(base + ".crt") || !file_exists(base + ".key")) return nullptr;
  std::shared_ptr<core::TlsCertificate> cert;
  try {
    cert = core::load_tls_certificate_files(base + ".crt", base + ".key");
  } catch (const std::runtime_error&) {
    return nullptr;  // damaged storage heals by issuing again
  }
  bool ours = X509_verify(cert->leaf.get(), X509_get0_pubkey(ca_.root())) == 1;
  ERR_clear_error();
  if (!ours || renewal_due(cert->not_before, cert->not_after, clock_.now())) return nullptr;
  cert->issuer = "local";
  return cert;
}

LocalCertificateManager::CertificatePtr LocalCertificateManager::issue_and_store(
    const std::string& name) const {
  auto cert = ca_.issue({name});
  std::string directory = directory_ + "/" + storage_name(name);
  std::string base = directory + "/" + storage_name(name);
  core::ensure_private_directory(directory);
  // Key first: a crash between the writes leaves a certificate that does
  // not match its key, which load_stored() rejects and replaces.
  core::write_file_atomically(base + ".key", to_pem(cert->key.get()), kKeyFileMode);
  core::write_file_atomically(base + ".crt", to_pem(cert->leaf.get()), kCertificateFileMode);
  return cert;
}

void LocalCertificateManager::publish() {
  auto set = std::make_shared<core::CertificateSet>();
  for (const auto& [name, cert] : local_) {
    set->add(name, cert);
    // A client that connects to an IP address sends no SNI; the first IP
    // certificate answers it.
    if (!set->fallback() && is_ip_address(name)) set->set_fallback(cert);
  }
  for (const auto& [name, cert] : files_)
    set->add(name, cert);
  {
    std::lock_guard lock(snapshot_mutex_);
    snapshot_ = std::move(set);
  }
  if (on_publish_) on_publish_();
}

size_t LocalCertificateManager::maintain() {
  std::lock_guard lock(maintain_mutex_);
  size_t renewed = 0;
  std::string first_error;
  for (auto& [name, cert] : local_) {
    if (!renewal_due(cert->not_before, cert->not_after, clock_.now())) continue;
    try {
      cert = issue_and_store(name);
      ++renewed;
    } catch (const std::exception& e) {
      if (first_error.empty()) first_error = "renewing " + name + ": " + e.what();
    }
  }
  if (renewed > 0) publish();
  if (!first_error.empty()) throw std::runtime_error(first_error);
  return renewed;
}

void LocalCertificateManager::start(std::chrono::milliseconds interval) {
  std::lock_guard lock(thread_mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this, interval] { run(interval); });
}

void LocalCertificateManager::stop() {
  {
    std::lock_guard lock(thread_mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void LocalCertificateManager::run(std::chrono::milliseconds interval) {
  std::unique_lock lock(thread_mutex_);
  while (!wake_.wait_for(lock, interval, [this] { return stopping_; })) {
    lock.unlock();
    try {
      maintain();
    } catch (const std::exception& e) {
      if (on_error_) on_error_(e.what());
    }
    lock.lock();
  }
}

}  // namespace usher::acme
