#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace usher::core {

/// One problem found in a configuration, with the place it was found.
/// Rendered as `file:line: message; hint` (hint only when there is one), e.g.
/// `Caddyfile:3: unknown directive `reverse_prox`; did you mean `reverse_proxy`?`
struct Diagnostic {
  enum class Severity { kError, kWarning };

  Severity severity = Severity::kError;
  std::string file;     // as the user named it (relative paths stay relative)
  int line = 0;         // 1-based; 0 when the problem has no single line
  std::string message;  // lowercase, no trailing period; names the offending token
  std::string hint;     // a likely fix, or empty

  /// The one-line rendering described above.
  std::string str() const;

  bool is_error() const { return severity == Severity::kError; }
};

/// Collects every diagnostic of one load, so that `usher validate` can report
/// all errors in a file rather than stopping at the first.
class Diagnostics {
 public:
  void error(std::string file, int line, std::string message, std::string hint = {});
  void warning(std::string file, int line, std::string message, std::string hint = {});
  /// Adds `d` unless the very same diagnostic is already there.
  void add(Diagnostic d);
  void append(const Diagnostics& other);

  bool has_errors() const;
  size_t error_count() const;
  const std::vector<Diagnostic>& items() const { return items_; }
  /// Every diagnostic, one per line, errors and warnings in the order found.
  std::string str() const;

 private:
  std::vector<Diagnostic> items_;
};

/// Thrown by the control plane (config loading, CLI) when a configuration
/// cannot be used; carries every diagnostic found so far.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(Diagnostics diagnostics);
  ConfigError(std::string file, int line, std::string message, std::string hint = {});

  const Diagnostics& diagnostics() const { return diagnostics_; }

 private:
  Diagnostics diagnostics_;
};

}  // namespace usher::core
