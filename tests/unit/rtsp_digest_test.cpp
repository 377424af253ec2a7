// SPDX-License-Identifier: GPL-3.0-or-later
#include "rtsp/digest.hpp"

#include <gtest/gtest.h>

#include <regex>

#include "core/crypto.hpp"

namespace freehold::rtsp {
namespace {

using namespace std::chrono_literals;
using Clock = DigestAuth::Clock;

const std::string kSecret(32, 'k');
const std::string kUri = "rtsp://192.0.2.10:554/stream1";

// RFC 2617 §3.5, as the request's header arrives after line folding is joined.
const std::string kRfc2617Authorization =
    "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", "
    "uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"0a4f113b\", "
    "response=\"6629fae49393a05397450978507c4ef1\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

class DigestAuthTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::init()); }

  // What a client (ffmpeg with qop, live555 without) would send for `nonce`.
  static DigestCredentials client(std::string_view nonce, std::string_view method, std::string_view uri,
                                  std::string_view password, bool qop, std::string_view realm = "Freehold") {
    DigestCredentials c;
    c.username = "admin";
    c.realm = realm;
    c.nonce = nonce;
    c.uri = uri;
    if (qop) {
      c.qop = "auth";
      c.nc = "00000001";
      c.cnonce = "6b8b4567327b23c6";
    }
    c.response = digest_response(c, method, digest_ha1(c.username, c.realm, password));
    return c;
  }

  DigestAuth auth_{"Freehold", kSecret};
  Clock::time_point now_ = Clock::time_point{} + 1000h;
};

TEST(DigestVectors, Rfc2617WorkedExample) {
  std::string error;
  auto c = parse_digest_authorization(kRfc2617Authorization, &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->username, "Mufasa");
  EXPECT_EQ(c->realm, "testrealm@host.com");
  EXPECT_EQ(c->qop, "auth");
  EXPECT_EQ(c->nc, "00000001");
  EXPECT_EQ(c->cnonce, "0a4f113b");
  EXPECT_EQ(c->opaque, "5ccc069c403ebaf9f0171e9517f40e41");
  const std::string ha1 = digest_ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
  EXPECT_EQ(ha1, "939e7578ed9e3c518a452acee763bce9");
  // The response printed in RFC 2617 §3.5 is right (unlike RFC 2069's example); recomputed independently too.
  EXPECT_EQ(digest_response(*c, "GET", ha1), "6629fae49393a05397450978507c4ef1");
}

// Computed independently (Python hashlib) for RTSP requests as ffmpeg (qop=auth) and live555 (no qop) send them.
TEST(DigestVectors, RtspWithAndWithoutQop) {
  const std::string ha1 = digest_ha1("admin", "Freehold", "correct horse battery");
  EXPECT_EQ(ha1, "2e7ccdbd14b3df3e9c915eac33c2e1fb");
  DigestCredentials c;
  c.username = "admin";
  c.realm = "Freehold";
  c.nonce = "0123456789abcdef";
  c.uri = kUri;
  EXPECT_EQ(digest_response(c, "DESCRIBE", ha1), "a7930772e05ad57cb861769ce4b2ffd1");
  c.uri = kUri + "/trackID=0";
  c.qop = "auth";
  c.nc = "00000001";
  c.cnonce = "f3a1c2d4e5b6a798";
  EXPECT_EQ(digest_response(c, "SETUP", ha1), "3fa3a1fbce1b0c773c8a8622d06c8b10");
  EXPECT_EQ(digest_response(c, "SETUP", "2E7CCDBD14B3DF3E9C915EAC33C2E1FB"), "3fa3a1fbce1b0c773c8a8622d06c8b10")
      << "a stored HA1 may be upper-case";
}

TEST_F(DigestAuthTest, ChallengeCarriesRealmAndAnAuthenticNonce) {
  const std::string challenge = auth_.challenge(now_);
  std::smatch m;
  ASSERT_TRUE(std::regex_match(challenge, m, std::regex(R"re(Digest realm="Freehold", nonce="([0-9a-f]{72})")re")))
      << challenge;
  EXPECT_EQ(auth_.check_nonce(m[1].str(), now_), DigestAuth::NonceState::fresh);
  EXPECT_NE(auth_.nonce(now_), auth_.nonce(now_)) << "random part";

  DigestAuth chatty("Cam \"lobby\"", kSecret, {.advertise_algorithm = true, .offer_qop = true});
  EXPECT_TRUE(std::regex_match(chatty.challenge(now_, true),
                               std::regex(R"(Digest realm="Cam \\"lobby\\"", nonce="[0-9a-f]{72}", )"
                                          R"(algorithm=MD5, qop="auth", stale=true)")))
      << chatty.challenge(now_, true);
  EXPECT_EQ(chatty.basic_challenge(), "Basic realm=\"Cam \\\"lobby\\\"\"");
}

