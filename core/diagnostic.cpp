#include "core/diagnostic.h"

#include <algorithm>

namespace usher::core {

std::string Diagnostic::str() const {
  std::string out;
  if (!file.empty()) {
    out += file;
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  }
  if (severity == Severity::kWarning) out += "warning: ";
  out += message;
  if (!hint.empty()) out += "; " + hint;
  return out;
}

void Diagnostics::add(Diagnostic d) {
  // A snippet imported twice would otherwise report each of its problems
  // twice, word for word.
  bool seen = std::any_of(items_.begin(), items_.end(), [&](const Diagnostic& other) {
    return other.severity == d.severity && other.line == d.line && other.file == d.file &&
           other.message == d.message && other.hint == d.hint;
  });
  if (!seen) items_.push_back(std::move(d));
}

void Diagnostics::error(std::string file, int line, std::string message, std::string hint) {
  add({Diagnostic::Severity::kError, std::move(file), line, std::move(message), std::move(hint)});
}

void Diagnostics::warning(std::string file, int line, std::string message, std::string hint) {
  add({Diagnostic::Severity::kWarning, std::move(file), line, std::move(message), std::move(hint)});
}

void Diagnostics::append(const Diagnostics& other) {
  for (const auto& d : other.items_)
    add(d);
}

bool Diagnostics::has_errors() const {
  return error_count() > 0;
}

size_t Diagnostics::error_count() const {
  return static_cast<size_t>(
      std::count_if(items_.begin(), items_.end(), [](const auto& d) { return d.is_error(); }));
}

std::string Diagnostics::str() const {
  std::string out;
  for (const auto& d : items_)
    out += d.str() + "\n";
  return out;
}

namespace {
std::string first_error_text(const Diagnostics& d) {
  for (const auto& item : d.items())
    if (item.is_error()) return item.str();
  return "invalid configuration";
}
}  // namespace

ConfigError::ConfigError(Diagnostics diagnostics)
    : std::runtime_error(first_error_text(diagnostics)), diagnostics_(std::move(diagnostics)) {}

ConfigError::ConfigError(std::string file, int line, std::string message, std::string hint)
    : ConfigError([&] {
        Diagnostics d;
        d.error(std::move(file), line, std::move(message), std::move(hint));
        return d;
      }()) {}

}  // namespace usher::core
