// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/digest.hpp"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "core/crypto.hpp"

namespace freehold::rtsp {
namespace {

constexpr std::size_t kMaxHeader = 8 * 1024;
constexpr std::size_t kMaxValue = 1024;
constexpr std::size_t kMaxParameters = 32;
constexpr std::size_t kIssuedBytes = 8, kRandomBytes = 12, kTagBytes = 16;
constexpr std::size_t kNonceHex = 2 * (kIssuedBytes + kRandomBytes + kTagBytes);

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return lower(x) == lower(y);
         });
}

bool is_ctl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

bool is_token_char(char c) {
  if (is_ctl(c) || static_cast<unsigned char>(c) >= 0x80) return false;
  return std::strchr("()<>@,;:\\\"/[]?={} \t", c) == nullptr;
}

bool is_hex(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    const char l = lower(c);
    return (l >= '0' && l <= '9') || (l >= 'a' && l <= 'f');
  });
}

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "Scheme" followed by white space or the end.
bool has_scheme(std::string_view v, std::string_view scheme) {
  return v.size() >= scheme.size() && iequals(v.substr(0, scheme.size()), scheme) &&
         (v.size() == scheme.size() || v[scheme.size()] == ' ' || v[scheme.size()] == '\t');
}

std::optional<std::string> from_hex(std::string_view s) {
  if (s.size() % 2 != 0 || !is_hex(s)) return std::nullopt;
  auto nibble = [](char c) { return lower(c) <= '9' ? c - '0' : lower(c) - 'a' + 10; };
  std::string out(s.size() / 2, '\0');
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<char>(nibble(s[2 * i]) << 4 | nibble(s[2 * i + 1]));
  return out;
}

std::string md5_hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (EVP_Digest(data.data(), data.size(), digest, &n, EVP_md5(), nullptr) != 1) return {};
  return crypto::hex(std::string_view(reinterpret_cast<const char*>(digest), n));
}

std::string quoted_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\r' || c == '\n' || c == '\0') continue;
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

template <typename T>
std::optional<T> failed(std::string* error, std::string message) {
  if (error) *error = std::move(message);
  return std::nullopt;
}

// The digest's uri covers the request when equal, or when it is the request's URL up to a '/' (live555 and VLC sign
// SETUP rtsp://cam/stream/trackID=0 with uri="rtsp://cam/stream").
bool uri_covers(std::string_view digest_uri, std::string_view request_uri) {
  if (digest_uri == request_uri) return true;
  if (digest_uri.empty() || !request_uri.starts_with(digest_uri)) return false;
  return digest_uri.back() == '/' || request_uri[digest_uri.size()] == '/';
}

}  // namespace

std::optional<DigestCredentials> parse_digest_authorization(std::string_view value, std::string* error) {
  using R = DigestCredentials;
  if (value.size() > kMaxHeader) return failed<R>(error, "Authorization header longer than 8 KiB");
  const std::string_view v = trim(value);
  if (!has_scheme(v, "Digest")) return failed<R>(error, "not a Digest Authorization header");

  DigestCredentials c;
  struct Field {
    std::string_view name;
    std::string* target;
    bool seen = false;
  };
  Field fields[] = {{"username", &c.username}, {"realm", &c.realm},   {"nonce", &c.nonce},   {"uri", &c.uri},
                    {"response", &c.response}, {"algorithm", &c.algorithm}, {"qop", &c.qop}, {"cnonce", &c.cnonce},
                    {"nc", &c.nc},             {"opaque", &c.opaque}};
  std::size_t i = 6, count = 0;
  auto skip = [&](std::string_view chars) {
    while (i < v.size() && chars.find(v[i]) != std::string_view::npos) ++i;
  };
  for (;;) {
    skip(" \t,");  // empty list elements are allowed (RFC 2616 §2.1 #rule)
    if (i == v.size()) break;
    if (++count > kMaxParameters) return failed<R>(error, "more than 32 Digest parameters");
    const std::size_t name_start = i;
    while (i < v.size() && is_token_char(v[i])) ++i;
    const std::string_view name = v.substr(name_start, i - name_start);
    if (name.empty()) return failed<R>(error, "expected a Digest parameter name at byte " + std::to_string(i));
    const std::string shown(name.substr(0, 32));
    skip(" \t");
    if (i == v.size() || v[i] != '=') return failed<R>(error, "Digest parameter " + shown + " has no value");
    ++i;
    skip(" \t");
    std::string val;
    if (i < v.size() && v[i] == '"') {
      for (++i;; ++i) {
        if (i == v.size()) return failed<R>(error, "unterminated quoted string in " + shown);
        char ch = v[i];
        if (ch == '"') break;
        if (ch == '\\' && ++i < v.size()) ch = v[i];
        if (i == v.size()) return failed<R>(error, "unterminated quoted string in " + shown);
        if (is_ctl(ch) && ch != '\t') return failed<R>(error, "control character in " + shown);
        if (val.size() == kMaxValue) return failed<R>(error, shown + " is longer than 1024 bytes");
        val += ch;
      }
      ++i;
    } else {
      const std::size_t start = i;
      while (i < v.size() && v[i] != ',' && v[i] != ' ' && v[i] != '\t' && v[i] != '"' && !is_ctl(v[i])) ++i;
      if (i == start) return failed<R>(error, "Digest parameter " + shown + " has an empty value");
      if (i - start > kMaxValue) return failed<R>(error, shown + " is longer than 1024 bytes");
      val = v.substr(start, i - start);
    }
    skip(" \t");
    if (i < v.size() && v[i] != ',') return failed<R>(error, "expected ',' after Digest parameter " + shown);

    auto* field = std::find_if(std::begin(fields), std::end(fields), [&](const Field& f) {
      return iequals(f.name, name);
    });
    if (field != std::end(fields)) {
      if (field->seen) return failed<R>(error, "Digest parameter " + shown + " given twice");
      field->seen = true;
      *field->target = std::move(val);
    } else if (iequals(name, "userhash") && iequals(val, "true")) {
      return failed<R>(error, "userhash (RFC 7616) is not supported");
    } else if (iequals(name, "username*")) {
      return failed<R>(error, "username* (RFC 7616 extended notation) is not supported");
    }
    // Unknown parameters are ignored (RFC 7616 §3.4).
  }
  for (const auto& f : fields) {
    if (f.name == "algorithm") break;  // the rest are optional
    if (!f.seen) return failed<R>(error, "Digest parameter " + std::string(f.name) + " is missing");
  }
  if (c.username.empty()) return failed<R>(error, "empty Digest username");
  if (c.response.size() != 32 || !is_hex(c.response)) {
    return failed<R>(error, "Digest response is not 32 hex digits");
  }
  if (!c.qop.empty()) {
    if (c.cnonce.empty()) return failed<R>(error, "Digest qop without cnonce");
    if (c.nc.size() != 8 || !is_hex(c.nc)) return failed<R>(error, "Digest nc is not 8 hex digits");
  }
  return c;
}

