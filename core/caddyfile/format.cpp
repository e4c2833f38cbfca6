#include "core/caddyfile/format.h"

#include <optional>
#include <vector>

#include "core/caddyfile/lexer.h"

namespace usher::core::caddyfile {
namespace {

bool is_open(const Lexeme& l) {
  return !l.is_comment() && l.token.is_open_brace();
}
bool is_close(const Lexeme& l) {
  return !l.is_comment() && l.token.is_close_brace();
}

std::optional<std::vector<Lexeme>> lex_for_format(std::string_view text) {
  Diagnostics ignored;  // a text that does not lex is returned as it is
  LexOptions options;
  options.comments = true;
  options.keep_env_placeholders = true;
  return lex(text, "", ignored, options);
}

/// Writes lexemes back with canonical whitespace. Line breaks come from the
/// source; indentation, spacing and blank lines are recomputed.
class Renderer {
 public:
  std::string render(const std::vector<Lexeme>& lexemes) {
    for (const auto& lexeme : lexemes) {
      place(lexeme);
      out_ += lexeme.is_comment() ? lexeme.token.text : std::string(lexeme.raw);
      if (is_open(lexeme)) ++depth_;
      if (is_close(lexeme) && depth_ > 0) --depth_;
      prev_ = &lexeme;
    }
    if (prev_ != nullptr) out_ += '\n';
    return std::move(out_);
  }

 private:
  /// Writes what goes before `lexeme`: nothing, a space, a continuation or
  /// a new line with its indentation.
  void place(const Lexeme& lexeme) {
    if (prev_ == nullptr) return start_line(lexeme);
    if (starts_line(lexeme)) {
      out_ += '\n';
      if (wants_blank_line(lexeme)) out_ += '\n';
      return start_line(lexeme);
    }
    if (lexeme.continued) {
      out_ += " \\\n" + std::string(static_cast<size_t>(line_depth_ + 1), '\t');
      return;
    }
    out_ += ' ';
  }

  bool starts_line(const Lexeme& lexeme) const {
    if (lexeme.newlines_before == 0) return false;
    // A `{` on a line of its own belongs at the end of its key's line.
    bool joinable =
        prev_ != nullptr && !prev_->is_comment() && !is_open(*prev_) && !is_close(*prev_);
    return !(is_open(lexeme) && joinable);
  }

  bool wants_blank_line(const Lexeme& lexeme) const {
    return lexeme.newlines_before > 1 && !is_open(*prev_) && !is_close(lexeme);
  }

  void start_line(const Lexeme& lexeme) {
    line_depth_ = is_close(lexeme) && depth_ > 0 ? depth_ - 1 : depth_;
    out_ += std::string(static_cast<size_t>(line_depth_), '\t');
  }

  std::string out_;
  int depth_ = 0;       // open blocks before the current lexeme
  int line_depth_ = 0;  // indentation of the current line
  const Lexeme* prev_ = nullptr;
};

/// Whether two lexings hold the same tokens on the same logical lines; a
/// `{` may move to the line of its key, which is what formatting is for.
bool same_tokens(const std::vector<Lexeme>& a, const std::vector<Lexeme>& b) {
  auto next_token = [](const std::vector<Lexeme>& v, size_t& i) -> const Token* {
    while (i < v.size() && v[i].is_comment())
      ++i;
    return i < v.size() ? &v[i++].token : nullptr;
  };
  size_t i = 0, j = 0;
  while (true) {
    const Token* x = next_token(a, i);
    const Token* y = next_token(b, j);
    if (x == nullptr || y == nullptr) return x == y;
    bool same = x->text == y->text && x->quoted == y->quoted && x->quote == y->quote &&
                x->heredoc == y->heredoc && (x->new_line == y->new_line || x->is_open_brace());
    if (!same) return false;
  }
}

}  // namespace

std::string format(std::string_view text) {
  auto lexemes = lex_for_format(text);
  if (!lexemes) return std::string(text);
  std::string formatted = Renderer().render(*lexemes);
  auto again = lex_for_format(formatted);
  if (!again || !same_tokens(*lexemes, *again)) return std::string(text);
  return formatted;
}

}  // namespace usher::core::caddyfile
