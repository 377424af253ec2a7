// SPDX-License-Identifier: GPL-3.0-or-later
// The JSON payloads of the two Noise handshake messages (docs/relay-protocol.md, "Message 1" and "Message 2"):
// what the client asks for, and the device's authenticated answer. Both sides parse what the other wrote; the
// parsers accept only the documented shape and never throw.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "relay/identity.hpp"

namespace freehold::relay {

struct SessionRequest {
  std::string service;  // rtsp, https, onvif, http
  PublicKey key{};      // the client's Ed25519 key; its X25519 form must be the handshake's static key
  std::string grant;    // empty for a paired client
};
[[nodiscard]] std::string session_request_json(const SessionRequest& request);
// nullopt with the problem for anything but {"v":1,"service":…,"key":…[,"grant":…]}.
[[nodiscard]] std::optional<SessionRequest> parse_session_request(std::string_view text, std::string* error);

// What the device decides about a client that completed the handshake.
struct Admission {
  bool ok = false;
  std::string role;     // admin, operator, viewer
  std::string error;    // not_paired, revoked, grant_expired, grant_invalid, unknown_service, service_unavailable
  std::string message;  // for the client's user
};
[[nodiscard]] std::string session_answer_json(const Admission& answer);
// An unreadable answer is a refusal with error "bad_answer".
[[nodiscard]] Admission parse_session_answer(std::string_view text);

}  // namespace freehold::relay
