// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/crypto.hpp"

#include <sodium.h>

#include <cctype>
#include <stdexcept>

#include "core/atomic_file.hpp"

namespace freehold::crypto {
namespace {

// OWASP's argon2id floor (19 MiB, 2 passes): affordable on a 64 MB camera, one login at a time.
constexpr unsigned long long kOpsLimit = 2;
constexpr size_t kMemLimit = 19u * 1024 * 1024;
constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

bool init() { return sodium_init() >= 0; }

std::string random_bytes(size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string base64url(std::string_view bytes) {
  const int variant = sodium_base64_VARIANT_URLSAFE_NO_PADDING;
  std::string out(sodium_base64_encoded_len(bytes.size(), variant), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    variant);
  out.resize(out.find('\0'));
  return out;
}

std::string hex(std::string_view bytes) {
  std::string out(bytes.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  out.pop_back();
  return out;
}

std::string random_code(size_t chars) {
  std::string out;
  for (size_t i = 0; i < chars; ++i) {
    if (i > 0 && i % 5 == 0) out += '-';
    out += kCrockford[randombytes_uniform(32)];
  }
  return out;
}

std::string normalize_code(std::string_view typed) {
  std::string out;
  for (char c : typed) {
    if (c == '-' || c == ' ') continue;
    char u = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (u == 'O') u = '0';
    if (u == 'I' || u == 'L') u = '1';
    out += u;
  }
  return out;
}

bool equal_constant_time(std::string_view a, std::string_view b) {
  // Compare digests so the running time depends on neither content nor length of the secret.
  const std::string da = sha256(a), db = sha256(b);
  return sodium_memcmp(da.data(), db.data(), da.size()) == 0;
}

std::string sha256(std::string_view data) {
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return out;
}

std::string hash_password(std::string_view password) {
  char out[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str_alg(out, password.data(), password.size(), kOpsLimit, kMemLimit,
                            crypto_pwhash_ALG_ARGON2ID13) != 0) {
    throw std::runtime_error("argon2id hashing failed: out of memory");
  }
  return out;
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  std::string h(stored_hash);  // needs a NUL-terminated string
  return crypto_pwhash_str_verify(h.c_str(), password.data(), password.size()) == 0;
}

std::optional<DeviceKey> DeviceKey::load_or_create(const std::filesystem::path& file, std::string* error) {
  std::array<unsigned char, 32> key{};
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
    if (auto err = write_file_atomic(file, std::string_view(reinterpret_cast<const char*>(key.data()), key.size()))) {
      if (error) *error = *err;
      return std::nullopt;
    }
    return DeviceKey(key);
  }
  auto content = read_file(file, error, 64);
  if (!content) return std::nullopt;
  if (content->size() != key.size()) {
    if (error) *error = file.string() + ": device key has " + std::to_string(content->size()) + " bytes, expected 32";
    return std::nullopt;
  }
  std::copy(content->begin(), content->end(), key.begin());
  return DeviceKey(key);
}

std::string DeviceKey::seal(std::string_view plaintext, std::string_view associated) const {
  std::string out(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + plaintext.size() +
                      crypto_aead_xchacha20poly1305_ietf_ABYTES,
                  '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()),
                                             plaintext.size(),
                                             reinterpret_cast<const unsigned char*>(associated.data()),
                                             associated.size(), nullptr, nonce, key_.data());
  return out;
}

std::optional<std::string> DeviceKey::open(std::string_view sealed, std::string_view associated) const {
  constexpr size_t overhead = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (sealed.size() < overhead) return std::nullopt;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  std::string out(sealed.size() - overhead, '\0');
  unsigned long long mlen = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(out.data()), &mlen, nullptr,
          nonce + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          sealed.size() - crypto_aead_xchacha20poly1305_ietf_NPUBBYTES,
          reinterpret_cast<const unsigned char*>(associated.data()), associated.size(), nonce, key_.data()) != 0) {
    return std::nullopt;
  }
  out.resize(mlen);
  return out;
}

}  // namespace freehold::crypto
