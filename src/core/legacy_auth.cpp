// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/legacy_auth.hpp"

#include <algorithm>

#include "core/crypto.hpp"

namespace freehold {

LegacyOutcome LegacyAuth::check(std::string_view protocol, const std::string& remote, std::string_view username,
                                const Verifier& verify) {
  const auto now = Lockout::Clock::now();
  const std::string source = lockout_source_key(remote);
  const std::string user_key = "user:" + std::string(username);
  LegacyOutcome out;
  if (auto wait = std::max(lockout_.retry_after(source, now), lockout_.retry_after(user_key, now))) {
    out.status = LegacyOutcome::Status::locked;
    out.retry_after_s = wait;
    return out;
  }
  auto stored = accounts_.find(username);
  auto secret = stored ? accounts_.legacy_secret(username) : std::nullopt;
  // An unknown user is checked against a random secret: the same work and the same answer as a wrong password.
  const std::string checked = secret ? *secret : crypto::random_bytes(16);
  const Proof proof = verify(checked, out.why);
  if (proof == Proof::ok && secret) {
    lockout_.success(source);
    lockout_.success(user_key);
    out.status = LegacyOutcome::Status::ok;
    out.user = stored->user;
    return out;
  }
  if (proof == Proof::retry && secret) {
    out.status = LegacyOutcome::Status::retry;
    return out;
  }
  if (out.why.empty()) out.why = "wrong user name or password";
  lockout_.failure(source, now);
  lockout_.failure(user_key, now);
  audit_.record(user_key, remote, std::string(protocol) + "_login_failed", out.why);
  out.status = LegacyOutcome::Status::refused;
  return out;
}

}  // namespace freehold
