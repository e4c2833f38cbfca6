#include "core/caddyfile/parser.h"

#include <glob.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/caddyfile/env.h"
#include "core/caddyfile/lexer.h"

namespace usher::core::caddyfile {
namespace {

// Bounds how deep imports may nest; a deeper chain is almost surely a cycle
// through snippets whose arguments differ at each step.
constexpr size_t kMaxImportDepth = 32;
// Bounds time and memory: snippets importing each other several times each
// multiply the tokens they bring in exponentially. Real files stay far below.
constexpr size_t kMaxImportedTokens = 200'000;

constexpr std::string_view kGlobChars = "*?[";

/// Thrown once the diagnostic is recorded: parsing stops at the first
/// structural error, so nothing has to recover from a half-read block.
struct SyntaxError {};

using SegmentSink = std::function<void(std::vector<Token>&&)>;

std::string location(const Token& t) {
  return t.file + ":" + std::to_string(t.line);
}

std::string normal_path(const std::string& path) {
  return std::filesystem::path(path).lexically_normal().string();
}

/// The file part of an import_chain entry ("file:line").
std::string chain_file(const std::string& entry) {
  return entry.substr(0, entry.rfind(':'));
}

std::string lowercase_first(std::string s) {
  if (!s.empty() && s[0] >= 'A' && s[0] <= 'Z') s[0] = static_cast<char>(s[0] - 'A' + 'a');
  return s;
}

std::string system_read_file(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    throw std::runtime_error("`" + path + "` is a directory");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) throw std::runtime_error("no such file `" + path + "`");
    throw std::runtime_error("cannot read `" + path +
                             "`: " + lowercase_first(std::strerror(errno)));
  }
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

std::vector<std::string> system_glob(const std::string& pattern) {
  glob_t found{};
  std::vector<std::string> paths;
  if (::glob(pattern.c_str(), 0, nullptr, &found) == 0) {
    for (size_t i = 0; i < found.gl_pathc; ++i)
      paths.emplace_back(found.gl_pathv[i]);
  }
  ::globfree(&found);
  std::sort(paths.begin(), paths.end());
  return paths;
}

ParseOptions with_defaults(ParseOptions options) {
  if (!options.getenv) options.getenv = process_getenv;
  if (!options.read_file) options.read_file = system_read_file;
  if (!options.glob) options.glob = system_glob;
  return options;
}

bool is_snippet_key(const Token& key) {
  return !key.quoted && key.text.size() >= 2 && key.text.front() == '(' && key.text.back() == ')';
}

/// A `{args[a:b]}` token, which becomes the selected arguments as separate
/// tokens; nullopt when the token is anything else.
struct ArgRange {
  std::string_view start, end;
};
std::optional<ArgRange> variadic(std::string_view text) {
  if (!text.starts_with("{args[") || !text.ends_with("]}")) return std::nullopt;
  std::string_view inner = text.substr(6, text.size() - 8);
  size_t colon = inner.find(':');
  if (colon == std::string_view::npos || inner.find_first_of("{}") != std::string_view::npos) {
    return std::nullopt;
  }
  return ArgRange{inner.substr(0, colon), inner.substr(colon + 1)};
}

std::optional<size_t> parse_index(std::string_view digits) {
  if (digits.empty() || digits.size() > 6) return std::nullopt;
  size_t value = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  return value;
}

/// Substitutes `{args[N]}`, `{args.N}` and `{args[a:b]}` in tokens brought in
/// by one `import`, as Caddy does: an index out of range is left as written
/// and reported as a warning.
class ArgsReplacer {
 public:
  ArgsReplacer(const std::vector<std::string>& args, const Token& import, Diagnostics& diagnostics)
      : args_(args), import_(import), diagnostics_(diagnostics) {}

  std::vector<Token> apply(std::vector<Token> tokens) const {
    std::vector<Token> out;
    bool pending_new_line = false;  // an expansion to nothing started a line
    for (auto& token : tokens) {
      if (auto range = variadic(token.text)) {
        pending_new_line = expand(token, *range, out) ? false : pending_new_line || token.new_line;
        continue;
      }
      if (token.text.find("{args") != std::string::npos) token.text = replace_indexes(token.text);
      token.new_line = token.new_line || pending_new_line;
      pending_new_line = false;
      out.push_back(std::move(token));
    }
    return out;
  }

