#pragma once

// Where certificates, keys, accounts and their state live (design.md §4):
// an interface so that several usher instances can later share one store;
// the file system under the data directory is the embedded default.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/clock.h"

namespace usher::acme {

/// A key-value store of small private blobs with expiring locks. Keys are
/// relative paths ("certificates/<ca>/<name>/<name>.crt"). Implementations
/// are thread-safe. Errors throw std::runtime_error naming the key.
class Storage {
 public:
  virtual ~Storage() = default;
  /// The value of `key`; nullopt when absent.
  virtual std::optional<std::string> get(const std::string& key) const = 0;
  /// Stores `value` durably and atomically, readable by the owner only.
  virtual void put(const std::string& key, std::string_view value) = 0;
  /// Every key that starts with `prefix` (a directory-like prefix ending in
  /// '/'), sorted.
  virtual std::vector<std::string> list(const std::string& prefix) const = 0;
  /// Removes `key` (absent is fine).
  virtual void remove(const std::string& key) = 0;
  /// Takes lock `name` until now + `ttl` unless someone else holds an
  /// unexpired one; true when taken. An expired lock (its holder crashed)
  /// is taken over.
  virtual bool try_lock(const std::string& name, std::chrono::seconds ttl) = 0;
  /// Releases a lock this instance holds (someone else's is left alone).
  virtual void unlock(const std::string& name) = 0;
};

/// Storage in a directory: directories 0700, files 0600, every write atomic
/// (core::write_file_atomically), locks as files under `locks/` holding
/// their owner and expiry.
class FileStorage final : public Storage {
 public:
  FileStorage(std::string root, const core::Clock& clock);

  std::optional<std::string> get(const std::string& key) const override;
  void put(const std::string& key, std::string_view value) override;
  std::vector<std::string> list(const std::string& prefix) const override;
  void remove(const std::string& key) override;
  bool try_lock(const std::string& name, std::chrono::seconds ttl) override;
  void unlock(const std::string& name) override;

  const std::string& root() const { return root_; }

 private:
  std::string path_of(const std::string& key) const;
  std::string lock_path(const std::string& name) const;

  std::string root_;
  const core::Clock& clock_;
  std::string owner_;  // unique per instance: pid and random bits
};

}  // namespace usher::acme
