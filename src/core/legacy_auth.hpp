// SPDX-License-Identifier: GPL-3.0-or-later
// The one check for the protocols whose clients prove the password itself rather than a session (RTSP Digest and
// Basic, ONVIF's WS-Security UsernameToken and HTTP Digest): lockout per source address and per user, an unknown
// user costs the same work as a known one, failures are counted and audited. Each protocol only says how its
// credential is verified against the user's secret.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/lockout.hpp"

namespace freehold {

// What the protocol's verifier found. `retry` means the credential was right but must be sent again (an expired
// Digest nonce): neither a success nor a failure.
enum class Proof { ok, wrong, retry };

struct LegacyOutcome {
  enum class Status { ok, refused, locked, retry } status = Status::refused;
  std::optional<User> user;        // set when ok
  std::int64_t retry_after_s = 0;  // set when locked
  std::string why;                 // the verifier's reason for a refusal (for logs and the audit, never a secret)
};

class LegacyAuth final {
 public:
  LegacyAuth(Accounts& accounts, Lockout& lockout, Audit& audit)
      : accounts_(accounts), lockout_(lockout), audit_(audit) {}

  // `verify` receives the user's secret (a random one for unknown users) and writes a reason into `why` when it
  // refuses. `protocol` names the audit action: "<protocol>_login_failed".
  using Verifier = std::function<Proof(std::string_view secret, std::string& why)>;
  [[nodiscard]] LegacyOutcome check(std::string_view protocol, const std::string& remote, std::string_view username,
                                    const Verifier& verify);

 private:
  Accounts& accounts_;
  Lockout& lockout_;
  Audit& audit_;
};

}  // namespace freehold
