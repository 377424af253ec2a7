// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/records.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/tls1.h>

#include <cstring>
#include <string_view>

namespace freehold::relay {
namespace {

constexpr size_t kSecret = 32;  // SHA-256 suites only
constexpr size_t kTag = 16;
constexpr size_t kMaxPlain = 1 << 14;
constexpr uint8_t kApplicationData = 23, kAlert = 21, kHandshake = 22, kKeyUpdate = 24;

struct Secrets {
  std::array<unsigned char, kSecret> client{}, server{}, exporter{};
  int have = 0;  // bits: 1 client, 2 server, 4 exporter
  ~Secrets() { OPENSSL_cleanse(this, sizeof *this); }
};

int secrets_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr,
                                                [](void*, void* p, CRYPTO_EX_DATA*, int, long, void*) {
                                                  delete static_cast<Secrets*>(p);
                                                });
  return index;
}

bool unhex(std::string_view h, unsigned char* out, size_t n) {
  if (h.size() != 2 * n) return false;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (size_t i = 0; i < n; ++i) {
    const int hi = nibble(h[2 * i]), lo = nibble(h[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

// "LABEL <client random> <secret>", NSS key log format: keeps the three secrets the record layer needs.
void keylog(const SSL* ssl, const char* line) {
  const std::string_view l(line);
  const auto sp1 = l.find(' '), sp2 = l.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return;
  const auto label = l.substr(0, sp1), secret = l.substr(sp2 + 1);
  auto* s = static_cast<Secrets*>(SSL_get_ex_data(ssl, secrets_index()));
  if (!s) {
    s = new Secrets;
    if (SSL_set_ex_data(const_cast<SSL*>(ssl), secrets_index(), s) != 1) {
      delete s;
      return;
    }
  }
  if (label == "CLIENT_TRAFFIC_SECRET_0" && unhex(secret, s->client.data(), kSecret)) s->have |= 1;
  if (label == "SERVER_TRAFFIC_SECRET_0" && unhex(secret, s->server.data(), kSecret)) s->have |= 2;
  if (label == "EXPORTER_SECRET" && unhex(secret, s->exporter.data(), kSecret)) s->have |= 4;
}

// RFC 8446 §7.1 HKDF-Expand-Label with SHA-256, for outputs of at most one hash (32 bytes).
[[nodiscard]] bool expand_label(const unsigned char* secret, std::string_view label, std::string_view context,
                                unsigned char* out, size_t length) {
  std::string info;
  info += static_cast<char>(length >> 8);
  info += static_cast<char>(length & 0xff);
  info += static_cast<char>(6 + label.size());
  info += "tls13 ";
  info += label;
  info += static_cast<char>(context.size());
  info += context;
  info += '\x01';  // HKDF-Expand's counter: one block is enough
  unsigned char block[kSecret];
  size_t n = 0;
  const bool ok = EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret, kSecret,
                            reinterpret_cast<const unsigned char*>(info.data()), info.size(), block, sizeof block,
                            &n) != nullptr && n == kSecret;
  if (ok) std::memcpy(out, block, length);
  OPENSSL_cleanse(block, sizeof block);
  return ok;
}

std::string empty_hash() {
  unsigned char h[SHA256_DIGEST_LENGTH];
  SHA256(nullptr, 0, h);
  return {reinterpret_cast<const char*>(h), sizeof h};
}

// One context per suite and thread, re-keyed for every record: no cipher state is kept per link.
EVP_CIPHER_CTX* cipher_context(bool chacha) {
  struct Contexts {
    EVP_CIPHER_CTX* aes = nullptr;
    EVP_CIPHER_CTX* chacha = nullptr;
    ~Contexts() {
      EVP_CIPHER_CTX_free(aes);
      EVP_CIPHER_CTX_free(chacha);
    }
  };
  thread_local Contexts c;
  auto*& ctx = chacha ? c.chacha : c.aes;
  if (!ctx) {
    ctx = EVP_CIPHER_CTX_new();
    EVP_CipherInit_ex(ctx, chacha ? EVP_chacha20_poly1305() : EVP_aes_128_gcm(), nullptr, nullptr, nullptr, 1);
  }
  return ctx;
}

}  // namespace

void record_secrets(SSL_CTX* ctx) {
  SSL_CTX_set_keylog_callback(ctx, keylog);
  // The relay's order, AES-GCM first: with AES instructions it is the cheaper of the two for the relay, which
  // carries every link (a peer without them still gets ChaCha20-Poly1305 if it offers only that).
  SSL_CTX_set_ciphersuites(ctx, "TLS_AES_128_GCM_SHA256:TLS_CHACHA20_POLY1305_SHA256");
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
}

std::optional<Records> Records::take(SSL* ssl) {
  auto* s = static_cast<Secrets*>(SSL_get_ex_data(ssl, secrets_index()));
  const SSL_CIPHER* suite = SSL_get_current_cipher(ssl);
  if (!s || s->have != 7 || !SSL_is_server(ssl) || SSL_version(ssl) != TLS1_3_VERSION || !suite ||
      SSL_has_pending(ssl))
    return std::nullopt;
  const auto id = SSL_CIPHER_get_id(suite);
  if (id != TLS1_3_CK_AES_128_GCM_SHA256 && id != TLS1_3_CK_CHACHA20_POLY1305_SHA256) return std::nullopt;
  auto r = from_secrets(id == TLS1_3_CK_CHACHA20_POLY1305_SHA256, s->client, s->server, s->exporter);
  SSL_set_ex_data(ssl, secrets_index(), nullptr);
  delete s;  // wipes them
  return r;
}

std::optional<Records> Records::from_secrets(bool chacha, const Secret& read, const Secret& write,
                                             const Secret& exporter) {
  Records r;
  r.chacha_ = chacha;
  r.read_.secret = read;
  r.write_.secret = write;
  r.exporter_secret_ = exporter;
  if (!r.set_keys(r.read_) || !r.set_keys(r.write_)) return std::nullopt;
  return r;
}

Records::~Records() {
  OPENSSL_cleanse(&read_, sizeof read_);
  OPENSSL_cleanse(&write_, sizeof write_);
  OPENSSL_cleanse(exporter_secret_.data(), exporter_secret_.size());
}

void Records::forget_exporter() {
  OPENSSL_cleanse(exporter_secret_.data(), exporter_secret_.size());
  have_exporter_ = false;
}

bool Records::set_keys(Direction& d) const {
  d.seq = 0;
  return expand_label(d.secret.data(), "key", "", d.key.data(), chacha_ ? 32 : 16) &&
         expand_label(d.secret.data(), "iv", "", d.iv.data(), d.iv.size());
}

bool Records::update(Direction& d) const {
  std::array<unsigned char, kSecret> next{};
  const bool ok = expand_label(d.secret.data(), "traffic upd", "", next.data(), next.size());
  d.secret = next;
  OPENSSL_cleanse(next.data(), next.size());
  return ok && set_keys(d);
}

std::string Records::exporter(std::string_view label, size_t length) const {
  // TLS-Exporter(label, "", length) = HKDF-Expand-Label(Derive-Secret(exporter_secret, label, ""), "exporter",
  // Hash(""), length).
  if (!have_exporter_) return {};
  const auto h = empty_hash();
  unsigned char derived[kSecret];
  std::string out(std::min(length, kSecret), '\0');
  const bool ok = expand_label(exporter_secret_.data(), label, h, derived, sizeof derived) &&
                  expand_label(derived, "exporter", h, reinterpret_cast<unsigned char*>(out.data()), out.size());
  OPENSSL_cleanse(derived, sizeof derived);
  return ok ? out : std::string();
}

bool Records::aead(bool seal, const Direction& d, const unsigned char* header, unsigned char* text, size_t len,
                   unsigned char* tag) const {
  std::array<unsigned char, 12> nonce = d.iv;
  for (int i = 0; i < 8; ++i) nonce[4 + i] ^= static_cast<unsigned char>(d.seq >> (56 - 8 * i));
  EVP_CIPHER_CTX* ctx = cipher_context(chacha_);
  int n = 0;
  if (EVP_CipherInit_ex(ctx, nullptr, nullptr, d.key.data(), nonce.data(), seal ? 1 : 0) != 1) return false;
  if (EVP_CipherUpdate(ctx, nullptr, &n, header, 5) != 1) return false;
  if (len > 0 && EVP_CipherUpdate(ctx, text, &n, text, static_cast<int>(len)) != 1) return false;
  if (!seal && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTag, tag) != 1) return false;
  if (EVP_CipherFinal_ex(ctx, text + len, &n) != 1) return false;
  return !seal || EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTag, tag) == 1;
}

