// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/accounts.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace freehold {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return std::tolower(c); });
  return out;
}

}  // namespace

std::optional<std::string> check_username(std::string_view username) {
  if (username.empty() || username.size() > 32) return "user name must be 1 to 32 characters";
  if (!std::isalnum(static_cast<unsigned char>(username.front()))) return "user name must start with a letter or digit";
  for (unsigned char c : username) {
    if (!std::isalnum(c) && c != '.' && c != '_' && c != '-') {
      return "user name may contain only letters, digits, '.', '_' and '-'";
    }
  }
  return std::nullopt;
}

std::optional<std::string> check_password_policy(std::string_view username, std::string_view password) {
  if (password.size() < 10) return "password must be at least 10 characters";
  if (password.size() > 128) return "password must be at most 128 characters";
  if (!username.empty() && lower(password).find(lower(username)) != std::string::npos) {
    return "password must not contain the user name";
  }
  return std::nullopt;
}

Accounts::Accounts(Database& db, const crypto::DeviceKey& key) : db_(db), key_(key) {
  db_.exec(
      "CREATE TABLE IF NOT EXISTS users (username TEXT PRIMARY KEY NOT NULL, role TEXT NOT NULL, "
      "password_hash TEXT NOT NULL, legacy_secret BLOB NOT NULL, created INTEGER NOT NULL)");
}

bool Accounts::claimed() {
  auto st = db_.prepare("SELECT COUNT(*) FROM users");
  return st.step() && st.integer(0) > 0;
}

std::optional<std::string> Accounts::begin_claim() {
  if (claimed()) return std::nullopt;
  std::string code = crypto::random_code(10);
  claim_code_ = crypto::normalize_code(code);
  return code;
}

bool Accounts::claim_code_matches(std::string_view typed) const {
  return claim_code_ && crypto::equal_constant_time(crypto::normalize_code(typed), *claim_code_);
}

std::optional<StoredUser> Accounts::find(std::string_view username) {
  auto st = db_.prepare("SELECT username, role, created, password_hash FROM users WHERE username = ?");
  st.bind(1, username);
  if (!st.step()) return std::nullopt;
  return StoredUser{{st.text(0), parse_role(st.text(1)).value_or(Role::viewer), st.integer(2)}, st.text(3)};
}

std::vector<User> Accounts::list() {
  std::vector<User> out;
  auto st = db_.prepare("SELECT username, role, created FROM users ORDER BY username");
  while (st.step()) out.push_back({st.text(0), parse_role(st.text(1)).value_or(Role::viewer), st.integer(2)});
  return out;
}

int Accounts::admin_count() {
  auto st = db_.prepare("SELECT COUNT(*) FROM users WHERE role = 'admin'");
  return st.step() ? static_cast<int>(st.integer(0)) : 0;
}

std::optional<std::string> Accounts::create(std::string_view username, Role role, std::string_view password_hash,
                                            std::string_view password) {
  if (auto e = check_username(username)) return e;
  if (auto e = check_password_policy(username, password)) return e;
  if (find(username)) return "user '" + std::string(username) + "' already exists";
  db_.prepare("INSERT INTO users (username, role, password_hash, legacy_secret, created) VALUES (?, ?, ?, ?, ?)")
      .bind(1, username)
      .bind(2, role_name(role))
      .bind(3, password_hash)
      .bind_blob(4, key_.seal(password, username))
      .bind(5, static_cast<std::int64_t>(std::time(nullptr)))
      .run();
  return std::nullopt;
}

std::optional<std::string> Accounts::remove(std::string_view username) {
  auto u = find(username);
  if (!u) return "no user named '" + std::string(username) + "'";
  if (u->user.role == Role::admin && admin_count() <= 1) return "cannot remove the last admin";
  db_.prepare("DELETE FROM users WHERE username = ?").bind(1, username).run();
  return std::nullopt;
}

std::optional<std::string> Accounts::set_role(std::string_view username, Role role) {
  auto u = find(username);
  if (!u) return "no user named '" + std::string(username) + "'";
  if (u->user.role == Role::admin && role != Role::admin && admin_count() <= 1) {
    return "cannot demote the last admin";
  }
  db_.prepare("UPDATE users SET role = ? WHERE username = ?").bind(1, role_name(role)).bind(2, username).run();
  return std::nullopt;
}

std::optional<std::string> Accounts::set_password(std::string_view username, std::string_view password_hash,
                                                  std::string_view password) {
  if (!find(username)) return "no user named '" + std::string(username) + "'";
  if (auto e = check_password_policy(username, password)) return e;
  db_.prepare("UPDATE users SET password_hash = ?, legacy_secret = ? WHERE username = ?")
      .bind(1, password_hash)
      .bind_blob(2, key_.seal(password, username))
      .bind(3, username)
      .run();
  return std::nullopt;
}

std::optional<std::string> Accounts::legacy_secret(std::string_view username) {
  auto st = db_.prepare("SELECT legacy_secret FROM users WHERE username = ?");
  st.bind(1, username);
  if (!st.step()) return std::nullopt;
  return key_.open(st.text(0), username);
}

}  // namespace freehold
