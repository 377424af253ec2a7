// SPDX-License-Identifier: GPL-3.0-or-later
// HTTP Digest authentication as RTSP clients speak it (RFC 2617: MD5, with qop=auth or without qop), and Basic for
// RTSPS. RFC 7616 deprecates MD5, but ffmpeg, VLC (live555) and GStreamer only do MD5, so MD5 is all that is
// accepted; SHA-256, MD5-sess, auth-int and userhash are declined by name.
//
// Nonces are stateless: hex(time ‖ random ‖ HMAC-SHA256(server secret, realm ‖ time ‖ random)). A nonce the server
// did not make, or made under another secret (an earlier run), is refused; one older than its lifetime is stale,
// and the client retries with a fresh one without asking its user again (RFC 2617 §3.2.1 stale=true).
// Without per-nonce nc tracking a captured response can be replayed until its nonce expires; over plain RTSP that
// observer already sees the stream, and RTSPS hides both.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace freehold::rtsp {

struct DigestCredentials {
  std::string username, realm, nonce, uri, response;  // always present
  std::string algorithm;                              // empty when not sent (then MD5)
  std::string qop, cnonce, nc;                        // qop empty: RFC 2069 style, as live555 sends
  std::string opaque;
};

// Parses an Authorization value "Digest username=..., ...": parameters in any order, quoted strings (with
// backslash escapes) or tokens, names without regard to case, each at most 1 KiB, at most 32 of them. nullopt
// with `error` naming the problem when the header is malformed or lacks a required parameter.
[[nodiscard]] std::optional<DigestCredentials> parse_digest_authorization(std::string_view value,
                                                                          std::string* error = nullptr);

struct BasicCredentials {
  std::string username, password;
};

// "Basic base64(user:password)". Only over RTSPS: in the clear it hands the password to anyone listening; the server
// decides.
[[nodiscard]] std::optional<BasicCredentials> parse_basic_authorization(std::string_view value,
                                                                        std::string* error = nullptr);

enum class AuthScheme : std::uint8_t { none, basic, digest, other };
[[nodiscard]] AuthScheme auth_scheme(std::string_view authorization);

// Lower-case hex MD5("username:realm:password"), RFC 2617's HA1.
[[nodiscard]] std::string digest_ha1(std::string_view username, std::string_view realm, std::string_view password);
// RFC 2617 §3.2.2.1 request-digest in lower-case hex, over the credentials' nonce, nc, cnonce, qop and uri as sent:
// what the client must have put in `response`.
[[nodiscard]] std::string digest_response(const DigestCredentials& credentials, std::string_view method,
                                          std::string_view ha1);

enum class DigestVerdict : std::uint8_t {
  ok,
  stale,           // the response is right but the nonce expired: challenge again with stale=true
  wrong_response,  // wrong password (or user)
  bad_nonce,       // not made by this server under this secret and realm
  wrong_realm,
  wrong_uri,       // the digest's uri does not cover the request URI
  unsupported,     // algorithm other than MD5, or qop other than auth
};
[[nodiscard]] std::string_view to_string(DigestVerdict verdict);

struct DigestOptions {
  std::chrono::seconds nonce_lifetime{300};
  bool advertise_algorithm = false;  // add algorithm=MD5 to the challenge (MD5 is the default anyway)
  bool offer_qop = false;            // add qop="auth"; responses without qop are still accepted (live555)
};

// One realm and one server secret; const and safe to share between connections.
class DigestAuth final {
 public:
  using Clock = std::chrono::steady_clock;

  // `secret`: at least 32 random bytes, e.g. crypto::random_bytes(32) at start-up (crypto::init() first).
  DigestAuth(std::string realm, std::string secret, DigestOptions options = {});

  [[nodiscard]] const std::string& realm() const { return realm_; }
  [[nodiscard]] std::string nonce(Clock::time_point now) const;
  // The WWW-Authenticate value: Digest realm="...", nonce="..."[, algorithm=MD5][, qop="auth"][, stale=true].
  [[nodiscard]] std::string challenge(Clock::time_point now, bool stale = false) const;
  // The WWW-Authenticate value for Basic: Basic realm="...".
  [[nodiscard]] std::string basic_challenge() const;

  enum class NonceState : std::uint8_t { fresh, stale, invalid };
  [[nodiscard]] NonceState check_nonce(std::string_view nonce, Clock::time_point now) const;

  // Checks a response against the user's password (or the stored HA1, lower- or upper-case hex). The digest is
  // computed over the uri parameter exactly as sent; that uri must equal the request URI or be a prefix of it
  // ending a path segment, because live555 signs a track's SETUP with the stream's URL. The username is not
  // checked here: the caller looked the password up by it (and, for an unknown user, should verify against a
  // dummy password so the answer takes the same time).
  [[nodiscard]] DigestVerdict verify(const DigestCredentials& credentials, std::string_view method,
                                     std::string_view request_uri, std::string_view password,
                                     Clock::time_point now) const;
  [[nodiscard]] DigestVerdict verify_ha1(const DigestCredentials& credentials, std::string_view method,
                                         std::string_view request_uri, std::string_view ha1,
                                         Clock::time_point now) const;

 private:
  [[nodiscard]] std::string tag(std::string_view issued_and_random) const;

  std::string realm_;
  std::string secret_;
  DigestOptions options_;
};

}  // namespace freehold::rtsp