std::optional<BasicCredentials> parse_basic_authorization(std::string_view value, std::string* error) {
  using R = BasicCredentials;
  const std::string_view v = trim(value);
  if (!has_scheme(v, "Basic")) return failed<R>(error, "not a Basic Authorization header");
  const std::string_view encoded = trim(v.substr(5));
  if (encoded.empty()) return failed<R>(error, "Basic credentials are empty");
  if (encoded.size() > 4 * kMaxValue) return failed<R>(error, "Basic credentials longer than 4 KiB");
  std::string decoded(encoded.size(), '\0');
  std::size_t n = 0;
  bool ok = false;
  for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
    if (sodium_base642bin(reinterpret_cast<unsigned char*>(decoded.data()), decoded.size(), encoded.data(),
                          encoded.size(), nullptr, &n, nullptr, variant) == 0) {
      ok = true;
      break;
    }
  }
  if (!ok) return failed<R>(error, "Basic credentials are not base64");
  decoded.resize(n);
  const std::size_t colon = decoded.find(':');
  if (colon == std::string::npos) return failed<R>(error, "Basic credentials have no ':' between user and password");
  BasicCredentials c{decoded.substr(0, colon), decoded.substr(colon + 1)};
  if (c.username.empty()) return failed<R>(error, "empty Basic user name");
  if (std::any_of(c.username.begin(), c.username.end(), is_ctl)) {
    return failed<R>(error, "control character in Basic user name");
  }
  return c;
}

AuthScheme auth_scheme(std::string_view authorization) {
  const std::string_view v = trim(authorization);
  if (v.empty()) return AuthScheme::none;
  if (has_scheme(v, "Digest")) return AuthScheme::digest;
  if (has_scheme(v, "Basic")) return AuthScheme::basic;
  return AuthScheme::other;
}

std::string digest_ha1(std::string_view username, std::string_view realm, std::string_view password) {
  std::string a1;
  a1.reserve(username.size() + realm.size() + password.size() + 2);
  a1.append(username).append(":").append(realm).append(":").append(password);
  std::string ha1 = md5_hex(a1);
  sodium_memzero(a1.data(), a1.size());
  return ha1;
}

std::string digest_response(const DigestCredentials& c, std::string_view method, std::string_view ha1) {
  std::string a2;
  a2.append(method).append(":").append(c.uri);
  const std::string ha2 = md5_hex(a2);
  std::string kd = to_lower(ha1);
  kd.append(":").append(c.nonce).append(":");
  if (!c.qop.empty()) kd.append(c.nc).append(":").append(c.cnonce).append(":").append(c.qop).append(":");
  kd.append(ha2);
  std::string response = ha2.empty() ? std::string() : md5_hex(kd);
  sodium_memzero(kd.data(), kd.size());
  return response;
}

