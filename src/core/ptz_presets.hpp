// SPDX-License-Identifier: GPL-3.0-or-later
// PTZ positions and the presets list as the ptz.presets setting stores it, so that presets survive restarts and
// every adapter (ONVIF, REST) edits the same list. Positions are in the ONVIF generic spaces: pan and tilt in
// [-1, 1] (tilt +1 up), zoom in [0, 1] (0 wide).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace freehold {

struct PtzPosition {
  double pan = 0;
  double tilt = 0;
  double zoom = 0;
  friend bool operator==(const PtzPosition&, const PtzPosition&) = default;
};

// The position with every axis clamped to its range (NaN becomes 0).
[[nodiscard]] PtzPosition clamp_position(PtzPosition p);

struct PtzPreset {
  std::string token;  // [A-Za-z0-9_-]{1,64}
  std::string name;   // up to kMaxPresetName bytes of printable UTF-8
  PtzPosition position;
};

inline constexpr std::size_t kMaxPresets = 32;
inline constexpr std::size_t kMaxPresetName = 64;

// "token,pan,tilt,zoom,name;…" with '%', ',' and ';' in names written as %25, %2C, %3B. Empty: no presets.
[[nodiscard]] std::string format_presets(const std::vector<PtzPreset>& presets);
// nullopt with `error` saying what is wrong (which entry, which field).
[[nodiscard]] std::optional<std::vector<PtzPreset>> parse_presets(std::string_view text, std::string* error);

// Why a preset name cannot be stored, or nullopt.
[[nodiscard]] std::optional<std::string> check_preset_name(std::string_view name);
[[nodiscard]] bool valid_preset_token(std::string_view token);
// A token not in use: "Preset_1", "Preset_2", …
[[nodiscard]] std::string new_preset_token(const std::vector<PtzPreset>& presets);

}  // namespace freehold
