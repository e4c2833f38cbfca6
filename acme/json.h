#pragma once

// A small JSON value for the ACME wire format. No JSON library is packaged
// for Debian 12 as a header we may depend on (design.md §2), and ACME needs
// little: objects, arrays, strings, numbers, booleans, and a serialization
// whose object keys come out sorted and without whitespace, which is exactly
// the canonical form RFC 7638 §3 asks for when hashing a JWK.

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace usher::acme {

/// A JSON value. Objects keep their keys sorted (std::map), so dump() is
/// canonical; duplicate keys in parsed input are rejected.
class Json {
 public:
  using Array = std::vector<Json>;
  using Object = std::map<std::string, Json, std::less<>>;

  Json() = default;  // null
  Json(std::nullptr_t) {}
  Json(bool b) : value_(b) {}
  Json(int n) : value_(static_cast<int64_t>(n)) {}
  Json(int64_t n) : value_(n) {}
  Json(double d) : value_(d) {}
  Json(const char* s) : value_(std::string(s)) {}
  Json(std::string s) : value_(std::move(s)) {}
  Json(std::string_view s) : value_(std::string(s)) {}
  Json(Array a) : value_(std::move(a)) {}
  Json(Object o) : value_(std::move(o)) {}

  /// Parses `text`; throws std::runtime_error ("invalid json at byte N: …").
  static Json parse(std::string_view text);
  /// Compact serialization, keys sorted, no whitespace.
  std::string dump() const;

  bool is_null() const { return std::holds_alternative<std::monostate>(value_); }
  bool is_bool() const { return std::holds_alternative<bool>(value_); }
  bool is_number() const {
    return std::holds_alternative<int64_t>(value_) || std::holds_alternative<double>(value_);
  }
  bool is_string() const { return std::holds_alternative<std::string>(value_); }
  bool is_array() const { return std::holds_alternative<Array>(value_); }
  bool is_object() const { return std::holds_alternative<Object>(value_); }

  /// Typed access; throw std::runtime_error when the value has another type.
  bool as_bool() const;
  int64_t as_int() const;
  const std::string& as_string() const;
  const Array& as_array() const;
  const Object& as_object() const;
  Array& as_array();
  Object& as_object();

  /// The member `key` of an object; null when absent or when this is not an
  /// object (lenient lookup for optional fields).
  const Json* find(std::string_view key) const;
  /// The string member `key`, or `fallback` when absent or not a string.
  std::string string_or(std::string_view key, std::string fallback = {}) const;
  /// The string member `key`; throws ("missing field KEY") when absent.
  const std::string& required_string(std::string_view key) const;
  /// Sets member `key` (turns null into an empty object first).
  Json& set(std::string key, Json value);

  bool operator==(const Json&) const = default;

 private:
  std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> value_;
};

}  // namespace usher::acme
