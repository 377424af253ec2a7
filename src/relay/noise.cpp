// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/noise.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <cstring>
#include <utility>

namespace freehold::relay::noise {
namespace {

constexpr std::string_view kProtocol = "Noise_IK_25519_ChaChaPoly_BLAKE2b";
constexpr size_t kHashLen = 64;
constexpr size_t kBlockLen = 128;
using Hash = std::array<unsigned char, kHashLen>;

const unsigned char* u8(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }

Hash blake2b(std::string_view a, std::string_view b = {}) {
  Hash out{};
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, kHashLen);
  crypto_generichash_update(&st, u8(a), a.size());
  crypto_generichash_update(&st, u8(b), b.size());
  crypto_generichash_final(&st, out.data(), kHashLen);
  return out;
}

std::string_view view(const unsigned char* p, size_t n) { return {reinterpret_cast<const char*>(p), n}; }

// HMAC over BLAKE2b as Noise defines it (RFC 2104 with a 128-byte block), not BLAKE2b's keyed mode.
Hash hmac(const Hash& key, std::string_view data) {
  std::array<unsigned char, kBlockLen> ipad{}, opad{};
  for (size_t i = 0; i < kBlockLen; ++i) {
    const unsigned char k = i < key.size() ? key[i] : 0;
    ipad[i] = k ^ 0x36;
    opad[i] = k ^ 0x5c;
  }
  const Hash inner = blake2b(view(ipad.data(), ipad.size()), data);
  Hash out = blake2b(view(opad.data(), opad.size()), view(inner.data(), inner.size()));
  sodium_memzero(ipad.data(), ipad.size());
  sodium_memzero(opad.data(), opad.size());
  return out;
}

// HKDF(chaining_key, input) -> two outputs.
std::pair<Hash, Hash> hkdf(const Hash& ck, std::string_view input) {
  const Hash temp = hmac(ck, input);
  const unsigned char one = 1;
  Hash o1 = hmac(temp, view(&one, 1));
  std::array<unsigned char, kHashLen + 1> buf{};
  std::memcpy(buf.data(), o1.data(), kHashLen);
  buf[kHashLen] = 2;
  Hash o2 = hmac(temp, view(buf.data(), buf.size()));
  return {o1, o2};
}

Key truncate(const Hash& h) {
  Key k{};
  std::memcpy(k.data(), h.data(), k.size());
  return k;
}

Key public_of(const Key& secret) {
  Key p{};
  crypto_scalarmult_base(p.data(), secret.data());
  return p;
}

// X25519; an all-zero result (a low-order point from the peer) fails, as libsodium reports it.
std::optional<Key> dh(const Key& secret, const Key& pub) {
  Key out{};
  if (crypto_scalarmult(out.data(), secret.data(), pub.data()) != 0) return std::nullopt;
  return out;
}

}  // namespace

CipherState::CipherState() : ctx_(EVP_CIPHER_CTX_new()) {}
CipherState::~CipherState() {
  EVP_CIPHER_CTX_free(ctx_);
  sodium_memzero(key_.data(), key_.size());
}
CipherState::CipherState(CipherState&& o) noexcept
    : ctx_(std::exchange(o.ctx_, nullptr)), key_(o.key_), n_(o.n_), has_key_(o.has_key_) {
  sodium_memzero(o.key_.data(), o.key_.size());
  o.has_key_ = false;
}
CipherState& CipherState::operator=(CipherState&& o) noexcept {
  if (this != &o) {
    std::swap(ctx_, o.ctx_);
    key_ = o.key_;
    n_ = o.n_;
    has_key_ = o.has_key_;
    sodium_memzero(o.key_.data(), o.key_.size());
    o.has_key_ = false;
  }
  return *this;
}

void CipherState::set_key(const Key& k) {
  key_ = k;
  n_ = 0;
  has_key_ = true;
  EVP_CipherInit_ex(ctx_, EVP_chacha20_poly1305(), nullptr, key_.data(), nullptr, 1);
}