bool Records::seal_record(uint8_t type, std::string_view data, std::string& out) {
  const size_t body = data.size() + 1 + kTag;
  const size_t at = out.size();
  out.resize(at + 5 + body);
  auto* p = reinterpret_cast<unsigned char*>(out.data() + at);
  p[0] = kApplicationData;
  p[1] = 3;
  p[2] = 3;
  p[3] = static_cast<unsigned char>(body >> 8);
  p[4] = static_cast<unsigned char>(body);
  std::memcpy(p + 5, data.data(), data.size());
  p[5 + data.size()] = type;
  if (!aead(true, write_, p, p + 5, data.size() + 1, p + 5 + data.size() + 1)) return false;
  ++write_.seq;
  return true;
}

bool Records::seal(std::string_view data, std::string& out) {
  out.reserve(out.size() + data.size() + (data.size() / kMaxPlain + 1) * (5 + 1 + kTag));
  while (!data.empty()) {
    const size_t n = std::min(data.size(), kMaxPlain);
    if (!seal_record(kApplicationData, data.substr(0, n), out)) return false;
    data.remove_prefix(n);
  }
  return true;
}

bool Records::seal_close_notify(std::string& out) {
  return seal_record(kAlert, std::string_view("\x01\x00", 2), out);
}

Records::Result Records::open(unsigned char* p, size_t n, size_t* used, size_t* plain, std::string* reply,
                              std::string* error) {
  *used = 5;
  if (n < 5) return Result::more;
  const size_t body = size_t{p[3]} << 8 | p[4];
  if (p[0] != kApplicationData) {
    *error = "not a TLS 1.3 application-data record (content type " + std::to_string(p[0]) + ")";
    return Result::failed;
  }
  if (p[1] != 3 || p[2] != 3) {
    *error = "a TLS record of version " + std::to_string(p[1]) + "." + std::to_string(p[2]) + ", not 3.3";
    return Result::failed;
  }
  if (body < 1 + kTag || body > kMaxRecord - 5) {
    *error = "a TLS record of " + std::to_string(body) + " bytes";
    return Result::failed;
  }
  *used = 5 + body;
  if (n < *used) return Result::more;
  const size_t len = body - kTag;
  if (len > kMaxPlain + 1 + 255) {
    *error = "a TLS record of " + std::to_string(len) + " bytes of plaintext (record_overflow)";
    return Result::failed;
  }
  if (!aead(false, read_, p, p + 5, len, p + 5 + len)) {
    *error = "a TLS record failed authentication";
    return Result::failed;
  }
  ++read_.seq;
  size_t end = len;
  while (end > 0 && p[5 + end - 1] == 0) --end;  // padding
  if (end == 0) {
    *error = "a TLS record without a content type";
    return Result::failed;
  }
  const uint8_t type = p[5 + end - 1];
  *plain = end - 1;
  if (*plain > kMaxPlain) {
    *error = "a TLS record of " + std::to_string(*plain) + " bytes of content, more than 16 KiB (record_overflow)";
    return Result::failed;
  }
  const unsigned char* m = p + 5;
  if (type == kApplicationData && *plain > 0) {
    without_data_ = 0;
    return Result::data;
  }
  if (++without_data_ > 32) {
    *error = "more than 32 TLS records in a row without data";
    return Result::failed;
  }
  if (type == kApplicationData) return Result::data;
  if (type == kAlert) {
    if (*plain == 2 && m[1] == 0) return Result::closed;  // close_notify
    *error = "the peer sent TLS alert " + std::to_string(*plain == 2 ? m[1] : 0);
    return Result::failed;
  }
  if (type == kHandshake && *plain == 5 && m[0] == kKeyUpdate && m[1] == 0 && m[2] == 0 && m[3] == 1 && m[4] <= 1) {
    const bool requested = m[4] == 1;
    // Ours goes out under the current key, then the write side moves on (RFC 8446 §4.6.3).
    if (!update(read_) ||
        (requested && (!seal_record(kHandshake, std::string_view("\x18\x00\x00\x01\x00", 5), *reply) ||
                       !update(write_)))) {
      *error = "a KeyUpdate could not be carried out";
      return Result::failed;
    }
    *plain = 0;
    return Result::data;
  }
  *error = "an unexpected TLS message after the handshake (content type " + std::to_string(type) + ")";
  return Result::failed;
}

}  // namespace freehold::relay
