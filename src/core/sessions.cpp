// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/sessions.hpp"

#include <algorithm>

#include "core/crypto.hpp"

namespace freehold {

Sessions::Issued Sessions::create(std::string_view username, Role role, Clock::time_point now) {
  std::erase_if(sessions_, [&](const auto& kv) { return expired(kv.second, now); });
  if (sessions_.size() >= capacity_) {
    auto oldest = std::min_element(sessions_.begin(), sessions_.end(), [](const auto& a, const auto& b) {
      return a.second.last_seen < b.second.last_seen;
    });
    sessions_.erase(oldest);
  }
  Issued out;
  out.token = crypto::base64url(crypto::random_bytes(32));
  out.session = Session{std::string(username), role, crypto::base64url(crypto::random_bytes(24)), "", now, now};
  const std::string key = crypto::sha256(out.token);
  out.session.id = crypto::hex(key.substr(0, 4));
  sessions_[key] = out.session;
  return out;
}

Session* Sessions::find(std::string_view token, Clock::time_point now) {
  if (token.empty() || token.size() > 128) return nullptr;
  auto it = sessions_.find(crypto::sha256(token));
  if (it == sessions_.end()) return nullptr;
  if (expired(it->second, now)) {
    sessions_.erase(it);
    return nullptr;
  }
  it->second.last_seen = now;
  return &it->second;
}

const Session* Sessions::peek(std::string_view token, Clock::time_point now) const {
  if (token.empty() || token.size() > 128) return nullptr;
  auto it = sessions_.find(crypto::sha256(token));
  return it == sessions_.end() || expired(it->second, now) ? nullptr : &it->second;
}

void Sessions::revoke(std::string_view token) { sessions_.erase(crypto::sha256(token)); }

void Sessions::revoke_user(std::string_view username) {
  std::erase_if(sessions_, [&](const auto& kv) { return kv.second.username == username; });
}

void Sessions::set_role(std::string_view username, Role role) {
  for (auto& [k, s] : sessions_) {
    if (s.username == username) s.role = role;
  }
}

}  // namespace freehold