namespace {
std::array<unsigned char, 12> nonce_bytes(uint64_t n) {
  std::array<unsigned char, 12> iv{};
  for (int i = 0; i < 8; ++i) iv[4 + i] = static_cast<unsigned char>(n >> (8 * i));
  return iv;
}
}  // namespace

bool CipherState::seal(unsigned char* out, const unsigned char* in, size_t len, std::string_view ad) {
  if (n_ == UINT64_MAX || len > kMaxPlaintext) return false;  // 2^64-1 is reserved by Noise
  const auto iv = nonce_bytes(n_);
  int outl = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, key_.data(), iv.data(), 1) != 1) return false;
  if (!ad.empty() && EVP_CipherUpdate(ctx_, nullptr, &outl, u8(ad), static_cast<int>(ad.size())) != 1) return false;
  if (len > 0 && EVP_CipherUpdate(ctx_, out, &outl, in, static_cast<int>(len)) != 1) return false;
  if (EVP_CipherFinal_ex(ctx_, out + len, &outl) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_GET_TAG, kTagSize, out + len) != 1) return false;
  ++n_;
  return true;
}

bool CipherState::open(unsigned char* out, const unsigned char* in, size_t len, std::string_view ad) {
  if (n_ == UINT64_MAX || len < kTagSize || len > kMaxMessage) return false;
  const size_t plain = len - kTagSize;
  const auto iv = nonce_bytes(n_);
  std::array<unsigned char, kTagSize> tag{};
  std::memcpy(tag.data(), in + plain, kTagSize);  // before an in-place decrypt could touch it
  int outl = 0;
  if (EVP_CipherInit_ex(ctx_, nullptr, nullptr, key_.data(), iv.data(), 0) != 1) return false;
  if (!ad.empty() && EVP_CipherUpdate(ctx_, nullptr, &outl, u8(ad), static_cast<int>(ad.size())) != 1) return false;
  if (plain > 0 && EVP_CipherUpdate(ctx_, out, &outl, in, static_cast<int>(plain)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx_, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag.data()) != 1) return false;
  if (EVP_CipherFinal_ex(ctx_, out + plain, &outl) != 1) {
    sodium_memzero(out, plain);  // never hand out what did not verify
    return false;
  }
  ++n_;
  return true;
}

Handshake::Handshake(bool initiator, const Key& s, std::string_view prologue) : initiator_(initiator), s_(s) {
  s_pub_ = public_of(s_);
  std::memcpy(h_.data(), kProtocol.data(), kProtocol.size());  // a name no longer than HASHLEN is padded, not hashed
  ck_ = h_;
  mix_hash(prologue);
}

Handshake::~Handshake() {
  sodium_memzero(s_.data(), s_.size());
  sodium_memzero(e_.data(), e_.size());
  sodium_memzero(ck_.data(), ck_.size());
}

Handshake Handshake::initiator(const Key& local_secret, const Key& remote_static, std::string_view prologue) {
  Handshake hs(true, local_secret, prologue);
  hs.rs_ = remote_static;
  hs.mix_hash(view(remote_static.data(), remote_static.size()));  // pre-message: <- s
  return hs;
}

Handshake Handshake::responder(const Key& local_secret, std::string_view prologue) {
  Handshake hs(false, local_secret, prologue);
  hs.mix_hash(view(hs.s_pub_.data(), hs.s_pub_.size()));
  return hs;
}

void Handshake::set_ephemeral(const Key& secret) {
  e_ = secret;
  e_pub_ = public_of(e_);
  have_e_ = true;
}

void Handshake::ensure_ephemeral() {
  if (have_e_) return;
  Key k{};
  randombytes_buf(k.data(), k.size());
  set_ephemeral(k);
  sodium_memzero(k.data(), k.size());
}

void Handshake::mix_hash(std::string_view data) { h_ = blake2b(view(h_.data(), h_.size()), data); }