TEST_F(DigestAuthTest, AcceptsTheRightPasswordWithAndWithoutQop) {
  const std::string nonce = auth_.nonce(now_);
  for (bool qop : {false, true}) {
    auto c = client(nonce, "DESCRIBE", kUri, "correct horse battery", qop);
    EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse battery", now_ + 10s), DigestVerdict::ok) << qop;
    EXPECT_EQ(auth_.verify_ha1(c, "DESCRIBE", kUri, digest_ha1("admin", "Freehold", "correct horse battery"), now_),
              DigestVerdict::ok);
  }
}

TEST_F(DigestAuthTest, RoundTripThroughTheHeaderParser) {
  const auto c = client(auth_.nonce(now_), "PLAY", kUri, "correct horse battery", true);
  const std::string header = "Digest username=\"" + c.username + "\", realm=\"" + c.realm + "\", nonce=\"" + c.nonce +
                             "\", uri=\"" + c.uri + "\", response=\"" + c.response + "\", qop=auth, nc=" + c.nc +
                             ", cnonce=\"" + c.cnonce + "\"";
  std::string error;
  auto parsed = parse_digest_authorization(header, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(auth_.verify(*parsed, "PLAY", kUri, "correct horse battery", now_), DigestVerdict::ok);
}

TEST_F(DigestAuthTest, WrongPasswordMethodOrUserIsWrongResponse) {
  const auto c = client(auth_.nonce(now_), "DESCRIBE", kUri, "correct horse battery", true);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse batterY", now_), DigestVerdict::wrong_response);
  EXPECT_EQ(auth_.verify(c, "PLAY", kUri, "correct horse battery", now_), DigestVerdict::wrong_response)
      << "the method is part of the digest";
  auto other = c;
  other.username = "viewer";
  EXPECT_EQ(auth_.verify(other, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::wrong_response);
  auto tampered = c;
  tampered.nc = "00000002";
  EXPECT_EQ(auth_.verify(tampered, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::wrong_response);
}

TEST_F(DigestAuthTest, ExpiredNonceIsStaleOnlyWhenTheDigestIsRight) {
  const std::string nonce = auth_.nonce(now_);
  const auto c = client(nonce, "DESCRIBE", kUri, "correct horse battery", false);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse battery", now_ + 300s), DigestVerdict::ok);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse battery", now_ + 301s), DigestVerdict::stale);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "wrong password", now_ + 301s), DigestVerdict::wrong_response)
      << "stale=true would let a client retry a wrong password without asking its user";
  EXPECT_EQ(auth_.check_nonce(nonce, now_ - 1s), DigestAuth::NonceState::stale) << "from the future";
  DigestAuth short_lived("Freehold", kSecret, {.nonce_lifetime = 10s});
  EXPECT_EQ(short_lived.check_nonce(nonce, now_ + 11s), DigestAuth::NonceState::stale);
}

TEST_F(DigestAuthTest, ForgedNoncesAreRefused) {
  const std::string nonce = auth_.nonce(now_);
  std::string flipped = nonce;
  flipped[10] = flipped[10] == '0' ? '1' : '0';  // in the timestamp: someone extending a nonce's life
  std::string bad_tag = nonce;
  bad_tag.back() = bad_tag.back() == '0' ? '1' : '0';
  const std::string forgeries[] = {flipped,      bad_tag, std::string(72, '0'), "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                                   nonce + "00", nonce.substr(0, 70) + "zz", ""};
  for (const std::string& forged : forgeries) {
    EXPECT_EQ(auth_.check_nonce(forged, now_), DigestAuth::NonceState::invalid) << forged;
    const auto c = client(forged, "DESCRIBE", kUri, "correct horse battery", true);
    EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::bad_nonce) << forged;
  }
}

