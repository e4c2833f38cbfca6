#pragma once

#include <memory>
#include <string>
#include <vector>

namespace usher::core::caddyfile {

/// One Caddyfile token. The lexer produces them; imports splice tokens of
/// other files and snippets in, each keeping its own file and line so that
/// errors point at the text the user wrote.
struct Token {
  std::string text;       // unquoted value: quotes, backticks and heredoc markers removed
  std::string file;       // file the token was read from, as named by the user
  int line = 0;           // 1-based physical line where the token starts
  bool quoted = false;    // "quoted", `raw` or heredoc: never a brace, directive or matcher
  bool heredoc = false;   // came from a <<TAG heredoc (so fmt can write it back as one)
  char quote = 0;         // '"', '`' or 0: how the token was written (fmt keeps it)
  bool new_line = false;  // first token of a logical line (a `\` continuation does not start one)
  std::vector<std::string> import_chain;  // "file:line" of each import that brought it in

  bool is(const char* s) const { return !quoted && text == s; }
  bool is_open_brace() const { return is("{"); }
  bool is_close_brace() const { return is("}"); }
};

/// A directive with its arguments and its nested block, if any: the tokens
/// from the directive name up to the end of its line or its closing brace.
struct Segment {
  std::vector<Token> tokens;

  const std::string& directive() const { return tokens.front().text; }
};

/// One top-level block: a site block (keys are the site addresses), the
/// global options block (no keys), or a named route `&(name)` (unused yet).
struct ServerBlock {
  std::vector<Token> keys;
  std::vector<Segment> segments;

  bool is_global_options() const { return keys.empty(); }
};

}  // namespace usher::core::caddyfile
