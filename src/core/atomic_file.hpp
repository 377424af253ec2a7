// SPDX-License-Identifier: GPL-3.0-or-later
// Crash-safe file replacement: after a power cut at any instant the path holds the old or the new content.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace freehold {

// Writes `content` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs the directory.
// The file gets `mode` (0600 by default: config and state files may hold secrets).
// Returns an error message naming the failed step, or nullopt on success.
[[nodiscard]] std::optional<std::string> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                                                           unsigned mode = 0600);

// Reads a whole file; nullopt (with `error` set) if it cannot be opened or exceeds `max_bytes`.
[[nodiscard]] std::optional<std::string> read_file(const std::filesystem::path& path, std::string* error,
                                                   size_t max_bytes = 1 << 20);

}  // namespace freehold