TEST_F(DigestAuthTest, NonceFromAnotherSecretOrRealmIsRefused) {
  DigestAuth earlier_run("Freehold", std::string(32, 'x'));
  const auto c = client(earlier_run.nonce(now_), "DESCRIBE", kUri, "correct horse battery", true);
  EXPECT_EQ(earlier_run.verify(c, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::ok);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::bad_nonce);

  DigestAuth renamed("Front door", kSecret);
  EXPECT_EQ(renamed.check_nonce(auth_.nonce(now_), now_), DigestAuth::NonceState::invalid)
      << "the realm is bound into the nonce";
}

TEST_F(DigestAuthTest, RealmUriAlgorithmAndQopAreChecked) {
  const std::string nonce = auth_.nonce(now_);
  const auto elsewhere = client(nonce, "DESCRIBE", kUri, "correct horse battery", true, "Other");
  EXPECT_EQ(auth_.verify(elsewhere, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::wrong_realm);

  // The uri is compared as sent: no normalisation of case, port or trailing dots.
  const auto c = client(nonce, "DESCRIBE", kUri, "correct horse battery", true);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", "rtsp://192.0.2.10/stream1", "correct horse battery", now_),
            DigestVerdict::wrong_uri);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", "RTSP://192.0.2.10:554/stream1", "correct horse battery", now_),
            DigestVerdict::wrong_uri);
  EXPECT_EQ(auth_.verify(c, "DESCRIBE", kUri + "0", "correct horse battery", now_), DigestVerdict::wrong_uri)
      << "stream1 does not cover stream10";
  // live555 signs a track's SETUP with the stream's URL; the digest is over that URL.
  const auto setup = client(nonce, "SETUP", kUri, "correct horse battery", false);
  EXPECT_EQ(auth_.verify(setup, "SETUP", kUri + "/trackID=0", "correct horse battery", now_), DigestVerdict::ok);
  const auto setup_slash = client(nonce, "SETUP", kUri + "/", "correct horse battery", false);
  EXPECT_EQ(auth_.verify(setup_slash, "SETUP", kUri + "/trackID=0", "correct horse battery", now_),
            DigestVerdict::ok);

  auto sha = c;
  sha.algorithm = "SHA-256";
  EXPECT_EQ(auth_.verify(sha, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::unsupported);
  auto md5 = c;
  md5.algorithm = "md5";
  EXPECT_EQ(auth_.verify(md5, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::ok);
  auto auth_int = c;
  auth_int.qop = "auth-int";
  EXPECT_EQ(auth_.verify(auth_int, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::unsupported);
  EXPECT_EQ(to_string(DigestVerdict::stale), "stale_nonce");
}

TEST(DigestParse, AnyOrderEscapesTokensAndCase) {
  std::string error;
  auto c = parse_digest_authorization(
      "digest  RESPONSE=\"0123456789ABCDEF0123456789abcdef\",uri=\"rtsp://cam/a\\\"b\" , nonce=abc,"
      "realm=\"R\\\\1\",, Username=\"u\", algorithm=MD5, x-unknown=\"whatever, with comma\"",
      &error);
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->username, "u");
  EXPECT_EQ(c->realm, "R\\1");
  EXPECT_EQ(c->uri, "rtsp://cam/a\"b");
  EXPECT_EQ(c->nonce, "abc");
  EXPECT_EQ(c->algorithm, "MD5");
  EXPECT_TRUE(c->qop.empty());
}

TEST_F(DigestAuthTest, FfmpegQuotesQopAndAlgorithm) {
  // libavformat/httpauth.c writes algorithm="MD5" and qop="auth" quoted ("because all others seem to do that").
  auto c = client(auth_.nonce(now_), "DESCRIBE", kUri, "correct horse battery", true);
  const std::string header = "Digest username=\"admin\", realm=\"Freehold\", nonce=\"" + c.nonce + "\", uri=\"" + kUri +
                             "\", response=\"" + c.response + "\", algorithm=\"MD5\", qop=\"auth\", cnonce=\"" +
                             c.cnonce + "\", nc=00000001";
  std::string error;
  auto parsed = parse_digest_authorization(header, &error);
  ASSERT_TRUE(parsed) << error;
  EXPECT_EQ(parsed->algorithm, "MD5");
  EXPECT_EQ(parsed->qop, "auth");
  EXPECT_EQ(auth_.verify(*parsed, "DESCRIBE", kUri, "correct horse battery", now_), DigestVerdict::ok);
}

TEST(DigestParse, MalformedHeadersNameTheirProblem) {
  const std::string ok_tail = "realm=\"r\", nonce=\"n\", uri=\"u\", response=\"0123456789abcdef0123456789abcdef\"";
  std::string many;
  for (int i = 0; i < 30; ++i) many += ", p" + std::to_string(i) + "=1";
  struct Case {
    std::string header;
    const char* why;
  };
  const Case cases[] = {
      {"", "not a Digest"},
      {"Basic dXNlcjpwYXNz", "not a Digest"},
      {"Digestusername=\"u\"", "not a Digest"},
      {"Digest", "username is missing"},
      {"Digest " + ok_tail, "username is missing"},
      {"Digest username=\"\", " + ok_tail, "empty Digest username"},
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\"", "response is missing"},
      {"Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"abc\"", "32 hex"},
      {"Digest username=\"u, " + ok_tail, "expected ','"},
      {"Digest username=\"u", "unterminated"},
      {"Digest username=\"u\\", "unterminated"},
      {"Digest username=\"u\" realm=\"r\"", "expected ','"},
      {"Digest username", "has no value"},
      {"Digest username=, " + ok_tail, "empty value"},
      {"Digest =\"u\", " + ok_tail, "parameter name"},
      {"Digest username=\"u\", username=\"v\", " + ok_tail, "given twice"},
      {"Digest username=\"u\", qop=auth, " + ok_tail, "cnonce"},
      {"Digest username=\"u\", qop=auth, cnonce=\"c\", nc=1, " + ok_tail, "nc is not 8 hex"},
      {"Digest username=\"u\", userhash=true, " + ok_tail, "userhash"},
      {"Digest username*=UTF-8''Mufasa, " + ok_tail, "username*"},
      {"Digest username=\"" + std::string(1025, 'a') + "\", " + ok_tail, "longer than 1024"},
      {"Digest username=" + std::string(1025, 'a') + ", " + ok_tail, "longer than 1024"},
      {"Digest username=\"a\x01\", " + ok_tail, "control character"},
      {"Digest username=\"u\", " + ok_tail + many, "more than 32"},
      {"Digest username=\"u\", " + ok_tail + std::string(9000, ' '), "longer than 8 KiB"},
  };
  for (const auto& c : cases) {
    std::string error;
    EXPECT_FALSE(parse_digest_authorization(c.header, &error)) << c.header;
    EXPECT_NE(error.find(c.why), std::string::npos) << c.header.substr(0, 80) << " -> " << error;
  }
  EXPECT_TRUE(parse_digest_authorization("Digest username=\"u\", " + ok_tail));
}

