// SPDX-License-Identifier: GPL-3.0-or-later
#include "onvif/wsse.hpp"

#include <openssl/evp.h>
#include <sodium.h>

#include <charconv>
#include <ctime>

#include "core/crypto.hpp"
#include "onvif/soap.hpp"

namespace freehold::onvif {

namespace {

constexpr std::string_view kDigestType = "#PasswordDigest";
constexpr std::string_view kTextType = "#PasswordText";
constexpr std::size_t kMaxField = 1024;

std::optional<std::string> base64_decode(std::string_view in) {
  if (in.size() > kMaxField) return std::nullopt;
  std::string out(in.size(), '\0');
  size_t len = 0;
  if (sodium_base642bin(reinterpret_cast<unsigned char*>(out.data()), out.size(), in.data(), in.size(), " \t\r\n",
                        &len, nullptr, sodium_base64_VARIANT_ORIGINAL) != 0) {
    return std::nullopt;
  }
  out.resize(len);
  return out;
}

std::string base64_encode(std::string_view in) {
  std::string out(sodium_base64_ENCODED_LEN(in.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(in.data()), in.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(out.size() - 1);  // the terminating NUL
  return out;
}

template <typename T>
bool number(std::string_view s, T& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool digits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

std::optional<UsernameToken> find_username_token(pugi::xml_node header, std::string* error) {
  auto fail = [error](std::string why) -> std::optional<UsernameToken> {
    if (error) *error = std::move(why);
    return std::nullopt;
  };
  const auto security = child(header, "Security");
  const auto token = child(security, "UsernameToken");
  if (!token) return std::nullopt;
  UsernameToken t;
  t.username = text_of(child(token, "Username"));
  if (t.username.empty() || t.username.size() > kMaxField) return fail("UsernameToken without a Username");
  const auto password = child(token, "Password");
  t.password = text_of(password);
  if (t.password.size() > kMaxField) return fail("UsernameToken Password too long");
  const std::string_view type = password.attribute("Type").value();
  if (type.empty() || type.ends_with(kTextType)) {
    t.digest = false;
  } else if (type.ends_with(kDigestType)) {
    t.digest = true;
  } else {
    return fail("unknown UsernameToken Password Type: " + std::string(type.substr(0, 200)));
  }
  if (auto n = child(token, "Nonce")) {
    const std::string_view enc = n.attribute("EncodingType").value();
    if (!enc.empty() && !enc.ends_with("#Base64Binary")) return fail("Nonce EncodingType must be Base64Binary");
    auto decoded = base64_decode(text_of(n));
    if (!decoded) return fail("Nonce is not valid Base64");
    t.nonce = std::move(*decoded);
  }
  t.created = text_of(child(token, "Created"));
  if (t.created.size() > 64) return fail("Created is too long");
  return t;
}

std::optional<std::chrono::system_clock::time_point> parse_datetime(std::string_view s) {
  // YYYY-MM-DDThh:mm:ss[.f{1,9}](Z|±hh:mm)
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':') {
    return std::nullopt;
  }
  int year = 0, mon = 0, day = 0, hour = 0, min = 0, sec = 0;
  if (!digits(s.substr(0, 4)) || !digits(s.substr(5, 2)) || !digits(s.substr(8, 2)) || !digits(s.substr(11, 2)) ||
      !digits(s.substr(14, 2)) || !digits(s.substr(17, 2))) {
    return std::nullopt;
  }
  (void)number(s.substr(0, 4), year);
  (void)number(s.substr(5, 2), mon);
  (void)number(s.substr(8, 2), day);
  (void)number(s.substr(11, 2), hour);
  (void)number(s.substr(14, 2), min);
  (void)number(s.substr(17, 2), sec);
  std::string_view rest = s.substr(19);
  long long nanos = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') ++n;
    const auto frac = rest.substr(1, n - 1);
    if (frac.empty() || frac.size() > 9) return std::nullopt;
    (void)number(frac, nanos);
    for (size_t i = frac.size(); i < 9; ++i) nanos *= 10;
    rest = rest.substr(n);
  }
  int offset_minutes = 0;
  if (rest == "Z" || rest == "z") {
    offset_minutes = 0;
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' && digits(rest.substr(1, 2)) &&
             digits(rest.substr(4, 2))) {
    int oh = 0, om = 0;
    (void)number(rest.substr(1, 2), oh);
    (void)number(rest.substr(4, 2), om);
    if (oh > 14 || om > 59) return std::nullopt;
    offset_minutes = (rest[0] == '-' ? -1 : 1) * (oh * 60 + om);
  } else {
    return std::nullopt;  // a time without a zone is ambiguous: refuse it
  }
  // Beyond 2200 a nanosecond clock overflows; no client sends that.
  if (year < 1970 || year > 2200 || mon < 1 || mon > 12 || day < 1 || hour > 23 || min > 59 || sec > 60) return std::nullopt;
  using namespace std::chrono;
  const year_month_day ymd{std::chrono::year(year), month(static_cast<unsigned>(mon)),
                           std::chrono::day(static_cast<unsigned>(day))};
  if (!ymd.ok()) return std::nullopt;
  auto tp = sys_days(ymd) + hours(hour) + minutes(min) + seconds(sec) - minutes(offset_minutes);
  return time_point_cast<system_clock::duration>(tp + duration_cast<system_clock::duration>(nanoseconds(nanos)));
}

std::string password_digest(std::string_view nonce, std::string_view created, std::string_view password) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr);
  EVP_DigestUpdate(ctx, nonce.data(), nonce.size());
  EVP_DigestUpdate(ctx, created.data(), created.size());
  EVP_DigestUpdate(ctx, password.data(), password.size());
  EVP_DigestFinal_ex(ctx, md, &len);
  EVP_MD_CTX_free(ctx);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

std::string_view to_string(TokenVerdict v) {
  switch (v) {
    case TokenVerdict::ok: return "ok";
    case TokenVerdict::wrong_password: return "wrong password";
    case TokenVerdict::stale: return "Created is outside the accepted clock skew";
    case TokenVerdict::replayed: return "nonce already used";
    case TokenVerdict::bad_created: return "Created is not a valid UTC time";
    case TokenVerdict::digest_without_nonce: return "PasswordDigest needs a Nonce and Created";
  }
  return "?";
}

void NonceCache::expire(Clock::time_point now) {
  while (!order_.empty() && order_.front().created + window_ < now) {
    seen_.erase(order_.front().key);
    order_.pop_front();
  }
}

TokenVerdict NonceCache::verify(const UsernameToken& token, std::string_view secret, Clock::time_point now) {
  std::optional<Clock::time_point> created;
  if (!token.created.empty()) {
    created = parse_datetime(token.created);
    if (!created) return TokenVerdict::bad_created;
    if (*created < now - window_ || *created > now + window_ || *created <= floor_) return TokenVerdict::stale;
  }
  if (token.digest) {
    if (token.nonce.empty() || !created) return TokenVerdict::digest_without_nonce;
    if (!crypto::equal_constant_time(password_digest(token.nonce, token.created, secret), token.password)) {
      return TokenVerdict::wrong_password;
    }
  } else if (!crypto::equal_constant_time(token.password, secret)) {
    return TokenVerdict::wrong_password;
  }
  if (token.nonce.empty()) return TokenVerdict::ok;  // PasswordText without a nonce: TLS is the only protection
  expire(now);
  std::string key = token.username + '\0' + token.nonce;
  if (seen_.contains(key)) return TokenVerdict::replayed;
  if (order_.size() >= capacity_) {
    floor_ = std::max(floor_, order_.front().created);
    seen_.erase(order_.front().key);
    order_.pop_front();
  }
  seen_.insert(key);
  order_.push_back(Entry{created.value_or(now), std::move(key)});
  return TokenVerdict::ok;
}

}  // namespace freehold::onvif
