// SPDX-License-Identifier: GPL-3.0-or-later
// WS-Security UsernameToken (OASIS UsernameToken Profile 1.0) as ONVIF clients send it: PasswordDigest =
// Base64(SHA-1(nonce ‖ created ‖ password)), or PasswordText (accepted only over TLS, by the caller). Created is
// checked against the clock with a skew allowance and every nonce is remembered until its token could no longer be
// accepted, so a captured header cannot be replayed.
#pragma once

#include <pugixml.hpp>

#include <chrono>
#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>

namespace freehold::onvif {

struct UsernameToken {
  std::string username;
  std::string password;  // the digest (Base64) or the plain text
  bool digest = false;
  std::string nonce;    // decoded bytes; empty if absent
  std::string created;  // as sent
};

// Finds wsse:Security/wsse:UsernameToken in the SOAP header. nullopt without a token; `error` set when a token is
// there but malformed (bad Base64 nonce, unknown password type, missing Username).
[[nodiscard]] std::optional<UsernameToken> find_username_token(pugi::xml_node header, std::string* error);

// xs:dateTime in UTC as clients write it: "2026-11-23T10:00:00Z" with 0–9 fraction digits, or with "+00:00" /
// "-05:30" offsets (converted to UTC). nullopt if it is not a valid time.
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_datetime(std::string_view text);

// Base64(SHA-1(nonce ‖ created ‖ password)).
[[nodiscard]] std::string password_digest(std::string_view nonce, std::string_view created,
                                          std::string_view password);

enum class TokenVerdict { ok, wrong_password, stale, replayed, bad_created, digest_without_nonce };
[[nodiscard]] std::string_view to_string(TokenVerdict v);

// Remembers nonces for the acceptance window. Bounded: when full the oldest are forgotten, and tokens older than the
// oldest remembered one are refused as stale, so forgetting never lets a replay through.
class NonceCache final {
 public:
  using Clock = std::chrono::system_clock;
  explicit NonceCache(std::chrono::seconds window = std::chrono::minutes(5), std::size_t capacity = 16384)
      : window_(window), capacity_(capacity) {}

  // Checks Created against `now` (±window) and the password (digest or text), then records the nonce. The
  // comparison is constant-time; `secret` is the user's password.
  [[nodiscard]] TokenVerdict verify(const UsernameToken& token, std::string_view secret, Clock::time_point now);

 private:
  struct Entry {
    Clock::time_point created;
    std::string key;
  };
  void expire(Clock::time_point now);

  std::chrono::seconds window_;
  std::size_t capacity_;
  std::deque<Entry> order_;
  std::unordered_set<std::string> seen_;
  Clock::time_point floor_{};  // tokens created before this were forgotten under pressure
};

}  // namespace freehold::onvif
