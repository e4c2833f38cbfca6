#include "proxy/exchange.h"

#include <algorithm>

namespace usher::proxy {
namespace {

char ascii_lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool starts_with_ignoring_case(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() && header_name_equals(text.substr(0, prefix.size()), prefix);
}

}  // namespace

bool header_name_equals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

const std::string* Headers::find(std::string_view name) const {
  for (const Header& h : fields_)
    if (header_name_equals(h.name, name)) return &h.value;
  return nullptr;
}

std::string Headers::joined(std::string_view name) const {
  std::string out;
  for (const Header& h : fields_) {
    if (!header_name_equals(h.name, name)) continue;
    if (!out.empty()) out += ", ";
    out += h.value;
  }
  return out;
}

void Headers::add(std::string_view name, std::string_view value) {
  fields_.push_back({std::string(name), std::string(value)});
}

void Headers::set(std::string_view name, std::string_view value) {
  // Keep the first field in place so that the order of the others does not
  // change; drop the rest.
  auto first = std::find_if(fields_.begin(), fields_.end(),
                            [&](const Header& h) { return header_name_equals(h.name, name); });
  if (first == fields_.end()) {
    add(name, value);
    return;
  }
  first->value.assign(value);
  fields_.erase(std::remove_if(first + 1, fields_.end(),
                               [&](const Header& h) { return header_name_equals(h.name, name); }),
                fields_.end());
}

size_t Headers::remove(std::string_view name) {
  const size_t before = fields_.size();
  std::erase_if(fields_, [&](const Header& h) { return header_name_equals(h.name, name); });
  return before - fields_.size();
}

size_t Headers::remove_prefix(std::string_view prefix) {
  const size_t before = fields_.size();
  std::erase_if(fields_,
                [&](const Header& h) { return starts_with_ignoring_case(h.name, prefix); });
  return before - fields_.size();
}

std::string HttpRequest::uri() const {
  if (query.empty()) return path;
  std::string out;
  out.reserve(path.size() + 1 + query.size());
  out.append(path).append(1, '?').append(query);
  return out;
}

}  // namespace usher::proxy
