#include "core/caddyfile/lexer.h"

#include <algorithm>

namespace usher::core::caddyfile {
namespace {

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";
constexpr std::string_view kHeredocOpen = "<<";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r';
}

bool is_marker_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

/// Splits `text` into lines (without their '\n'), the last one possibly empty.
std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  for (size_t nl = text.find('\n'); nl != std::string_view::npos; nl = text.find('\n', start)) {
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  lines.push_back(text.substr(start));
  return lines;
}

std::string without_cr(std::string_view s) {
  std::string out;
  std::copy_if(s.begin(), s.end(), std::back_inserter(out), [](char c) { return c != '\r'; });
  return out;
}

/// The scanner behind lex(): one pass over the text, one small function per
/// kind of lexeme.
class Lexer {
 public:
  Lexer(std::string_view text, const std::string& file, Diagnostics& diagnostics,
        const LexOptions& options)
      : text_(text), file_(file), diagnostics_(diagnostics), options_(options) {
    if (text_.starts_with(kByteOrderMark)) pos_ = kByteOrderMark.size();
  }

  std::optional<std::vector<Lexeme>> run() {
    std::vector<Lexeme> out;
    while (skip_space(), pos_ < text_.size()) {
      Lexeme lexeme = start_lexeme();
      if (!lex_one(lexeme)) return std::nullopt;
      lexeme.raw = text_.substr(start_, pos_ - start_);
      if (lexeme.is_comment() && !options_.comments) continue;
      if (!lexeme.is_comment()) token_line_broken_ = false;
      out.push_back(std::move(lexeme));
      newlines_ = 0;
      continued_ = false;
    }
    return out;
  }

 private:
  char at(size_t p) const { return p < text_.size() ? text_[p] : '\0'; }

  /// Moves past the '\n' at pos_, counting it unless it came from a value.
  void consume_newline() {
    const auto& synthetic = options_.synthetic_newlines;
    while (next_synthetic_ < synthetic.size() && synthetic[next_synthetic_] < pos_) {
      ++next_synthetic_;
    }
    bool counted = next_synthetic_ >= synthetic.size() || synthetic[next_synthetic_] != pos_;
    if (counted) ++line_;
    ++pos_;
  }

  /// A `\` followed by nothing but blanks up to the end of the line.
  bool continuation_at(size_t p) const {
    if (at(p) != '\\') return false;
    for (++p; p < text_.size() && is_blank(text_[p]); ++p) {
    }
    return at(p) == '\n';
  }

