// SPDX-License-Identifier: GPL-3.0-or-later
// Noise_IK_25519_ChaChaPoly_BLAKE2b (noiseprotocol.org, revision 34): the end-to-end handshake and transport
// between an owner's client (initiator, who knows the device's static key) and a device (responder). X25519 and
// BLAKE2b come from libsodium; ChaCha20-Poly1305 from OpenSSL, whose vectorised code is 5x faster on the bulk path.
// Checked against the published noise-c vectors in tests/unit/relay_noise_test.cpp.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace freehold::relay::noise {

using Key = std::array<unsigned char, 32>;
constexpr size_t kTagSize = 16;
constexpr size_t kMaxMessage = 65535;  // Noise's limit on any message, tag included
constexpr size_t kMaxPlaintext = kMaxMessage - kTagSize;

// One direction's key and nonce counter. Message n is sealed with nonce n; a receiver that sees a message out of
// order, twice or altered fails to open it, and the session must then be torn down.
class CipherState final {
 public:
  CipherState();
  ~CipherState();
  CipherState(CipherState&&) noexcept;
  CipherState& operator=(CipherState&&) noexcept;
  CipherState(const CipherState&) = delete;
  CipherState& operator=(const CipherState&) = delete;

  void set_key(const Key& k);
  [[nodiscard]] bool has_key() const { return has_key_; }
  [[nodiscard]] uint64_t nonce() const { return n_; }
  // Writes len + kTagSize bytes to `out` (which may be `in`). False when the nonces are used up.
  [[nodiscard]] bool seal(unsigned char* out, const unsigned char* in, size_t len, std::string_view ad = {});
  // `len` includes the tag; writes len - kTagSize bytes. False (and the nonce not advanced) if it does not verify.
  [[nodiscard]] bool open(unsigned char* out, const unsigned char* in, size_t len, std::string_view ad = {});

 private:
  EVP_CIPHER_CTX* ctx_ = nullptr;
  Key key_{};
  uint64_t n_ = 0;
  bool has_key_ = false;
};

struct Transport {
  CipherState send;
  CipherState receive;
  std::array<unsigned char, 64> handshake_hash{};
};

// The IK handshake: two messages, initiator first.
//   -> e, es, s, ss   (the initiator's static key travels encrypted; its payload is already authenticated)
//   <- e, ee, se
class Handshake final {
 public:
  // `local_secret` is an X25519 private key; `remote_static` the device's X25519 public key (initiator only).
  [[nodiscard]] static Handshake initiator(const Key& local_secret, const Key& remote_static, std::string_view prologue);
  [[nodiscard]] static Handshake responder(const Key& local_secret, std::string_view prologue);
  // Tests only: the ephemeral key to use instead of a random one (the published vectors fix it).
  void set_ephemeral(const Key& secret);

  [[nodiscard]] std::string write_request(std::string_view payload);  // initiator, message 1
  [[nodiscard]] std::optional<std::string> read_request(std::string_view message);  // responder; the payload
  [[nodiscard]] std::string write_response(std::string_view payload);  // responder, message 2
  [[nodiscard]] std::optional<std::string> read_response(std::string_view message);  // initiator; the payload
  // After message 2: the two directions' cipher states (send/receive from this side's point of view).
  [[nodiscard]] Transport split();
  // The initiator's static key, known to the responder after read_request.
  [[nodiscard]] const Key& remote_static() const { return rs_; }

  ~Handshake();
  Handshake(Handshake&&) noexcept = default;
  Handshake& operator=(Handshake&&) noexcept = default;

 private:
  Handshake(bool initiator, const Key& s, std::string_view prologue);
  void mix_hash(std::string_view data);
  void mix_key(const Key& dh_output);
  [[nodiscard]] std::string encrypt_and_hash(std::string_view plaintext);
  [[nodiscard]] std::optional<std::string> decrypt_and_hash(std::string_view ciphertext);
  void ensure_ephemeral();

  bool initiator_;
  Key s_{}, s_pub_{}, e_{}, e_pub_{}, rs_{}, re_{};
  bool have_e_ = false;
  std::array<unsigned char, 64> h_{}, ck_{};
  CipherState c_;
};

}  // namespace freehold::relay::noise
