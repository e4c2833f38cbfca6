#pragma once

// The machinery behind config_yaml: a small schema per config struct (a table
// of fields in the order config.h declares them, each with a codec), walked
// once to write YAML and once to read it. One table per struct keeps writer
// and reader from drifting apart, and keeps every struct's YAML shape in one
// place instead of two hand-written visitors.

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/diagnostic.h"

namespace usher::core {

/// State shared by every reader of one from_yaml call: the file name for
/// diagnostics, where they go, and how deep the maps being read nest.
class YamlReader {
 public:
  YamlReader(std::string file, Diagnostics& diagnostics)
      : file_(std::move(file)), diagnostics_(diagnostics) {}

  void error(int line, std::string message, std::string hint = {});
  const std::string& file() const { return file_; }

  /// Enters a nested map; false (after one diagnostic) when nesting is too deep.
  bool enter(int line);
  void leave() { --depth_; }

  /// Counts one more value read; false (after one diagnostic) past the limit.
  bool take(int line);

 private:
  std::string file_;
  Diagnostics& diagnostics_;
  int depth_ = 0;
  bool reported_depth_ = false;
  int values_ = 0;
};

/// Where a value was found, for messages: the key it belongs to, its line,
/// and whether it is one item of a list under that key.
struct YamlPlace {
  std::string_view key;
  int line = 0;
  bool item = false;

