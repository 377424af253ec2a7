// SPDX-License-Identifier: GPL-3.0-or-later
// Login sessions: a random 256-bit bearer token (sent as an HttpOnly cookie or an Authorization header) and a
// separate CSRF token that cookie-authenticated state changes must echo. Only the token's hash is kept.
// Sessions live in memory: a restart logs everyone out.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/role.hpp"

namespace freehold {

struct Session {
  std::string username;
  Role role = Role::viewer;
  std::string csrf_token;
  std::string id;  // short public identifier for logs and audit (not the token)
  std::chrono::steady_clock::time_point created;
  std::chrono::steady_clock::time_point last_seen;
};

class Sessions final {
 public:
  using Clock = std::chrono::steady_clock;

  Sessions(std::chrono::minutes idle, std::chrono::hours max_age, size_t capacity = 1024)
      : idle_(idle), max_age_(max_age), capacity_(capacity) {}
  void configure(std::chrono::minutes idle, std::chrono::hours max_age) {
    idle_ = idle;
    max_age_ = max_age;
  }

  struct Issued {
    std::string token;
    Session session;
  };
  [[nodiscard]] Issued create(std::string_view username, Role role, Clock::time_point now);
  // The live session for a token, refreshing its idle timer; nullptr if unknown or expired.
  [[nodiscard]] Session* find(std::string_view token, Clock::time_point now);
  // The live session for a token without refreshing it (for long-lived streams).
  [[nodiscard]] const Session* peek(std::string_view token, Clock::time_point now) const;
  void revoke(std::string_view token);
  void revoke_user(std::string_view username);
  void set_role(std::string_view username, Role role);
  [[nodiscard]] size_t size() const { return sessions_.size(); }

 private:
  [[nodiscard]] bool expired(const Session& s, Clock::time_point now) const {
    return now - s.last_seen > idle_ || now - s.created > max_age_;
  }
  std::chrono::minutes idle_;
  std::chrono::hours max_age_;
  size_t capacity_;
  std::unordered_map<std::string, Session> sessions_;  // key: SHA-256 of the token
};

}  // namespace freehold
