#include "acme/json.h"

#include "core/json_text.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace usher::acme {

namespace {

// Nesting beyond this is no ACME document; bounds the parser's recursion.
constexpr int kMaxDepth = 64;

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Json parse_document() {
    Json value = parse_value(0);
    skip_space();
    if (pos_ != text_.size()) fail("trailing characters");
    return value;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw std::runtime_error("invalid json at byte " + std::to_string(pos_) + ": " + what);
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  char peek() {
    skip_space();
    if (pos_ >= text_.size()) fail("unexpected end");
    return text_[pos_];
  }

  void expect(char c) {
    if (peek() != c) fail(std::string("expected '") + c + "'");
    ++pos_;
  }

  bool consume_word(std::string_view word) {
    if (text_.substr(pos_, word.size()) != word) return false;
    pos_ += word.size();
    return true;
  }

  Json parse_value(int depth) {
    if (depth > kMaxDepth) fail("nested too deeply");
    char c = peek();
    if (c == '{') return parse_object(depth);
    if (c == '[') return parse_array(depth);
    if (c == '"') return Json(parse_string());
    if (consume_word("true")) return Json(true);
    if (consume_word("false")) return Json(false);
    if (consume_word("null")) return Json();
    if (c == '-' || (c >= '0' && c <= '9')) return parse_number();
    fail("unexpected character");
  }

  Json parse_object(int depth) {
    expect('{');
    Json::Object object;
    if (peek() == '}') {
      ++pos_;
      return Json(std::move(object));
    }
    while (true) {
      if (peek() != '"') fail("expected a key");
      std::string key = parse_string();
      expect(':');
      Json value = parse_value(depth + 1);
      if (!object.emplace(std::move(key), std::move(value)).second) fail("duplicate key");
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect('}');
      return Json(std::move(object));
    }
  }

  Json parse_array(int depth) {
    expect('[');
    Json::Array array;
    if (peek() == ']') {
      ++pos_;
      return Json(std::move(array));
    }
    while (true) {
      array.push_back(parse_value(depth + 1));
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      expect(']');
      return Json(std::move(array));
    }
  }

  Json parse_number() {
    size_t start = pos_;
    bool integral = true;
    if (text_[pos_] == '-') ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '.' || c == 'e' || c == 'E' || c == '+' || (c == '-' && pos_ > start)) {
        integral = false;
      } else if (c < '0' || c > '9') {
        break;
      }
      ++pos_;
    }
    std::string_view digits = text_.substr(start, pos_ - start);
    if (integral) {
      int64_t n = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec == std::errc() && end == digits.data() + digits.size()) return Json(n);
    }
    double d = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), d);
    if (ec != std::errc() || end != digits.data() + digits.size()) fail("bad number");
    return Json(d);
  }

  unsigned parse_hex4() {
    if (pos_ + 4 > text_.size()) fail("short \\u escape");
    unsigned value = 0;
    auto [end, ec] = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, value, 16);
    if (ec != std::errc() || end != text_.data() + pos_ + 4) fail("bad \\u escape");
    pos_ += 4;
    return value;
  }

  static void append_utf8(std::string& out, unsigned cp) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

  void parse_escape(std::string& out) {
    if (pos_ >= text_.size()) fail("unexpected end");
    char c = text_[pos_++];
    switch (c) {
      case '"':
        out += '"';
        return;
      case '\\':
        out += '\\';
        return;
      case '/':
        out += '/';
        return;
      case 'b':
        out += '\b';
        return;
      case 'f':
        out += '\f';
        return;
      case 'n':
        out += '\n';
        return;
      case 'r':
        out += '\r';
        return;
      case 't':
        out += '\t';
        return;
      case 'u':
        break;
      default:
        fail("bad escape");
    }
    unsigned cp = parse_hex4();
    if (cp >= 0xD800 && cp < 0xDC00 && consume_word("\\u")) {
      unsigned low = parse_hex4();
      if (low < 0xDC00 || low > 0xDFFF) fail("bad surrogate pair");
      cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
    }
    append_utf8(out, cp);
  }

  std::string parse_string() {
    expect('"');
    std::string out;
    while (true) {
      if (pos_ >= text_.size()) fail("unterminated string");
      char c = text_[pos_++];
      if (c == '"') return out;
      if (c == '\\') {
        parse_escape(out);
      } else if (static_cast<unsigned char>(c) < 0x20) {
        fail("control character in string");
      } else {
        out += c;
      }
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

void dump_string(const std::string& s, std::string& out) {
  core::append_json_string(s, out);
}

struct Dumper {
  std::string& out;
  void operator()(std::monostate) const { out += "null"; }
  void operator()(bool b) const { out += b ? "true" : "false"; }
  void operator()(int64_t n) const { out += std::to_string(n); }
  void operator()(double d) const {
    if (!std::isfinite(d)) {
      out += "null";
      return;
    }
    char buffer[32];
    auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, d);
    out.append(buffer, end);
  }
  void operator()(const std::string& s) const { dump_string(s, out); }
  void operator()(const Json::Array& a) const {
    out += '[';
    for (size_t i = 0; i < a.size(); ++i) {
      if (i > 0) out += ',';
      out += a[i].dump();
    }
    out += ']';
  }
  void operator()(const Json::Object& o) const {
    out += '{';
    bool first = true;
    for (const auto& [key, value] : o) {
      if (!first) out += ',';
      first = false;
      dump_string(key, out);
      out += ':';
      out += value.dump();
    }
    out += '}';
  }
};

[[noreturn]] void wrong_type(const char* wanted) {
  throw std::runtime_error(std::string("json value is not ") + wanted);
}

}  // namespace

Json Json::parse(std::string_view text) {
  return Parser(text).parse_document();
}

std::string Json::dump() const {
  std::string out;
  std::visit(Dumper{out}, value_);
  return out;
}

bool Json::as_bool() const {
  if (!is_bool()) wrong_type("a boolean");
  return std::get<bool>(value_);
}

int64_t Json::as_int() const {
  if (auto* n = std::get_if<int64_t>(&value_)) return *n;
  if (auto* d = std::get_if<double>(&value_)) return static_cast<int64_t>(*d);
  wrong_type("a number");
}

const std::string& Json::as_string() const {
  if (!is_string()) wrong_type("a string");
  return std::get<std::string>(value_);
}

const Json::Array& Json::as_array() const {
  if (!is_array()) wrong_type("an array");
  return std::get<Array>(value_);
}

const Json::Object& Json::as_object() const {
  if (!is_object()) wrong_type("an object");
  return std::get<Object>(value_);
}

Json::Array& Json::as_array() {
  if (!is_array()) wrong_type("an array");
  return std::get<Array>(value_);
}

Json::Object& Json::as_object() {
  if (!is_object()) wrong_type("an object");
  return std::get<Object>(value_);
}

const Json* Json::find(std::string_view key) const {
  auto* object = std::get_if<Object>(&value_);
  if (!object) return nullptr;
  auto it = object->find(key);
  return it == object->end() ? nullptr : &it->second;
}

std::string Json::string_or(std::string_view key, std::string fallback) const {
  const Json* member = find(key);
  return member && member->is_string() ? member->as_string() : fallback;
}

const std::string& Json::required_string(std::string_view key) const {
  const Json* member = find(key);
  if (!member || !member->is_string()) {
    throw std::runtime_error("missing field " + std::string(key));
  }
  return member->as_string();
}

Json& Json::set(std::string key, Json value) {
  if (is_null()) value_ = Object{};
  as_object()[std::move(key)] = std::move(value);
  return *this;
}

}  // namespace usher::acme
