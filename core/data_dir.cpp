#include "core/data_dir.h"

#include <cstdlib>
#include <stdexcept>

namespace usher::core {

namespace {

std::optional<std::string> process_getenv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

// An unset and an empty variable mean the same: not configured.
std::optional<std::string> non_empty(std::optional<std::string> value) {
  if (value && value->empty()) return std::nullopt;
  return value;
}

// systemd passes one path per StateDirectory= entry, colon-separated; the
// first one is ours.
std::optional<std::string> first_state_directory(const std::string& list) {
  std::string first = list.substr(0, list.find(':'));
  if (first.empty()) return std::nullopt;
  return first;
}

}  // namespace

std::string data_directory(
    const std::string& configured,
    const std::function<std::optional<std::string>(const std::string&)>& getenv) {
  if (!configured.empty()) return configured;
  auto lookup = getenv ? getenv : process_getenv;
  if (auto state = non_empty(lookup("STATE_DIRECTORY"))) {
    if (auto first = first_state_directory(*state)) return *first;
  }
  // The XDG base directory spec says relative values are invalid and must be
  // ignored.
  if (auto xdg = non_empty(lookup("XDG_DATA_HOME")); xdg && xdg->front() == '/') {
    return *xdg + "/usher";
  }
  if (auto home = non_empty(lookup("HOME"))) return *home + "/.local/share/usher";
  throw std::runtime_error(
      "no data directory: HOME is not set; set one with the global option `storage file_system "
      "PATH` or the STATE_DIRECTORY environment variable");
}

}  // namespace usher::core
