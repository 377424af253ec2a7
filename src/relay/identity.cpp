// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/identity.hpp"

#include <sodium.h>

#include "core/atomic_file.hpp"

namespace freehold::relay {
namespace {

constexpr std::string_view kAlphabet = "abcdefghijklmnopqrstuvwxyz234567";
constexpr std::string_view kIdContext = "freehold-id-v1";
constexpr std::string_view kKeyFileTag = "freehold-ed25519-seed-v1 ";

std::string b64(const unsigned char* p, size_t n) {
  std::string out(sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

bool unb64(std::string_view text, unsigned char* out, size_t n) {
  size_t len = 0;
  return sodium_base642bin(out, n, text.data(), text.size(), nullptr, &len, nullptr,
                           sodium_base64_VARIANT_URLSAFE_NO_PADDING) == 0 && len == n;
}

}  // namespace

Id id_of(const PublicKey& key) {
  Id id{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, id.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(kIdContext.data()), kIdContext.size());
  crypto_generichash_update(&st, key.data(), key.size());
  crypto_generichash_final(&st, id.data(), id.size());
  return id;
}

std::string id_text(const Id& id) {
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (unsigned char b : id) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += kAlphabet[(buffer >> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;  // 160 bits: exactly 32 characters, no remainder
}

std::optional<Id> parse_id(std::string_view text) {
  if (text.size() != 32) return std::nullopt;
  Id id{};
  unsigned buffer = 0;
  int bits = 0;
  size_t at = 0;
  for (char c : text) {
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    const auto v = kAlphabet.find(lower);
    if (v == std::string_view::npos) return std::nullopt;
    buffer = (buffer << 5) | static_cast<unsigned>(v);
    bits += 5;
    if (bits >= 8) {
      id[at++] = static_cast<unsigned char>(buffer >> (bits - 8));
      bits -= 8;
    }
  }
  return id;
}

std::string key_text(const PublicKey& key) { return b64(key.data(), key.size()); }

std::optional<PublicKey> parse_key(std::string_view text) {
  PublicKey k{};
  if (!unb64(text, k.data(), k.size())) return std::nullopt;
  return k;
}

std::optional<std::array<unsigned char, 32>> x25519_of(const PublicKey& key) {
  std::array<unsigned char, 32> x{};
  if (crypto_sign_ed25519_pk_to_curve25519(x.data(), key.data()) != 0) return std::nullopt;
  return x;
}

bool verify(const PublicKey& key, std::string_view message, const Signature& signature) {
  return crypto_sign_verify_detached(signature.data(), reinterpret_cast<const unsigned char*>(message.data()),
                                     message.size(), key.data()) == 0;
}

Identity Identity::generate() {
  Identity id;
  crypto_sign_keypair(id.public_.data(), id.secret_.data());
  return id;
}

Identity Identity::from_seed(const std::array<unsigned char, 32>& seed) {
  Identity id;
  crypto_sign_seed_keypair(id.public_.data(), id.secret_.data(), seed.data());
  return id;
}

Identity::~Identity() { sodium_memzero(secret_.data(), secret_.size()); }

std::optional<Identity> Identity::load(const std::filesystem::path& file, bool create, std::string* error) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    if (!create) {
      *error = file.string() + ": no such key file";
      return std::nullopt;
    }
    Identity fresh = generate();
    if (auto e = fresh.save(file)) {
      *error = *e;
      return std::nullopt;
    }
    return fresh;
  }
  auto text = read_file(file, error, 4096);
  if (!text) return std::nullopt;
  std::string_view t = *text;
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.remove_suffix(1);
  std::array<unsigned char, 32> seed{};
  if (!t.starts_with(kKeyFileTag) || !unb64(t.substr(kKeyFileTag.size()), seed.data(), seed.size())) {
    *error = file.string() + ": not a Freehold key file (expected \"" + std::string(kKeyFileTag) + "<base64url seed>\")";
    return std::nullopt;
  }
  Identity id = from_seed(seed);
  sodium_memzero(seed.data(), seed.size());
  return id;
}

std::optional<std::string> Identity::save(const std::filesystem::path& file) const {
  std::string text = std::string(kKeyFileTag) + b64(secret_.data(), 32) + "\n";
  auto r = write_file_atomic(file, text, 0600);
  sodium_memzero(text.data(), text.size());
  return r;
}

Signature Identity::sign(std::string_view message) const {
  Signature s{};
  crypto_sign_detached(s.data(), nullptr, reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_.data());
  return s;
}

std::array<unsigned char, 32> Identity::x25519_secret() const {
  std::array<unsigned char, 32> x{};
  crypto_sign_ed25519_sk_to_curve25519(x.data(), secret_.data());
  return x;
}

}  // namespace freehold::relay