  /// "`key`" or "each item of `key`", the subject of a type error.
  std::string subject() const;
};

/// The 1-based line of a node, or `fallback` when the node has no position.
int yaml_line(const YAML::Node& node, int fallback);

/// Writes a string, quoted whenever a YAML reader could take it for
/// something else (a number, a boolean, null, a flow collection, …).
void emit_string(YAML::Emitter& out, std::string_view text);

/// True when a plain YAML scalar with this text would not read back as a
/// string in YAML 1.1 or 1.2 (`on`, `123`, `1.1`, `null`, `0x1F`, `1:30`…).
bool looks_like_non_string(std::string_view text);

/// How one C++ type is written to and read from YAML.
template <class M>
struct Codec {
  std::function<void(YAML::Emitter&, const M&)> write;
  /// Reads `node` into `out`; on a bad value reports a diagnostic and returns false.
  std::function<bool(const YAML::Node&, const YamlPlace&, YamlReader&, M&)> read;
};

// Scalar codecs. Each rejects values of the wrong type with a message naming
// the key and what it accepts.
Codec<std::string> string_codec();
Codec<bool> bool_codec();
/// Any int: ranges that carry meaning (a status, a count) are checked by
/// validate(), so that whatever to_yaml writes reads back.
Codec<int> int_codec();
Codec<uint16_t> port_codec();
Codec<uint64_t> size_codec();
Codec<Duration> duration_codec();
Codec<Template> template_codec();
/// Status conditions: an exact code as an integer, a class (`5xx`) as a string.
Codec<StatusMatch> status_codec();

/// An enum written as one of a fixed set of lowercase names.
template <class E>
Codec<E> enum_codec(std::vector<std::pair<E, std::string_view>> names) {
  auto expected = [names] {
    std::string out = "expected one of: ";
    for (size_t i = 0; i < names.size(); ++i)
      out += (i ? ", " : "") + std::string(names[i].second);
    return out;
  };
  Codec<E> codec;
  codec.write = [names](YAML::Emitter& out, const E& value) {
    for (const auto& [e, name] : names)
      if (e == value) emit_string(out, name);
  };
  codec.read = [names, expected](const YAML::Node& node, const YamlPlace& place, YamlReader& r,
                                 E& out) {
    if (node.IsScalar()) {
      for (const auto& [e, name] : names) {
        if (node.Scalar() == name) {
          out = e;
          return true;
        }
      }
      r.error(place.line,
              "invalid value `" + node.Scalar() + "` for `" + std::string(place.key) + "`",
              expected());
      return false;
    }
    r.error(place.line, place.subject() + " must be a string", expected());
    return false;
  };
  return codec;
}

/// An optional written only when set (the field machinery omits nullopt).
template <class M>
Codec<std::optional<M>> optional_of(Codec<M> inner) {
  Codec<std::optional<M>> codec;
  codec.write = [inner](YAML::Emitter& out, const std::optional<M>& value) {
    if (value) inner.write(out, *value);
  };
  codec.read = [inner](const YAML::Node& node, const YamlPlace& place, YamlReader& r,
                       std::optional<M>& out) {
    M value{};
    if (!inner.read(node, place, r, value)) return false;
    out = std::move(value);
    return true;
  };
  return codec;
}

/// A vector written as a block list; bad items are reported and skipped so
/// that every bad item of a list is reported at once.
template <class M>
Codec<std::vector<M>> list_of(Codec<M> inner) {
  Codec<std::vector<M>> codec;
  codec.write = [inner](YAML::Emitter& out, const std::vector<M>& values) {
    if (values.empty()) out << YAML::Flow;
    out << YAML::BeginSeq;
    for (const auto& value : values)
      inner.write(out, value);
    out << YAML::EndSeq;
  };
  codec.read = [inner](const YAML::Node& node, const YamlPlace& place, YamlReader& r,
                       std::vector<M>& out) {
    if (!node.IsSequence()) {
      r.error(place.line, place.subject() + " must be a list");
      return false;
    }
    bool ok = true;
    for (const auto& item : node) {
      YamlPlace item_place{place.key, yaml_line(item, place.line), true};
      if (!r.take(item_place.line)) return false;
      M value{};
      if (inner.read(item, item_place, r, value)) {
        out.push_back(std::move(value));
      } else {
        ok = false;
      }
    }
    return ok;
  };
  return codec;
}

/// One key a map may hold, bound to the object its value is read into.
struct BoundKey {
  std::string_view key;
  std::function<void(const YAML::Node& value, const YamlPlace& place)> read;
};

/// Checks that `node` is a map, reporting "`key` must be a map" otherwise.
bool expect_map(const YAML::Node& node, const YamlPlace& place, YamlReader& r);

/// Reads every entry of `map` through `keys`. Unknown and duplicate keys are
/// diagnostics naming `what` (e.g. "route"); with `report_unknown` false,
/// unknown keys are skipped silently (used after an error that makes the
/// set of valid keys unknowable, to avoid a cascade of follow-up errors).
void read_entries(const YAML::Node& map, std::string_view what, const std::vector<BoundKey>& keys,
                  YamlReader& r, bool report_unknown = true);

/// One field of a struct: its key, how to tell it holds its default value
/// (then it is not written), and how to write and read its value.
template <class T>
struct YamlField {
  std::string_view key;
  std::function<bool(const T&)> is_default;
  std::function<void(YAML::Emitter&, const T&)> write;
  std::function<bool(const YAML::Node&, const YamlPlace&, YamlReader&, T&)> read;
};

/// The YAML shape of a struct: its name in messages and its fields in order.
template <class T>
struct YamlStruct {
  std::string_view name;
  std::vector<YamlField<T>> fields;
};

/// The schema of each config struct; the overloads are defined in
/// config_yaml.cpp, one per struct.
template <class T>
struct Tag {};

template <class T>
const YamlStruct<T>& schema(Tag<T>);

/// Writes the fields of `value` that differ from a default-constructed T.
template <class T>
void write_fields(YAML::Emitter& out, const YamlStruct<T>& s, const T& value) {
  for (const auto& f : s.fields) {
    if (f.is_default(value)) continue;
    out << YAML::Key << std::string(f.key) << YAML::Value;
    f.write(out, value);
  }
}

/// True when every field of `value` holds its default (the map would be empty).
template <class T>
bool all_default(const YamlStruct<T>& s, const T& value) {
  for (const auto& f : s.fields)
    if (!f.is_default(value)) return false;
  return true;
}

/// Appends the keys of `s`, bound to `obj`, to `keys`.
template <class T>
void bind_fields(const YamlStruct<T>& s, T& obj, YamlReader& r, std::vector<BoundKey>& keys) {
  for (const auto& f : s.fields) {
    keys.push_back({f.key, [&f, &obj, &r](const YAML::Node& value, const YamlPlace& place) {
                      f.read(value, place, r, obj);
                    }});
  }
}

/// Writes a struct as a block map (`{}` when every field is default).
template <class T>
void write_struct(YAML::Emitter& out, const T& value) {
  const auto& s = schema(Tag<T>{});
  if (all_default(s, value)) out << YAML::Flow;
  out << YAML::BeginMap;
  write_fields(out, s, value);
  out << YAML::EndMap;
}

/// Reads a struct from a map. Structs with an `origin` get the map's position.
template <class T>
bool read_struct(const YAML::Node& node, const YamlPlace& place, YamlReader& r, T& out) {
  if (!expect_map(node, place, r)) return false;
  int line = yaml_line(node, place.line);
  if (!r.enter(line)) return false;
  if constexpr (requires { out.origin; }) out.origin = Origin{r.file(), line};
  const auto& s = schema(Tag<T>{});
  std::vector<BoundKey> keys;
  bind_fields(s, out, r, keys);
  read_entries(node, s.name, keys, r);
  r.leave();
  return true;
}

template <class T>
Codec<T> struct_codec() {
  return {[](YAML::Emitter& out, const T& value) { write_struct(out, value); },
          [](const YAML::Node& node, const YamlPlace& place, YamlReader& r, T& out) {
            return read_struct(node, place, r, out);
          }};
}

template <class M>
struct IsVector : std::false_type {};
template <class M>
struct IsVector<std::vector<M>> : std::true_type {};
template <class M>
struct IsOptional : std::false_type {};
template <class M>
struct IsOptional<std::optional<M>> : std::true_type {};

/// The codec a field gets when none is named: strings, booleans, durations,
/// templates and structs, and lists and optionals of those. Integers and
/// enums always name theirs, since their range or names differ per field.
template <class M>
Codec<M> default_codec() {
  if constexpr (std::is_same_v<M, std::string>) {
    return string_codec();
  } else if constexpr (std::is_same_v<M, bool>) {
    return bool_codec();
  } else if constexpr (std::is_same_v<M, Duration>) {
    return duration_codec();
  } else if constexpr (std::is_same_v<M, Template>) {
    return template_codec();
  } else if constexpr (IsVector<M>::value) {
    return list_of(default_codec<typename M::value_type>());
  } else if constexpr (IsOptional<M>::value) {
    return optional_of(default_codec<typename M::value_type>());
  } else {
    static_assert(std::is_class_v<M>, "integer and enum fields need an explicit codec");
    return struct_codec<M>();
  }
}

/// A field stored in `member`, omitted from the output when it equals the
/// member of a default-constructed T.
template <class T, class M>
YamlField<T> field(std::string_view key, M T::*member, Codec<M> codec = default_codec<M>()) {
  return {key, [member](const T& obj) { return obj.*member == T{}.*member; },
          [member, codec](YAML::Emitter& out, const T& obj) { codec.write(out, obj.*member); },
          [member, codec](const YAML::Node& node, const YamlPlace& place, YamlReader& r, T& obj) {
            M value{};
            if (!codec.read(node, place, r, value)) return false;
            obj.*member = std::move(value);
            return true;
          }};
}

}  // namespace usher::core
