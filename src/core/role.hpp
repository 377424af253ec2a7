// SPDX-License-Identifier: GPL-3.0-or-later
// The three account roles; they map onto ONVIF's User / Operator / Administrator levels.
#pragma once

#include <optional>
#include <string_view>

namespace freehold {

enum class Role { viewer = 0, operator_ = 1, admin = 2 };

[[nodiscard]] constexpr std::string_view role_name(Role r) {
  switch (r) {
    case Role::viewer: return "viewer";
    case Role::operator_: return "operator";
    case Role::admin: return "admin";
  }
  return "viewer";
}

[[nodiscard]] constexpr std::optional<Role> parse_role(std::string_view s) {
  if (s == "viewer") return Role::viewer;
  if (s == "operator") return Role::operator_;
  if (s == "admin") return Role::admin;
  return std::nullopt;
}

[[nodiscard]] constexpr bool role_at_least(Role have, Role need) {
  return static_cast<int>(have) >= static_cast<int>(need);
}

}  // namespace freehold