TEST(DigestBasic, ParsesUserAndPassword) {
  std::string error;
  auto c = parse_basic_authorization("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", &error);  // RFC 7617 §2
  ASSERT_TRUE(c) << error;
  EXPECT_EQ(c->username, "Aladdin");
  EXPECT_EQ(c->password, "open sesame");
  auto colon = parse_basic_authorization("basic dXNlcjpwYTpzcw");  // "user:pa:ss", unpadded
  ASSERT_TRUE(colon);
  EXPECT_EQ(colon->password, "pa:ss");
  EXPECT_FALSE(parse_basic_authorization("Basic dXNlcnBhc3M=", &error));  // "userpass"
  EXPECT_NE(error.find("':'"), std::string::npos) << error;
  EXPECT_FALSE(parse_basic_authorization("Basic !!!!", &error));
  EXPECT_NE(error.find("base64"), std::string::npos) << error;
  EXPECT_FALSE(parse_basic_authorization("Basic", &error));
  EXPECT_FALSE(parse_basic_authorization("Basic " + std::string(5000, 'A'), &error));
  EXPECT_FALSE(parse_basic_authorization("Digest username=\"u\"", &error));

  EXPECT_EQ(auth_scheme(""), AuthScheme::none);
  EXPECT_EQ(auth_scheme("Basic QQ=="), AuthScheme::basic);
  EXPECT_EQ(auth_scheme(" DIGEST username=\"u\""), AuthScheme::digest);
  EXPECT_EQ(auth_scheme("Bearer x"), AuthScheme::other);
  EXPECT_EQ(auth_scheme("Digestive"), AuthScheme::other);
}

}  // namespace
}  // namespace freehold::rtsp
