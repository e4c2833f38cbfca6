#pragma once

// Durable file writes for the data directory (design.md §4): a crash at any
// moment leaves either the old file or the new one, never a torn mix, and
// nothing is removed before its replacement is on disk.

#include <sys/types.h>

#include <string>
#include <string_view>

namespace usher::core {

/// Replaces `path` with `bytes`: writes a temporary file in the same
/// directory with permissions `mode`, fsyncs it, renames it over `path` and
/// fsyncs the directory. Throws std::runtime_error naming the path and the
/// system's reason; on failure `path` is left as it was.
void write_file_atomically(const std::string& path, std::string_view bytes, mode_t mode);

/// Creates `path` and any missing parents with mode 0700. Directories that
/// already exist keep their mode (an admin may have chosen it). Throws
/// std::runtime_error naming the path when one cannot be created.
void ensure_private_directory(const std::string& path);

/// The whole content of `path`. Throws std::runtime_error naming the path.
std::string read_file(const std::string& path);

}  // namespace usher::core