 private:
  /// Appends the selected arguments; false when that appended nothing.
  bool expand(const Token& token, ArgRange range, std::vector<Token>& out) const {
    auto start = range.start.empty() ? std::optional<size_t>(0) : parse_index(range.start);
    auto end = range.end.empty() ? std::optional<size_t>(args_.size()) : parse_index(range.end);
    if (!start || !end || *start > *end || *end > args_.size()) {
      warn("`" + token.text + "` is out of range");
      out.push_back(token);
      return true;
    }
    for (size_t i = *start; i < *end; ++i) {
      Token copy = token;
      copy.text = args_[i];
      copy.new_line = token.new_line && i == *start;
      out.push_back(std::move(copy));
    }
    return *start < *end;
  }

  std::string replace_indexes(const std::string& text) const {
    std::string out;
    size_t i = 0;
    while (i < text.size()) {
      size_t begin = text.find("{args", i);
      if (begin == std::string::npos) break;
      out.append(text, i, begin - i);
      i = begin + replace_one(std::string_view(text).substr(begin), out);
    }
    out.append(text, std::min(i, text.size()));
    return out;
  }

  /// Replaces the placeholder at the start of `text` (appending to `out`);
  /// returns how many characters of `text` it used.
  size_t replace_one(std::string_view text, std::string& out) const {
    bool bracket = text.starts_with("{args[");
    bool dotted = text.starts_with("{args.");
    size_t close = text.find(bracket ? "]}" : "}");
    if ((!bracket && !dotted) || close == std::string_view::npos) {
      out.push_back(text[0]);
      return 1;
    }
    std::string_view placeholder = text.substr(0, close + (bracket ? 2 : 1));
    auto index = parse_index(text.substr(6, close - 6));
    if (index && *index < args_.size()) {
      out += args_[*index];
    } else {
      warn("`" + std::string(placeholder) + "` is out of range or not a number");
      out += placeholder;
    }
    return placeholder.size();
  }

  void warn(const std::string& what) const {
    diagnostics_.warning(
        import_.file, import_.line,
        what + ": this import passes " + std::to_string(args_.size()) + " argument(s)",
        "arguments are numbered from 0, e.g. {args[0]}; {args[:]} is all of them");
  }

  const std::vector<std::string>& args_;
  const Token& import_;
  Diagnostics& diagnostics_;
};

/// A snippet as defined by `(name) { … }`.
struct Snippet {
  Token key;
  std::vector<Token> tokens;
};

/// The site addresses of a block and the `{` that opens it, if any.
struct BlockHead {
  std::vector<Token> keys;
  std::optional<Token> open;
};

/// Groups tokens into server blocks and segments. Imports are expanded in
/// place in the token stream, as Caddy does, so an import can bring in whole
/// blocks at the top level or segments inside a block.
class Parser {
 public:
  Parser(const ParseOptions& options, Diagnostics& diagnostics)
      : options_(options), diagnostics_(diagnostics) {}

  std::vector<ServerBlock> run(std::string_view text, const std::string& filename) {
    try {
      push_front_of_stream(read_tokens(text, filename));
      parse_all();
    } catch (const SyntaxError&) {
      // The diagnostic is recorded; return the blocks completed so far.
    }
    return std::move(blocks_);
  }

 private:
  bool at_end() const { return pending_.empty(); }
  const Token& peek() const { return pending_.back(); }
  Token take() {
    last_ = std::move(pending_.back());
    pending_.pop_back();
    return last_;
  }

  /// Puts `tokens` before the unread ones (pending_ is reversed, so this
  /// costs only the size of `tokens`).
  void push_front_of_stream(std::vector<Token> tokens) {
    pending_.insert(pending_.end(), std::make_move_iterator(tokens.rbegin()),
                    std::make_move_iterator(tokens.rend()));
  }

  [[noreturn]] void fail(const Token& at, std::string message, std::string hint = {}) {
    diagnostics_.error(at.file, at.line, std::move(message), std::move(hint));
    throw SyntaxError{};
  }

  [[noreturn]] void fail_misplaced_open(const Token& brace) {
    if (brace.new_line) {
      fail(brace, "unexpected `{` on a line of its own",
           "`{` must be at the end of the line, after the site address or directive");
    }
    fail(brace, "unexpected `{`", "a `{` opens a block at the end of a site address or directive");
  }