void Handshake::mix_key(const Key& dh_output) {
  auto [ck, temp] = hkdf(ck_, view(dh_output.data(), dh_output.size()));
  ck_ = ck;
  c_.set_key(truncate(temp));
  sodium_memzero(temp.data(), temp.size());
}

std::string Handshake::encrypt_and_hash(std::string_view plaintext) {
  std::string out(plaintext);
  if (c_.has_key()) {
    out.resize(plaintext.size() + kTagSize);
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    if (!c_.seal(p, p, plaintext.size(), view(h_.data(), h_.size()))) return {};
  }
  mix_hash(out);
  return out;
}

std::optional<std::string> Handshake::decrypt_and_hash(std::string_view ciphertext) {
  std::string out(ciphertext);
  if (c_.has_key()) {
    if (ciphertext.size() < kTagSize) return std::nullopt;
    auto* p = reinterpret_cast<unsigned char*>(out.data());
    if (!c_.open(p, u8(ciphertext), ciphertext.size(), view(h_.data(), h_.size()))) return std::nullopt;
    out.resize(ciphertext.size() - kTagSize);
  }
  mix_hash(ciphertext);
  return out;
}

std::string Handshake::write_request(std::string_view payload) {
  ensure_ephemeral();
  std::string msg(view(e_pub_.data(), e_pub_.size()));
  mix_hash(msg);
  const auto es = dh(e_, rs_);
  if (!es) return {};
  mix_key(*es);
  msg += encrypt_and_hash(view(s_pub_.data(), s_pub_.size()));
  const auto ss = dh(s_, rs_);
  if (!ss) return {};
  mix_key(*ss);
  msg += encrypt_and_hash(payload);
  return msg;
}

std::optional<std::string> Handshake::read_request(std::string_view m) {
  if (m.size() < 32 + 32 + kTagSize + kTagSize) return std::nullopt;
  std::memcpy(re_.data(), m.data(), 32);
  mix_hash(m.substr(0, 32));
  const auto es = dh(s_, re_);
  if (!es) return std::nullopt;
  mix_key(*es);
  const auto s = decrypt_and_hash(m.substr(32, 32 + kTagSize));
  if (!s) return std::nullopt;
  std::memcpy(rs_.data(), s->data(), 32);
  const auto ss = dh(s_, rs_);
  if (!ss) return std::nullopt;
  mix_key(*ss);
  return decrypt_and_hash(m.substr(32 + 32 + kTagSize));
}

std::string Handshake::write_response(std::string_view payload) {
  ensure_ephemeral();
  std::string msg(view(e_pub_.data(), e_pub_.size()));
  mix_hash(msg);
  const auto ee = dh(e_, re_);
  const auto se = dh(e_, rs_);
  if (!ee || !se) return {};
  mix_key(*ee);
  mix_key(*se);
  msg += encrypt_and_hash(payload);
  return msg;
}

std::optional<std::string> Handshake::read_response(std::string_view m) {
  if (m.size() < 32 + kTagSize) return std::nullopt;
  std::memcpy(re_.data(), m.data(), 32);
  mix_hash(m.substr(0, 32));
  const auto ee = dh(e_, re_);
  const auto se = dh(s_, re_);
  if (!ee || !se) return std::nullopt;
  mix_key(*ee);
  mix_key(*se);
  return decrypt_and_hash(m.substr(32));
}

Transport Handshake::split() {
  auto [k1, k2] = hkdf(ck_, {});
  Transport t;
  t.handshake_hash = h_;
  // k1 protects initiator -> responder, k2 the other way.
  (initiator_ ? t.send : t.receive).set_key(truncate(k1));
  (initiator_ ? t.receive : t.send).set_key(truncate(k2));
  sodium_memzero(k1.data(), k1.size());
  sodium_memzero(k2.data(), k2.size());
  return t;
}

}  // namespace freehold::relay::noise
