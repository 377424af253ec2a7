// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the configuration parser. Oracle: never crash; every error has a message; whatever parses cleanly
// serialises to TOML that parses back to the same configuration.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 64 * 1024) return -1;
  auto parsed = freehold::parse_config(std::string_view(reinterpret_cast<const char*>(data), size));
  for (const auto& e : parsed.errors) {
    if (e.message.empty()) std::abort();
  }
  if (!parsed.ok()) return 0;
  auto again = freehold::parse_config(freehold::serialize_config(parsed.config));
  if (!again.ok() || !(again.config == parsed.config)) std::abort();
  return 0;
}
