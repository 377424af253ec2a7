// SPDX-License-Identifier: GPL-3.0-or-later
// Who may open sessions to this device (docs/relay-protocol.md, "Pairing and access"): the owner's paired clients,
// kept in a 0600 JSON file in the state directory, and other people's clients that present a grant signed by a
// paired admin client. Revoked clients go on a block list that outlives their grants. For the I/O thread only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "core/role.hpp"
#include "relay/endpoint.hpp"
#include "relay/identity.hpp"

namespace freehold::relay {

// Grants: "fhg1." + base64url of the signed 175 bytes.
[[nodiscard]] std::string make_grant(const Identity& issuer, const Id& device, const PublicKey& client, Role role,
                                     int64_t not_after);
struct Grant {
  Id device{};
  PublicKey client{};
  Role role = Role::viewer;
  int64_t not_after = 0;
  PublicKey issuer{};
};
// Decodes and checks the signature; the error says what is wrong. Whether the issuer may grant is the caller's.
[[nodiscard]] std::optional<Grant> parse_grant(std::string_view text, std::string* error);

struct PairedClient {
  Id id{};
  PublicKey key{};
  std::string name;
  Role role = Role::admin;
  int64_t added = 0;  // Unix seconds
};

class ClientAccess final {
 public:
  // Loads `file` (a missing file is an empty list); nullopt with the error for a damaged one.
  [[nodiscard]] static std::optional<ClientAccess> load(const std::filesystem::path& file, std::string* error);
  [[nodiscard]] const std::vector<PairedClient>& clients() const { return clients_; }
  [[nodiscard]] const std::vector<Id>& blocked() const { return blocked_; }
  // Adds or updates a pairing (and lifts a block on it); writes the file.
  [[nodiscard]] std::optional<std::string> pair(const PublicKey& key, std::string name, Role role, int64_t now);
  // Removes a pairing, or blocks a client that came with a grant; writes the file. False if the ID was neither
  // paired nor ever seen, and is blocked anyway.
  [[nodiscard]] std::optional<std::string> revoke(const Id& id);
  // The decision for a client that proved `key` in the handshake. `owners` are keys from the relay.owners setting
  // (admins by configuration).
  [[nodiscard]] Admission admit(const PublicKey& key, const std::string& grant, const Id& device,
                                const std::vector<PublicKey>& owners, int64_t now) const;

 private:
  std::optional<std::string> save() const;
  std::filesystem::path file_;
  std::vector<PairedClient> clients_;
  std::vector<Id> blocked_;
};

}  // namespace freehold::relay
