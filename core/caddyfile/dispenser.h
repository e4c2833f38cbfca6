#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/caddyfile/token.h"
#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// A cursor over the tokens of one segment (a directive, its arguments and
/// its block), shaped like Caddy's Dispenser. The cursor starts before the
/// first token; next() lands on it. Brace nesting is tracked as the cursor
/// moves, so a parse function that ignores a nested block cannot confuse the
/// one that called it. Errors carry the file and line of the current token.
class Dispenser {
 public:
  /// `sink` receives the diagnostics that block parsers report while going on
  /// past a bad line; it may be null when nothing reports through it.
  explicit Dispenser(std::vector<Token> tokens, Diagnostics* sink = nullptr);

  /// Moves to the next token wherever it is; false at the end.
  bool next();
  /// Moves back one token; false at the start.
  bool prev();
  /// Moves to the next token only if it is an argument on the same logical
  /// line (not a brace); false otherwise, leaving the cursor where it was.
  bool next_arg();
  /// Iterates the lines of a block: call as
  /// `for (int n = d.nesting(); d.next_block(n);)`. The first call enters the
  /// block when a `{` follows on the same line; each call lands on the first
  /// token of the next line at the block's own depth (skipping whatever the
  /// previous line left unread, nested blocks included); false at the `}`.
  bool next_block(int initial_nesting);
  /// The depth of braces the cursor is in (0 outside any block).
  int nesting() const { return nesting_; }

  /// The text of the current token.
  const std::string& val() const { return token().text; }
  /// The current token (the first one before next(), the last one at the end).
  const Token& token() const;
  /// True when the cursor is before the first token.
  bool at_start() const { return cursor_ < 0; }

  /// The remaining arguments on the current line, consumed.
  std::vector<std::string> remaining_args();
  /// Like remaining_args() but keeps each token (for file:line and quoting).
  std::vector<Token> remaining_arg_tokens();
  /// How many arguments remain on the current line, without consuming them.
  int count_remaining_args() const;
  /// True when the next token is a `{` on the current line.
  bool next_is_block_open() const;
  /// The tokens from the current one to the end of its line, including the
  /// block that line opens; the cursor ends on the last of them.
  std::vector<Token> next_segment();

  /// An error at the current token, to throw.
  ConfigError error(std::string message, std::string hint = {}) const;
  /// An error at `at`, to throw.
  static ConfigError error_at(const Token& at, std::string message, std::string hint = {});
  /// Records an error without stopping (block parsers going on past a bad
  /// line); without a sink it is thrown instead.
  void report(const ConfigError& e) const;
  Diagnostics* sink() const { return sink_; }

 private:
  bool is_line_start(int index) const;
  bool same_line_arg(int index) const;

  std::vector<Token> tokens_;
  Diagnostics* sink_;
  int cursor_ = -1;
  int nesting_ = 0;
};

}  // namespace usher::core::caddyfile
