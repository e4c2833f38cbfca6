#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/caddyfile/token.h"
#include "core/diagnostic.h"

namespace usher::core::caddyfile {

/// One piece of Caddyfile source as the lexer saw it: a token or, when asked
/// for, a comment. The parser only needs tokens; the formatter also needs the
/// exact spelling and the line breaks around each piece.
struct Lexeme {
  enum class Kind { kToken, kComment };

  Kind kind = Kind::kToken;
  Token token;              // for a comment: text is the comment from `#`, blanks trimmed
  std::string_view raw;     // exactly as written: quotes, escapes, heredoc markers and body
  int newlines_before = 0;  // line breaks since the previous lexeme (`\` continuations excluded)
  bool continued = false;   // a `\` line continuation came since the previous lexeme

  bool is_comment() const { return kind == Kind::kComment; }
};

/// What the lexer returns beyond tokens, and how it counts lines.
struct LexOptions {
  /// Also return comments as lexemes (the formatter keeps them).
  bool comments = false;
  /// Keep `{$VAR:default with spaces}` as one token: the formatter works on the
  /// text before substitution and must not split a placeholder.
  bool keep_env_placeholders = false;
  /// Sorted offsets of newlines that came from substituted `{$VAR}` values
  /// (ExpandedText::synthetic_newlines): they break lines but are not counted.
  std::span<const size_t> synthetic_newlines;
};

/// Splits Caddyfile text into lexemes, following Caddy's lexer: tokens are
/// separated by whitespace; `"quoted"` strings (only `\"` is an escape),
/// `` `backtick` `` strings (no escapes) and `<<MARKER` heredocs are single
/// tokens; `#` starts a comment only at the start of a token; a `\` at the end
/// of a line continues the logical line. A lexical error (unterminated string
/// or heredoc, bad heredoc marker) goes to `diagnostics` and yields nullopt.
std::optional<std::vector<Lexeme>> lex(std::string_view text, const std::string& file,
                                       Diagnostics& diagnostics, const LexOptions& options = {});

/// The tokens of `text` (no comments), as the parser consumes them.
std::optional<std::vector<Token>> tokenize(std::string_view text, const std::string& file,
                                           Diagnostics& diagnostics,
                                           std::span<const size_t> synthetic_newlines = {});

}  // namespace usher::core::caddyfile