  void skip_space() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\n') {
        consume_newline();
        ++newlines_;
        token_line_broken_ = true;
      } else if (is_space(c)) {
        ++pos_;
      } else if (continuation_at(pos_)) {
        while (text_[pos_] != '\n')
          ++pos_;
        consume_newline();
        continued_ = true;
      } else {
        return;
      }
    }
  }

  Lexeme start_lexeme() {
    start_ = pos_;
    Lexeme lexeme;
    lexeme.newlines_before = newlines_;
    lexeme.continued = continued_;
    lexeme.token.file = file_;
    lexeme.token.line = line_;
    lexeme.token.new_line = token_line_broken_;
    return lexeme;
  }

  bool lex_one(Lexeme& lexeme) {
    char c = text_[pos_];
    if (c == '#') return lex_comment(lexeme);
    if (c == '"' || c == '`') return lex_quoted(lexeme, c);
    if (text_.substr(pos_).starts_with(kHeredocOpen)) return lex_heredoc(lexeme);
    lex_word(lexeme);
    return true;
  }

  bool lex_comment(Lexeme& lexeme) {
    size_t end = text_.find('\n', pos_);
    if (end == std::string_view::npos) end = text_.size();
    std::string_view comment = text_.substr(pos_, end - pos_);
    while (!comment.empty() && is_space(comment.back()))
      comment.remove_suffix(1);
    lexeme.kind = Lexeme::Kind::kComment;
    lexeme.token.text = std::string(comment);
    pos_ = start_ + comment.size();
    return true;
  }

  bool lex_quoted(Lexeme& lexeme, char quote) {
    Token& token = lexeme.token;
    token.quoted = true;
    token.quote = quote;
    for (++pos_; pos_ < text_.size();) {
      char c = text_[pos_];
      if (c == quote) {
        ++pos_;
        return true;
      }
      // Like Caddy, only `\"` is an escape; `\\` is kept as two characters but
      // must not let its second backslash escape a following quote.
      if (quote == '"' && c == '\\' && (at(pos_ + 1) == '"' || at(pos_ + 1) == '\\')) {
        if (at(pos_ + 1) == '\\') token.text.push_back('\\');
        token.text.push_back(at(pos_ + 1));
        pos_ += 2;
        continue;
      }
      token.text.push_back(c);
      if (c == '\n') {
        consume_newline();
      } else {
        ++pos_;
      }
    }
    return fail(token.line,
                quote == '"' ? "unterminated quoted string: missing closing `\"`"
                             : "unterminated backtick string: missing closing `` ` ``",
                quote == '"' ? "a `\"` inside a quoted string is written `\\\"`" : "");
  }

  /// `word` with Caddy's escapes: `\<` is a literal `<` (so `\<<` is not a
  /// heredoc); any other backslash stays as written.
  void lex_word(Lexeme& lexeme) {
    std::string& text = lexeme.token.text;
    while (pos_ < text_.size() && !is_space(text_[pos_]) && !continuation_at(pos_)) {
      if (text_[pos_] == '\\' && at(pos_ + 1) == '<') {
        text.push_back('<');
        pos_ += 2;
      } else if (options_.keep_env_placeholders && text_.substr(pos_).starts_with("{$")) {
        size_t close = text_.find_first_of("}\n", pos_);
        size_t end = close != std::string_view::npos && text_[close] == '}' ? close + 1 : pos_ + 2;
        text.append(text_.substr(pos_, end - pos_));
        pos_ = end;
      } else {
        text.push_back(text_[pos_++]);
      }
    }
  }

  bool lex_heredoc(Lexeme& lexeme) {
    size_t eol = text_.find('\n', pos_);
    if (eol == std::string_view::npos) {
      return fail(
          line_,
          "heredoc marker `" + std::string(text_.substr(pos_)) + "` must be followed by a new line",
          "write the heredoc body on the lines after `<<MARKER`");
    }
    std::string_view marker = text_.substr(pos_ + kHeredocOpen.size(), eol - pos_ - 2);
    while (!marker.empty() && is_blank(marker.back()))
      marker.remove_suffix(1);
    if (!check_marker(marker)) return false;
    pos_ = eol;
    consume_newline();
    return read_heredoc_body(lexeme, marker);
  }

  bool check_marker(std::string_view marker) {
    if (marker.starts_with("<")) {
      return fail(line_, "too many `<` for a heredoc", "use two, for example `<<END`");
    }
    if (marker.empty()) {
      return fail(line_, "heredoc `<<` without a marker", "name the marker, for example `<<END`");
    }
    if (!std::all_of(marker.begin(), marker.end(), is_marker_char)) {
      return fail(line_, "invalid heredoc marker `" + std::string(marker) + "`",
                  "a marker is letters, digits, `-` and `_`, and ends its line");
    }
    return true;
  }

  /// Length of the blank prefix of `line` when the rest starts with `marker`
  /// as a whole word, i.e. the closing line of the heredoc.
  static std::optional<size_t> closing_indent(std::string_view line, std::string_view marker) {
    size_t indent = 0;
    while (indent < line.size() && (line[indent] == ' ' || line[indent] == '\t'))
      ++indent;
    std::string_view rest = line.substr(indent);
    if (!rest.starts_with(marker)) return std::nullopt;
    if (rest.size() > marker.size() && !is_space(rest[marker.size()])) return std::nullopt;
    return indent;
  }

  bool read_heredoc_body(Lexeme& lexeme, std::string_view marker) {
    const int open_line = lexeme.token.line;
    size_t body_start = pos_;
    while (true) {
      size_t eol = std::min(text_.find('\n', pos_), text_.size());
      std::string_view line = text_.substr(pos_, eol - pos_);
      if (auto indent = closing_indent(line, marker)) {
        std::string_view body = text_.substr(body_start, pos_ - body_start);
        pos_ += *indent + marker.size();
        return finish_heredoc(lexeme, body, line.substr(0, *indent), marker, open_line);
      }
      if (eol >= text_.size()) break;
      pos_ = eol;
      consume_newline();
    }
    return fail(open_line,
                "unterminated heredoc: missing closing marker `" + std::string(marker) + "`",
                "end the heredoc with a line holding only `" + std::string(marker) + "`");
  }

  /// Strips the closing marker's indentation from every line of the body, as
  /// Caddy does, so a heredoc can be indented with the block around it.
  bool finish_heredoc(Lexeme& lexeme, std::string_view body, std::string_view padding,
                      std::string_view marker, int open_line) {
    Token& token = lexeme.token;
    token.quoted = true;
    token.heredoc = true;
    if (body.empty()) return true;
    body.remove_suffix(1);  // the newline before the closing marker line
    auto lines = split_lines(body);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string line = without_cr(lines[i]);
      // Empty lines need no indentation (as in Caddy), nor do blank ones.
      if (std::all_of(line.begin(), line.end(), is_blank)) line.clear();
      if (!line.empty() && !line.starts_with(padding)) {
        return fail(
            open_line + 1 + static_cast<int>(i),
            "heredoc line is indented less than its closing marker `" + std::string(marker) + "`",
            "indent every line of the heredoc at least as much as the closing marker");
      }
      if (i > 0) token.text.push_back('\n');
      if (!line.empty()) token.text += line.substr(padding.size());
    }
    return true;
  }

  bool fail(int line, std::string message, std::string hint) {
    diagnostics_.error(file_, line, std::move(message), std::move(hint));
    return false;
  }

  std::string_view text_;
  const std::string& file_;
  Diagnostics& diagnostics_;
  const LexOptions& options_;
  size_t pos_ = 0;
  size_t start_ = 0;  // where the current lexeme began
  int line_ = 1;
  size_t next_synthetic_ = 0;      // index into options_.synthetic_newlines
  int newlines_ = 0;               // line breaks since the previous lexeme
  bool continued_ = false;         // a `\` continuation since the previous lexeme
  bool token_line_broken_ = true;  // a line break since the previous token
};

}  // namespace

std::optional<std::vector<Lexeme>> lex(std::string_view text, const std::string& file,
                                       Diagnostics& diagnostics, const LexOptions& options) {
  return Lexer(text, file, diagnostics, options).run();
}

std::optional<std::vector<Token>> tokenize(std::string_view text, const std::string& file,
                                           Diagnostics& diagnostics,
                                           std::span<const size_t> synthetic_newlines) {
  LexOptions options;
  options.synthetic_newlines = synthetic_newlines;
  auto lexemes = lex(text, file, diagnostics, options);
  if (!lexemes) return std::nullopt;
  std::vector<Token> tokens;
  tokens.reserve(lexemes->size());
  for (auto& lexeme : *lexemes)
    tokens.push_back(std::move(lexeme.token));
  return tokens;
}

}  // namespace usher::core::caddyfile