  [[noreturn]] void fail_unclosed(const Token& open) {
    const Token& last = last_;  // at the end of input: the last token of all
    std::string where =
        open.file == last.file ? "line " + std::to_string(open.line) : location(open);
    fail(last, "unexpected end of file: missing `}` for the block opened at " + where,
         "add a `}` on a line of its own to close it");
  }

  // ---- top level

  void parse_all() {
    while (!at_end()) {
      const Token& token = peek();
      if (token.is("import") && token.new_line) {
        expand_import();
      } else if (token.is_open_brace()) {
        parse_global_options();
      } else if (token.is_close_brace()) {
        fail(token, "unexpected `}`", "no block is open here; remove it or add the missing `{`");
      } else {
        parse_site_or_snippet();
      }
    }
  }

  void parse_global_options() {
    Token open = take();
    if (!blocks_.empty()) {
      fail(open, "the global options block must be the first block in the file",
           "move it to the top, before every site");
    }
    if (!open.new_line) fail_misplaced_open(open);
    ServerBlock block;
    parse_segments(&open, segment_adder(block));
    blocks_.push_back(std::move(block));
  }

  void parse_site_or_snippet() {
    BlockHead head = parse_addresses();
    if (head.keys.empty()) return;  // an import at the end brought in nothing
    if (head.keys.size() == 1 && is_snippet_key(head.keys[0])) {
      define_snippet(head);
      return;
    }
    ServerBlock block;
    block.keys = std::move(head.keys);
    parse_segments(head.open ? &*head.open : nullptr, segment_adder(block));
    blocks_.push_back(std::move(block));
  }

  static SegmentSink segment_adder(ServerBlock& block) {
    return [&block](std::vector<Token>&& tokens) {
      block.segments.push_back(Segment{std::move(tokens)});
    };
  }

  /// Reads the site addresses of a block: tokens up to the end of the line
  /// (or further after a trailing comma), up to and including a `{`.
  BlockHead parse_addresses() {
    BlockHead head;
    bool expecting_another = false;  // after a trailing comma
    while (!at_end()) {
      const Token& token = peek();
      bool line_ended = !head.keys.empty() && token.new_line && !expecting_another;
      if (line_ended && token.is_open_brace()) fail_misplaced_open(token);
      if (line_ended) return head;
      if (token.is("import") && token.new_line) {
        expand_import();
        continue;
      }
      if (token.is_open_brace()) {
        if (expecting_another) {
          fail(token, "expected another site address before `{`", "remove the trailing comma");
        }
        head.open = take();
        return head;
      }
      if (token.is_close_brace()) {
        fail(token, "unexpected `}` after a site address", "a site block opens with `{`");
      }
      expecting_another = add_addresses(take(), head.keys);
    }
    if (expecting_another) {
      fail(last_, "unexpected end of file: expected another site address after `,`",
           "remove the trailing comma");
    }
    return head;
  }

  /// Adds the addresses of one token (`a.com,b.com` holds two); returns
  /// whether it ended with a comma, announcing another address.
  bool add_addresses(const Token& token, std::vector<Token>& keys) {
    if (token.quoted) {
      if (token.text.empty()) {
        fail(token, "empty site address `\"\"`", "write a host name, `:port` or `http://`");
      }
      keys.push_back(token);
      return false;
    }
    size_t start = 0;
    while (start < token.text.size()) {
      size_t comma = std::min(token.text.find(',', start), token.text.size());
      if (comma == start && start > 0) {
        fail(token, "empty site address in `" + token.text + "`", "remove the extra comma");
      }
      if (comma > start) {
        Token key = token;
        key.text = token.text.substr(start, comma - start);
        keys.push_back(std::move(key));
      }
      start = comma + 1;
    }
    return token.text.ends_with(',');
  }

  void define_snippet(const BlockHead& head) {
    const Token& key = head.keys[0];
    std::string name = key.text.substr(1, key.text.size() - 2);
    if (name.empty()) fail(key, "snippet without a name `()`", "name it, for example `(common)`");
    if (!head.open) {
      fail(key, "snippet `" + key.text + "` has no block",
           "write `" + key.text + " {` and the snippet's lines after it");
    }
    if (auto it = snippets_.find(name); it != snippets_.end()) {
      fail(key, "snippet `" + name + "` is already defined at " + location(it->second.key),
           "give one of them another name");
    }
    snippets_[name] = Snippet{key, snippet_body(*head.open)};
  }

