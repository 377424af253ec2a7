// SPDX-License-Identifier: GPL-3.0-or-later
// Small cryptographic helpers over libsodium: randomness, encodings, constant-time comparison, password hashing
// and the device key that protects secrets at rest.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::crypto {

// Must be called once before any other function (initialises libsodium); false if the system has no entropy.
[[nodiscard]] bool init();

[[nodiscard]] std::string random_bytes(size_t n);
[[nodiscard]] std::string base64url(std::string_view bytes);  // no padding
[[nodiscard]] std::string hex(std::string_view bytes);
// Crockford base32 (no I, L, O, U), grouped for reading aloud: "7KQ2M-XW9RD". 10 characters = 50 bits.
[[nodiscard]] std::string random_code(size_t chars);
// Upper-cases, maps O->0 and I/L->1 and drops dashes and spaces, so a code can be typed loosely.
[[nodiscard]] std::string normalize_code(std::string_view typed);

[[nodiscard]] bool equal_constant_time(std::string_view a, std::string_view b);
[[nodiscard]] std::string sha256(std::string_view data);

// argon2id (libsodium crypto_pwhash_str). Slow by design (~50–100 ms): never call on the I/O thread.
[[nodiscard]] std::string hash_password(std::string_view password);
[[nodiscard]] bool verify_password(std::string_view stored_hash, std::string_view password);

// A 256-bit key kept in a 0600 file in the state directory; encrypts secrets that must be recoverable
// (the legacy RTSP/ONVIF password secret). XChaCha20-Poly1305 with the record's owner as associated data.
class DeviceKey final {
 public:
  // Loads the key, creating it atomically if the file does not exist. nullopt with `error` on failure.
  [[nodiscard]] static std::optional<DeviceKey> load_or_create(const std::filesystem::path& file, std::string* error);
  [[nodiscard]] std::string seal(std::string_view plaintext, std::string_view associated) const;
  [[nodiscard]] std::optional<std::string> open(std::string_view sealed, std::string_view associated) const;

 private:
  explicit DeviceKey(std::array<unsigned char, 32> k) : key_(k) {}
  std::array<unsigned char, 32> key_{};
};

}  // namespace freehold::crypto