std::string_view to_string(DigestVerdict verdict) {
  switch (verdict) {
    case DigestVerdict::ok: return "ok";
    case DigestVerdict::stale: return "stale_nonce";
    case DigestVerdict::wrong_response: return "wrong_response";
    case DigestVerdict::bad_nonce: return "bad_nonce";
    case DigestVerdict::wrong_realm: return "wrong_realm";
    case DigestVerdict::wrong_uri: return "wrong_uri";
    case DigestVerdict::unsupported: return "unsupported";
  }
  return "unknown";
}

DigestAuth::DigestAuth(std::string realm, std::string secret, DigestOptions options)
    : realm_(std::move(realm)), secret_(std::move(secret)), options_(options) {}

std::string DigestAuth::tag(std::string_view issued_and_random) const {
  // The realm is part of the message, so changing it retires every nonce; its length keeps the fields apart.
  std::string message = std::to_string(realm_.size()) + ':' + realm_;
  message.append(issued_and_random);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  if (HMAC(EVP_sha256(), secret_.data(), static_cast<int>(secret_.size()),
           reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &n) == nullptr ||
      n < kTagBytes) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(mac), kTagBytes);
}

namespace {

std::uint64_t seconds_of(DigestAuth::Clock::time_point t) {
  const auto s = std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
  return s < 0 ? 0 : static_cast<std::uint64_t>(s);
}

}  // namespace

std::string DigestAuth::nonce(Clock::time_point now) const {
  std::string body(kIssuedBytes, '\0');
  const std::uint64_t issued = seconds_of(now);
  for (std::size_t i = 0; i < kIssuedBytes; ++i) body[i] = static_cast<char>(issued >> (8 * (kIssuedBytes - 1 - i)));
  body += crypto::random_bytes(kRandomBytes);
  return crypto::hex(body + tag(body));
}

std::string DigestAuth::challenge(Clock::time_point now, bool stale) const {
  std::string out = "Digest realm=" + quoted_string(realm_) + ", nonce=\"" + nonce(now) + '"';
  if (options_.advertise_algorithm) out += ", algorithm=MD5";
  if (options_.offer_qop) out += ", qop=\"auth\"";
  if (stale) out += ", stale=true";
  return out;
}

std::string DigestAuth::basic_challenge() const { return "Basic realm=" + quoted_string(realm_); }

DigestAuth::NonceState DigestAuth::check_nonce(std::string_view nonce, Clock::time_point now) const {
  if (nonce.size() != kNonceHex) return NonceState::invalid;
  const auto raw = from_hex(nonce);
  if (!raw) return NonceState::invalid;
  const std::string_view body = std::string_view(*raw).substr(0, kIssuedBytes + kRandomBytes);
  const std::string expected = tag(body);
  if (expected.empty() || !crypto::equal_constant_time(expected, std::string_view(*raw).substr(body.size()))) {
    return NonceState::invalid;
  }
  std::uint64_t issued = 0;
  for (std::size_t i = 0; i < kIssuedBytes; ++i) issued = issued << 8 | static_cast<unsigned char>(body[i]);
  const std::uint64_t at = seconds_of(now);
  const auto lifetime = static_cast<std::uint64_t>(std::max<std::int64_t>(0, options_.nonce_lifetime.count()));
  // A nonce from the future is authentic but from another clock (a restart that kept the secret): make it retry.
  if (issued > at || at - issued > lifetime) return NonceState::stale;
  return NonceState::fresh;
}

DigestVerdict DigestAuth::verify(const DigestCredentials& credentials, std::string_view method,
                                 std::string_view request_uri, std::string_view password,
                                 Clock::time_point now) const {
  std::string ha1 = digest_ha1(credentials.username, realm_, password);
  const DigestVerdict verdict = verify_ha1(credentials, method, request_uri, ha1, now);
  sodium_memzero(ha1.data(), ha1.size());
  return verdict;
}

DigestVerdict DigestAuth::verify_ha1(const DigestCredentials& c, std::string_view method,
                                     std::string_view request_uri, std::string_view ha1,
                                     Clock::time_point now) const {
  if (!c.algorithm.empty() && !iequals(c.algorithm, "MD5")) return DigestVerdict::unsupported;
  if (!c.qop.empty() && !iequals(c.qop, "auth")) return DigestVerdict::unsupported;
  if (c.realm != realm_) return DigestVerdict::wrong_realm;
  if (!uri_covers(c.uri, request_uri)) return DigestVerdict::wrong_uri;
  const NonceState state = check_nonce(c.nonce, now);
  if (state == NonceState::invalid) return DigestVerdict::bad_nonce;

  const std::string expected = digest_response(c, method, ha1);
  if (expected.empty() || !crypto::equal_constant_time(expected, to_lower(c.response))) {
    return DigestVerdict::wrong_response;
  }
  // RFC 2617 §3.2.1: stale only when the digest itself is right, so a wrong password is never retried silently.
  return state == NonceState::stale ? DigestVerdict::stale : DigestVerdict::ok;
}

}  // namespace freehold::rtsp
