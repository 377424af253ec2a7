// SPDX-License-Identifier: GPL-3.0-or-later
// Users, roles and the claim: no account exists until the owner claims the device with the one-time code.
// Passwords are stored as argon2id hashes; the legacy secret that RTSP Digest and ONVIF UsernameToken need is kept
// sealed under the device key (see docs/security.md). Hashing is the caller's job, off the I/O thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/crypto.hpp"
#include "core/db.hpp"
#include "core/role.hpp"

namespace freehold {

struct User {
  std::string username;
  Role role = Role::viewer;
  std::int64_t created = 0;  // Unix seconds
};

struct StoredUser {
  User user;
  std::string password_hash;  // argon2id, libsodium string format
};

// Rules for names: 1–32 of [A-Za-z0-9._-], starting with a letter or digit.
[[nodiscard]] std::optional<std::string> check_username(std::string_view username);
// Rules for passwords: 10–128 bytes, not the user name (nor containing it, ignoring case).
[[nodiscard]] std::optional<std::string> check_password_policy(std::string_view username, std::string_view password);

class Accounts final {
 public:
  Accounts(Database& db, const crypto::DeviceKey& key);

  [[nodiscard]] bool claimed();

  // Opens the claim window if the device is unclaimed and returns the code to show the owner (50 random bits).
  [[nodiscard]] std::optional<std::string> begin_claim();
  [[nodiscard]] bool claim_code_matches(std::string_view typed) const;
  void end_claim() { claim_code_.reset(); }

  [[nodiscard]] std::optional<StoredUser> find(std::string_view username);
  [[nodiscard]] std::vector<User> list();
  [[nodiscard]] int admin_count();

  // Each returns a user-facing error, or nullopt on success. `password_hash` comes from crypto::hash_password.
  [[nodiscard]] std::optional<std::string> create(std::string_view username, Role role, std::string_view password_hash,
                                                  std::string_view password);
  [[nodiscard]] std::optional<std::string> remove(std::string_view username);
  [[nodiscard]] std::optional<std::string> set_role(std::string_view username, Role role);
  [[nodiscard]] std::optional<std::string> set_password(std::string_view username, std::string_view password_hash,
                                                        std::string_view password);

  // The plaintext password for the legacy digest protocols (RTSP, ONVIF); nullopt if unknown.
  [[nodiscard]] std::optional<std::string> legacy_secret(std::string_view username);

 private:
  Database& db_;
  const crypto::DeviceKey& key_;
  std::optional<std::string> claim_code_;  // normalised
};

}  // namespace freehold
