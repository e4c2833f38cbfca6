#include "core/caddyfile/dispenser.h"

#include <utility>

namespace usher::core::caddyfile {

Dispenser::Dispenser(std::vector<Token> tokens, Diagnostics* sink)
    : tokens_(std::move(tokens)), sink_(sink) {}

// A token starts a line when the lexer says so, and also right after a `{`
// or `}`: usher accepts one-line blocks (`handle { respond hi }`), whose
// inner directives share the physical line with their braces.
bool Dispenser::is_line_start(int index) const {
  if (index <= 0) return true;
  const Token& t = tokens_[static_cast<size_t>(index)];
  const Token& before = tokens_[static_cast<size_t>(index - 1)];
  return t.new_line || before.is_open_brace() || before.is_close_brace();
}

bool Dispenser::same_line_arg(int index) const {
  if (index < 0 || static_cast<size_t>(index) >= tokens_.size()) return false;
  const Token& t = tokens_[static_cast<size_t>(index)];
  return !is_line_start(index) && !t.is_open_brace() && !t.is_close_brace();
}

bool Dispenser::next() {
  if (static_cast<size_t>(cursor_ + 1) >= tokens_.size()) return false;
  ++cursor_;
  if (token().is_open_brace()) ++nesting_;
  if (token().is_close_brace()) --nesting_;
  return true;
}

bool Dispenser::prev() {
  if (cursor_ < 0) return false;
  if (token().is_open_brace()) --nesting_;
  if (token().is_close_brace()) ++nesting_;
  --cursor_;
  return true;
}

bool Dispenser::next_arg() {
  if (!same_line_arg(cursor_ + 1)) return false;
  return next();
}

bool Dispenser::next_is_block_open() const {
  const int index = cursor_ + 1;
  if (static_cast<size_t>(index) >= tokens_.size() || is_line_start(index)) return false;
  return tokens_[static_cast<size_t>(index)].is_open_brace();
}

bool Dispenser::next_block(int initial_nesting) {
  if (nesting_ == initial_nesting) {
    if (!next_is_block_open()) return false;
    next();  // onto the `{`
  }
  if (nesting_ <= initial_nesting) return false;
  while (next()) {
    if (nesting_ == initial_nesting) return false;  // the block's own `}`
    if (nesting_ == initial_nesting + 1 && is_line_start(cursor_) && !token().is_open_brace() &&
        !token().is_close_brace())
      return true;
  }
  return false;
}

const Token& Dispenser::token() const {
  static const Token kNoToken{};
  if (tokens_.empty()) return kNoToken;
  if (cursor_ < 0) return tokens_.front();
  return tokens_[static_cast<size_t>(cursor_)];
}

std::vector<std::string> Dispenser::remaining_args() {
  std::vector<std::string> out;
  while (next_arg())
    out.push_back(val());
  return out;
}

std::vector<Token> Dispenser::remaining_arg_tokens() {
  std::vector<Token> out;
  while (next_arg())
    out.push_back(token());
  return out;
}

int Dispenser::count_remaining_args() const {
  int count = 0;
  while (same_line_arg(cursor_ + 1 + count))
    ++count;
  return count;
}

std::vector<Token> Dispenser::next_segment() {
  std::vector<Token> out;
  if (tokens_.empty()) return out;
  if (cursor_ < 0) next();
  const int base = nesting_;
  out.push_back(token());
  while (static_cast<size_t>(cursor_ + 1) < tokens_.size()) {
    const Token& ahead = tokens_[static_cast<size_t>(cursor_ + 1)];
    // On the first line, stop at the next line or at the enclosing `}`.
    if (nesting_ == base && (is_line_start(cursor_ + 1) || ahead.is_close_brace())) break;
    next();
    out.push_back(token());
    if (nesting_ == base && token().is_close_brace()) break;  // our block ended
  }
  return out;
}

ConfigError Dispenser::error(std::string message, std::string hint) const {
  return error_at(token(), std::move(message), std::move(hint));
}

ConfigError Dispenser::error_at(const Token& at, std::string message, std::string hint) {
  return ConfigError(at.file, at.line, std::move(message), std::move(hint));
}

void Dispenser::report(const ConfigError& e) const {
  if (sink_ == nullptr) throw e;
  sink_->append(e.diagnostics());
}

}  // namespace usher::core::caddyfile
