#pragma once

#include <string>
#include <string_view>

namespace usher::core::caddyfile {

/// Formats Caddyfile text canonically, like `caddy fmt`: one tab per nesting
/// level, one space between tokens, comments kept (on their own line or after
/// a line), at most one blank line in a row and none just inside a block, a
/// `{` moved up to the line of its site address or directive. Quoted and
/// backtick strings, heredocs and `{$ENV}` placeholders are written back byte
/// for byte (formatting works on the text before substitution). Blocks
/// written on one line (`a.com { reverse_proxy :8080 }`) stay on one line.
/// format(format(x)) == format(x). Text the lexer rejects, or that would lex
/// differently once formatted, is returned unchanged: formatting never
/// changes what a file means.
std::string format(std::string_view text);

}  // namespace usher::core::caddyfile