  /// The raw tokens up to the `}` matching `open`: imports inside a snippet
  /// are expanded where it is used, as in Caddy.
  std::vector<Token> snippet_body(const Token& open) {
    std::vector<Token> body;
    int depth = 1;
    while (!at_end()) {
      Token token = take();
      depth += token.is_open_brace() ? 1 : token.is_close_brace() ? -1 : 0;
      if (depth == 0) return body;
      body.push_back(std::move(token));
    }
    fail_unclosed(open);
  }

  // ---- blocks and segments

  /// Reads segments up to the `}` matching `open`, returned, or for a
  /// braceless site (`open` null) to the end of input.
  std::optional<Token> parse_segments(const Token* open, const SegmentSink& sink) {
    while (!at_end()) {
      const Token& token = peek();
      if (token.is_close_brace()) {
        if (open == nullptr) {
          fail(token, "unexpected `}`", "no block is open here; remove it or add the missing `{`");
        }
        Token close = take();
        close.new_line = true;  // see parse_segment
        return close;
      }
      if (token.is_open_brace()) fail_misplaced_open(token);
      if (token.is("import")) {
        expand_import();
        continue;
      }
      sink(parse_segment());
    }
    if (open != nullptr) fail_unclosed(*open);
    return std::nullopt;
  }

  /// One directive with its arguments up to the end of its logical line and,
  /// when the line ends with (or opens a one-line) `{`, the nested block,
  /// braces included. A `}` on the line closes the enclosing block instead.
  ///
  /// One-line blocks are beyond Caddy's syntax. To let the adapter walk them
  /// like any block, the parser marks the directive after a `{` and the `}`
  /// ending such a line as starting a line (new_line), as if the block had
  /// been written over several lines; Token::line keeps the physical line.
  std::vector<Token> parse_segment() {
    std::vector<Token> segment{take()};
    segment.front().new_line = true;
    while (!at_end() && !peek().new_line && !peek().is_close_brace()) {
      if (!peek().is_open_brace()) {
        segment.push_back(take());
        continue;
      }
      Token open = take();
      segment.push_back(open);
      auto append = [&segment](std::vector<Token>&& inner) {
        segment.insert(segment.end(), std::make_move_iterator(inner.begin()),
                       std::make_move_iterator(inner.end()));
      };
      segment.push_back(*parse_segments(&open, append));
      break;
    }
    return segment;
  }

  // ---- imports

  /// Replaces `import TARGET ARGS…` (the next tokens) with the tokens it
  /// brings in.
  void expand_import() {
    const Token import = take();
    check_import_depth(import);
    if (at_end() || peek().new_line || peek().is_close_brace()) {
      fail(import, "`import` needs a snippet name or a file path",
           "for example `import common` or `import sites/*.caddy`");
    }
    const Token target = take();
    if (target.text.empty()) fail(target, "`import` needs a non-empty snippet name or file path");
    std::vector<std::string> args;
    while (!at_end() && !peek().new_line && !peek().is_open_brace() && !peek().is_close_brace()) {
      args.push_back(take().text);
    }
    std::vector<Token> imported =
        ArgsReplacer(args, import, diagnostics_).apply(resolve(import, target));
    splice(import, std::move(imported));
  }

  void check_import_depth(const Token& import) {
    const auto& chain = import.import_chain;
    if (std::find(chain.begin(), chain.end(), location(import)) != chain.end()) {
      std::string path;
      for (const auto& entry : chain)
        path += entry + " -> ";
      fail(import,
           "import cycle: this import is reached again through its own expansion (" + path +
               location(import) + ")",
           "a snippet or file must not import itself, directly or through others");
    }
    if (chain.size() >= kMaxImportDepth) {
      fail(import, "imports nested more than " + std::to_string(kMaxImportDepth) + " levels deep",
           "look for snippets or files that import each other");
    }
  }

  void splice(const Token& import, std::vector<Token> imported) {
    imported_tokens_ += imported.size();
    if (imported_tokens_ > kMaxImportedTokens) {
      fail(import, "imports bring in more than " + std::to_string(kMaxImportedTokens) + " tokens",
           "look for snippets that import each other many times");
    }
    std::vector<std::string> chain = import.import_chain;
    chain.push_back(location(import));
    for (auto& token : imported)
      token.import_chain = chain;
    if (!imported.empty()) imported.front().new_line = true;
    push_front_of_stream(std::move(imported));
  }

