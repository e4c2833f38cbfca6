#include "acme/nonce_pool.h"

namespace usher::acme {

void NoncePool::add(std::string nonce) {
  if (nonce.empty()) return;
  std::lock_guard lock(mutex_);
  nonces_.push_front(std::move(nonce));
  if (nonces_.size() > kMaxPooledNonces) nonces_.pop_back();
}

std::optional<std::string> NoncePool::take() {
  std::lock_guard lock(mutex_);
  if (nonces_.empty()) return std::nullopt;
  std::string nonce = std::move(nonces_.front());
  nonces_.pop_front();
  return nonce;
}

size_t NoncePool::size() const {
  std::lock_guard lock(mutex_);
  return nonces_.size();
}

}  // namespace usher::acme
