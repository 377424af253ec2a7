// SPDX-License-Identifier: GPL-3.0-or-later
// Failed-authentication backoff, keyed by source address or by user name. After `threshold` failures a key is
// locked for `base`, doubling with each further failure up to one hour; a success clears it.
// Bounded: at most `capacity` keys are tracked; the stalest are forgotten first.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace freehold {

// The lockout key of a source address: the address, or its /64 for IPv6, since one host can use a whole /64.
// Every protocol that authenticates (REST, RTSP, ONVIF) keys by this, so a source locked in one is locked in all.
[[nodiscard]] std::string lockout_source_key(const std::string& address);

class Lockout final {
 public:
  using Clock = std::chrono::steady_clock;

  Lockout(int threshold, std::chrono::seconds base, size_t capacity = 8192)
      : threshold_(threshold), base_(base), capacity_(capacity) {}

  void configure(int threshold, std::chrono::seconds base) {
    threshold_ = threshold;
    base_ = base;
  }
  // Seconds until `key` may try again; 0 when it is not locked.
  [[nodiscard]] std::int64_t retry_after(std::string_view key, Clock::time_point now) const;
  // Counts a failure; true when this failure starts a lockout.
  bool failure(std::string_view key, Clock::time_point now);
  void success(std::string_view key) { entries_.erase(std::string(key)); }
  [[nodiscard]] size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int failures = 0;
    Clock::time_point last_failure;
    Clock::time_point locked_until;
  };
  void evict(Clock::time_point now);

  int threshold_;
  std::chrono::seconds base_;
  size_t capacity_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace freehold
