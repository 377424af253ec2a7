// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/lockout.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace freehold {
namespace {
constexpr std::chrono::seconds kMaxLock{3600};
// Failures older than this no longer count towards a lockout.
constexpr std::chrono::minutes kForget{15};
}  // namespace

std::string lockout_source_key(const std::string& address) {
  unsigned char a[16];
  if (address.find(':') == std::string::npos || inet_pton(AF_INET6, address.c_str(), a) != 1) return "ip:" + address;
  char buf[INET6_ADDRSTRLEN];
  std::fill(a + 8, a + 16, 0);
  inet_ntop(AF_INET6, a, buf, sizeof buf);
  return std::string("ip:") + buf + "/64";
}

std::int64_t Lockout::retry_after(std::string_view key, Clock::time_point now) const {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end() || it->second.locked_until <= now) return 0;
  auto left = std::chrono::ceil<std::chrono::seconds>(it->second.locked_until - now);
  return std::max<std::int64_t>(1, left.count());
}

bool Lockout::failure(std::string_view key, Clock::time_point now) {
  auto it = entries_.find(std::string(key));
  if (it == entries_.end()) {
    if (entries_.size() >= capacity_) evict(now);
    it = entries_.emplace(std::string(key), Entry{}).first;
  }
  Entry& e = it->second;
  if (e.failures > 0 && now - e.last_failure > kForget && e.locked_until <= now) e.failures = 0;
  ++e.failures;
  e.last_failure = now;
  if (e.failures < threshold_) return false;
  const bool was_locked = e.locked_until > now;
  int doublings = std::min(e.failures - threshold_, 16);
  auto lock = std::min<std::chrono::seconds>(base_ * (std::int64_t{1} << doublings), kMaxLock);
  e.locked_until = now + lock;
  return !was_locked;
}

void Lockout::evict(Clock::time_point now) {
  // Drop everything that is neither locked nor recent; if that frees nothing, drop the stalest entry.
  std::erase_if(entries_, [&](const auto& kv) {
    return kv.second.locked_until <= now && now - kv.second.last_failure > kForget;
  });
  if (entries_.size() < capacity_) return;
  auto oldest = std::min_element(entries_.begin(), entries_.end(), [](const auto& a, const auto& b) {
    return a.second.last_failure < b.second.last_failure;
  });
  entries_.erase(oldest);
}

}  // namespace freehold