  /// A snippet of that name if one is defined (snippets win, as in Caddy),
  /// else the file or files the path names.
  std::vector<Token> resolve(const Token& import, const Token& target) {
    if (auto it = snippets_.find(target.text); it != snippets_.end()) return it->second.tokens;
    std::string pattern = target.text;
    if (!std::filesystem::path(pattern).is_absolute()) {
      pattern = (std::filesystem::path(import.file).parent_path() / pattern).string();
    }
    pattern = normal_path(pattern);
    if (pattern.find_first_of(kGlobChars) == std::string::npos) {
      return import_file(import, target, pattern);
    }
    return import_glob(import, target, pattern);
  }

  std::vector<Token> import_glob(const Token& import, const Token& target,
                                 const std::string& pattern) {
    // Caddy's limit: patterns with several wildcards can take very long to expand.
    if (std::count(pattern.begin(), pattern.end(), '*') > 1 ||
        std::count(pattern.begin(), pattern.end(), '?') > 1 ||
        pattern.find('[') != std::string::npos) {
      fail(target, "import pattern `" + target.text + "` has more than one wildcard",
           "use a single `*`, for example `import sites/*.caddy`");
    }
    std::vector<std::string> paths = options_.glob(pattern);
    if (paths.empty()) {
      diagnostics_.warning(target.file, target.line,
                           "import pattern `" + target.text + "` matches no files");
    }
    std::vector<Token> tokens;
    for (const auto& path : paths) {
      if (normal_path(path) == normal_path(import.file)) continue;  // a glob may match its importer
      auto more = import_file(import, target, path);
      tokens.insert(tokens.end(), std::make_move_iterator(more.begin()),
                    std::make_move_iterator(more.end()));
    }
    return tokens;
  }

  std::vector<Token> import_file(const Token& import, const Token& target,
                                 const std::string& path) {
    check_file_cycle(import, path);
    std::string text;
    try {
      text = options_.read_file(path);
    } catch (const std::exception& e) {
      fail(target, "cannot import `" + target.text + "`: " + e.what(), missing_hint(target));
    }
    return read_tokens(text, path);
  }

  void check_file_cycle(const Token& import, const std::string& path) {
    std::vector<std::string> files;
    for (const auto& entry : import.import_chain)
      files.push_back(chain_file(entry));
    files.push_back(import.file);
    std::string target = normal_path(path);
    auto hit = std::find_if(files.begin(), files.end(),
                            [&](const std::string& f) { return normal_path(f) == target; });
    if (hit == files.end()) return;
    std::string cycle;
    for (auto it = hit; it != files.end(); ++it) {
      if (it == hit || *it != *(it - 1)) cycle += *it + " imports ";
    }
    fail(import, "import cycle: " + cycle + path, "remove one of these imports");
  }

  std::string missing_hint(const Token& target) const {
    const std::string key = "(" + target.text + ")";
    for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
      if (it->new_line && it->is(key.c_str())) {
        return "snippet `" + target.text + "` is defined later, at " + location(*it) +
               "; define snippets before importing them";
      }
    }
    if (target.text.find_first_of("/.*?") == std::string::npos) {
      return "no snippet `" + target.text + "` is defined above this line; define it with `" + key +
             " { … }` or give a file path";
    }
    return "file paths are relative to the directory of the importing file";
  }

  /// Substitutes `{$ENV}` in a file's text and lexes it.
  std::vector<Token> read_tokens(std::string_view text, const std::string& file) {
    ExpandedText expanded = substitute_env(text, file, options_.getenv, diagnostics_);
    auto tokens = tokenize(expanded.text, file, diagnostics_, expanded.synthetic_newlines);
    if (!tokens) throw SyntaxError{};  // the lexer named the file and line
    return std::move(*tokens);
  }

  ParseOptions options_;
  Diagnostics& diagnostics_;
  std::vector<Token> pending_;  // unread tokens, the next one last
  Token last_;                  // the token read last, for errors at the end of input
  size_t imported_tokens_ = 0;  // tokens brought in by imports so far
  std::map<std::string, Snippet> snippets_;
  std::vector<ServerBlock> blocks_;
};

}  // namespace

std::vector<ServerBlock> parse(std::string_view text, const std::string& filename,
                               Diagnostics& diagnostics, const ParseOptions& options) {
  return Parser(with_defaults(options), diagnostics).run(text, filename);
}

}  // namespace usher::core::caddyfile
