// SPDX-License-Identifier: GPL-3.0-or-later
// Long-term identities of the relay protocol. Every device and every owner client holds one Ed25519 key pair: it
// signs (relay authentication, grants) and, converted to X25519, is the static key of the end-to-end Noise IK
// handshake. An ID is the lowercase RFC 4648 base32 of BLAKE2b-160("freehold-id-v1" || Ed25519 public key):
// 32 characters, 160 bits, derived from the key and never sequential. docs/relay-protocol.md has the vectors.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::relay {

using PublicKey = std::array<unsigned char, 32>;  // Ed25519
using Signature = std::array<unsigned char, 64>;
using Id = std::array<unsigned char, 20>;

[[nodiscard]] Id id_of(const PublicKey& key);
[[nodiscard]] std::string id_text(const Id& id);
// Accepts an ID typed in either case; nullopt unless it is 32 base32 characters.
[[nodiscard]] std::optional<Id> parse_id(std::string_view text);

// Public keys as text: unpadded base64url of the 32 bytes.
[[nodiscard]] std::string key_text(const PublicKey& key);
[[nodiscard]] std::optional<PublicKey> parse_key(std::string_view text);

// The X25519 public key the Noise handshake uses for this Ed25519 key; nullopt for a key not on the curve.
[[nodiscard]] std::optional<std::array<unsigned char, 32>> x25519_of(const PublicKey& key);

[[nodiscard]] bool verify(const PublicKey& key, std::string_view message, const Signature& signature);

class Identity final {
 public:
  [[nodiscard]] static Identity generate();
  [[nodiscard]] static Identity from_seed(const std::array<unsigned char, 32>& seed);
  // Reads the key file, or creates it (0600) when `create` is set and it does not exist.
  [[nodiscard]] static std::optional<Identity> load(const std::filesystem::path& file, bool create, std::string* error);
  [[nodiscard]] std::optional<std::string> save(const std::filesystem::path& file) const;

  [[nodiscard]] const PublicKey& public_key() const { return public_; }
  [[nodiscard]] Id id() const { return id_of(public_); }
  [[nodiscard]] Signature sign(std::string_view message) const;
  // The X25519 private key for Noise (libsodium's conversion of the Ed25519 secret).
  [[nodiscard]] std::array<unsigned char, 32> x25519_secret() const;

  Identity(const Identity&) = default;
  Identity& operator=(const Identity&) = default;
  ~Identity();

 private:
  Identity() = default;
  std::array<unsigned char, 64> secret_{};  // libsodium's seed || public key
  PublicKey public_{};
};

}  // namespace freehold::relay
