// SPDX-License-Identifier: GPL-3.0-or-later
// The relay's user-space TLS 1.3 record layer (relay/records.hpp) against real OpenSSL, in memory: a client SSL and a
// server SSL finish a handshake through memory BIOs, the server's record layer is taken over, and from then on
// OpenSSL's client must understand every byte Records writes and Records every byte the client writes, for both
// suites the relay offers: application data, KeyUpdate both ways (RFC 8446 §4.6.3), close_notify, the exporter
// (§7.5), and the refusals (tampered, malformed or truncated records; handshakes it cannot take over).
#include <gtest/gtest.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <utility>

#include "relay/records.hpp"

namespace freehold::relay {
namespace {

constexpr std::string_view kExporterLabel = "EXPORTER-freehold-relay-v1";
constexpr const char* kAes = "TLS_AES_128_GCM_SHA256";
constexpr const char* kChacha = "TLS_CHACHA20_POLY1305_SHA256";

template <auto Fn>
struct Deleter {
  template <typename T>
  void operator()(T* p) const {
    Fn(p);
  }
};
using CtxPtr = std::unique_ptr<SSL_CTX, Deleter<SSL_CTX_free>>;
using SslPtr = std::unique_ptr<SSL, Deleter<SSL_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;

std::string openssl_errors() {
  std::string out;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += out.empty() ? "" : "; ";
    out += buf;
  }
  return out.empty() ? "no OpenSSL error" : out;
}

// Everything waiting in a memory BIO.
std::string drain(BIO* bio) {
  std::string s(BIO_ctrl_pending(bio), '\0');
  if (!s.empty()) s.resize(static_cast<size_t>(std::max(0, BIO_read(bio, s.data(), static_cast<int>(s.size())))));
  return s;
}

// Deterministic bytes, so that a failure repeats.
std::string make_data(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (auto& c : s) c = static_cast<char>(rng());
  return s;
}

// A TLS 1.3 server context as configure_relay_server makes it (relay/link.cpp), with a throwaway self-signed
// ECDSA P-256 certificate; `records` false leaves out record_secrets.
CtxPtr server_context(bool records) {
  CtxPtr ctx(SSL_CTX_new(TLS_server_method()));
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  X509Ptr cert(X509_new());
  if (!ctx || !key || !cert) return nullptr;
  X509_set_version(cert.get(), X509_VERSION_3);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("relay.test"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0 || SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 ||
      SSL_CTX_use_PrivateKey(ctx.get(), key.get()) != 1 || SSL_CTX_check_private_key(ctx.get()) != 1)
    return nullptr;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_num_tickets(ctx.get(), 0);
  if (records) record_secrets(ctx.get());
  return ctx;
}

// A TLS 1.3 client that verifies nothing and offers only `suite`.
CtxPtr client_context(const char* suite) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return nullptr;
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_3_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);
  if (SSL_CTX_set_ciphersuites(ctx.get(), suite) != 1) return nullptr;
  return ctx;
}

// A client and a server SSL, each with a memory BIO for what it receives and one for what it sends; the test moves
// the bytes by hand, so it sees (and may alter) every record.
class Pair {
 public:
  Pair(SSL_CTX* server_ctx, SSL_CTX* client_ctx) : server_(make(server_ctx)), client_(make(client_ctx)) {
    SSL_set_accept_state(server_.get());
    SSL_set_read_ahead(server_.get(), 0);  // as Link does on the relay's side
    SSL_set_connect_state(client_.get());
  }

  SSL* server() const { return server_.get(); }
  SSL* client() const { return client_.get(); }

  static std::string sent(SSL* ssl) { return drain(SSL_get_wbio(ssl)); }
  static void receive(SSL* ssl, std::string_view bytes) {
    if (!bytes.empty()) BIO_write(SSL_get_rbio(ssl), bytes.data(), static_cast<int>(bytes.size()));
  }

  // Runs both handshakes to the end. `first_request`, if any, is what the client writes as soon as its own handshake
  // is done, so that it reaches the server right behind the client's Finished, as a real client's first bytes do.
  [[nodiscard]] bool handshake(std::string_view first_request = {}) {
    bool client_done = false, server_done = false;
    for (int round = 0; round < 10 && !(client_done && server_done); ++round) {
      if (!client_done && !step(client(), &client_done)) return false;
      if (client_done && !first_request.empty()) {
        if (SSL_write(client(), first_request.data(), static_cast<int>(first_request.size())) <= 0) return false;
        first_request = {};
      }
      receive(server(), sent(client()));
      if (!server_done && !step(server(), &server_done)) return false;
      receive(client(), sent(server()));
    }
    return client_done && server_done;
  }

 private:
  static SslPtr make(SSL_CTX* ctx) {
    SslPtr ssl(SSL_new(ctx));
    BIO* in = BIO_new(BIO_s_mem());
    BIO* out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(in, -1);  // empty means "not yet", not end of stream
    SSL_set_bio(ssl.get(), in, out);
    return ssl;
  }
  static bool step(SSL* ssl, bool* done) {
    const int r = SSL_do_handshake(ssl);
    *done = r == 1;
    if (r == 1 || SSL_get_error(ssl, r) == SSL_ERROR_WANT_READ) return true;
    ADD_FAILURE() << (SSL_is_server(ssl) ? "server" : "client") << " handshake: " << openssl_errors();
    return false;
  }

  SslPtr server_, client_;
};

// What one call to Records::open said about the record at the front of the bytes it was given.
struct Opened {
  Records::Result result = Records::Result::failed;
  size_t used = 0;
  std::string plain, reply, error;
};

// Opens the record at `*at` in `wire` (in place, as Link::read_records does) and moves `*at` past it if it was whole.
Opened open_next(Records& r, std::string& wire, size_t* at, size_t available = std::string::npos) {
  Opened o;
  size_t plain = 0;
  auto* p = reinterpret_cast<unsigned char*>(wire.data() + *at);
  o.result = r.open(p, std::min(available, wire.size() - *at), &o.used, &plain, &o.reply, &o.error);
  if (o.result == Records::Result::data) {
    o.plain.assign(reinterpret_cast<const char*>(p + 5), plain);
    *at += o.used;
  }
  return o;
}

// Opens every record of `wire`, each of which must be application data (or a KeyUpdate that wants no reply), and
// returns their plaintext.
std::string open_all(Records& r, std::string wire) {
  std::string plain;
  size_t at = 0;
  while (at < wire.size()) {
    const auto o = open_next(r, wire, &at);
    if (o.result != Records::Result::data) {
      ADD_FAILURE() << "record at " << at << " of " << wire.size() << ": result " << static_cast<int>(o.result) << " "
                    << o.error;
      break;
    }
    EXPECT_EQ(o.reply, "");
    plain += o.plain;
  }
  return plain;
}

// Reads `n` bytes of application data on `ssl` (one record per SSL_read), or what it got before an error.
std::string read_plain(SSL* ssl, size_t n) {
  std::string out;
  char buf[1 << 14];
  while (out.size() < n) {
    const int got = SSL_read(ssl, buf, sizeof buf);
    if (got <= 0) {
      ADD_FAILURE() << "SSL_read after " << out.size() << " of " << n << " bytes: error " << SSL_get_error(ssl, got)
                    << ", " << openssl_errors();
      break;
    }
    out.append(buf, static_cast<size_t>(got));
  }
  return out;
}

void write_plain(SSL* ssl, std::string_view data) {
  ASSERT_EQ(SSL_write(ssl, data.data(), static_cast<int>(data.size())), static_cast<int>(data.size()))
      << openssl_errors();
}

// A completed handshake on the suite named by the parameter, the server's record layer taken over by Records.
class RelayRecordsTest : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    server_ctx_ = server_context(true);
    client_ctx_ = client_context(GetParam());
    ASSERT_TRUE(server_ctx_ && client_ctx_) << openssl_errors();
    pair_ = std::make_unique<Pair>(server_ctx_.get(), client_ctx_.get());
    ASSERT_TRUE(pair_->handshake());
    ASSERT_STREQ(SSL_CIPHER_get_name(SSL_get_current_cipher(pair_->server())), GetParam());
    records_ = Records::take(pair_->server());
    ASSERT_TRUE(records_.has_value());
  }

  SSL* client() const { return pair_->client(); }
  // What the client has sent since the last call: the records Records must open.
  std::string from_client() const { return Pair::sent(client()); }
  void to_client(std::string_view bytes) const { Pair::receive(client(), bytes); }
  // Seals `data` with Records and hands the records to the client.
  void seal_to_client(std::string_view data) {
    std::string out;
    ASSERT_TRUE(records_->seal(data, out));
    to_client(out);
  }

  // The client asks for a KeyUpdate of `type` and sends data under its new key: the update opens as a record
  // without plaintext, the data after it opens as well. Returns the update (with our reply, if one is due).
  Opened key_update(int type) {
    EXPECT_EQ(SSL_key_update(client(), type), 1);
    write_plain(client(), "under the new key");
    std::string wire = from_client();
    size_t at = 0;
    const auto update = open_next(*records_, wire, &at);
    EXPECT_EQ(update.result, Records::Result::data) << update.error;
    EXPECT_EQ(update.plain, "");
    const auto data = open_next(*records_, wire, &at);
    EXPECT_EQ(data.result, Records::Result::data) << data.error;
    EXPECT_EQ(data.plain, "under the new key");
    EXPECT_EQ(at, wire.size());
    return update;
  }

  CtxPtr server_ctx_, client_ctx_;
  std::unique_ptr<Pair> pair_;
  std::optional<Records> records_;
};

TEST_P(RelayRecordsTest, ExporterMatchesOpenSsl) {
  for (const auto& [label, length] : {std::pair{kExporterLabel, size_t{32}}, std::pair{kExporterLabel, size_t{16}},
                                      std::pair{std::string_view("EXPORTER-other"), size_t{32}}}) {
    std::string expected(length, '\0');
    ASSERT_EQ(SSL_export_keying_material(client(), reinterpret_cast<unsigned char*>(expected.data()), length,
                                         label.data(), label.size(), nullptr, 0, 0),
              1);
    EXPECT_EQ(records_->exporter(label, length), expected) << label << ", " << length << " bytes";
  }
}

TEST_P(RelayRecordsTest, OpensWhatTheClientWrites) {
  const std::string small = "GET / HTTP/1.1\r\n\r\n", large = make_data(40000, 1);
  write_plain(client(), small);
  write_plain(client(), large);
  EXPECT_EQ(open_all(*records_, from_client()), small + large);
}

TEST_P(RelayRecordsTest, StripsThePaddingOfPaddedRecords) {
  // Application data that ends in zeros, padded with zeros: only the padding may go (RFC 8446 §5.4).
  SSL_set_block_padding(client(), 512);
  const std::string data = std::string("ends in zeros\0\0\0", 16) + make_data(20000, 2) + std::string(3, '\0');
  write_plain(client(), data.substr(0, 16));
  write_plain(client(), data.substr(16));
  const std::string wire = from_client();
  ASSERT_GE(wire.size(), 5u);
  ASSERT_EQ(size_t{static_cast<unsigned char>(wire[3])} << 8 | static_cast<unsigned char>(wire[4]), 512u + 16)
      << "the client did not pad";
  EXPECT_EQ(open_all(*records_, wire), data);
}

TEST_P(RelayRecordsTest, SealsWhatTheClientReads) {
  const std::string data = make_data(100 * 1024, 3);
  seal_to_client(data);
  EXPECT_EQ(read_plain(client(), data.size()), data);
  seal_to_client("and more");
  EXPECT_EQ(read_plain(client(), 8), "and more");
}

TEST_P(RelayRecordsTest, KeyUpdateRequestedUpdatesBothDirections) {
  for (int round = 0; round < 3; ++round) {
    SCOPED_TRACE(round);
    const auto update = key_update(SSL_KEY_UPDATE_REQUESTED);
    ASSERT_NE(update.reply, "");

    // Our KeyUpdate (under the old key) first, then data under the new one.
    to_client(update.reply);
    const std::string answer = "server, new key " + std::to_string(round);
    seal_to_client(answer);
    EXPECT_EQ(read_plain(client(), answer.size()), answer);
    // Ours did not ask for another: the client's next record is data, not a KeyUpdate of its own.
    write_plain(client(), "ack");
    std::string ack = from_client();
    size_t ack_at = 0;
    EXPECT_EQ(open_next(*records_, ack, &ack_at).plain, "ack");
    EXPECT_EQ(ack_at, ack.size());
  }
}

TEST_P(RelayRecordsTest, KeyUpdateNotRequestedUpdatesOnlyTheReadSide) {
  EXPECT_EQ(key_update(SSL_KEY_UPDATE_NOT_REQUESTED).reply, "");

  seal_to_client("server, old key");
  EXPECT_EQ(read_plain(client(), 15), "server, old key");
}

TEST_P(RelayRecordsTest, RefusesATamperedRecord) {
  write_plain(client(), "hello");
  const std::string wire = from_client();
  ASSERT_EQ(wire.size(), 5u + 5 + 1 + 16);
  // A bit of the ciphertext, of the encrypted content type, of the tag.
  for (const size_t byte : {size_t{5}, size_t{10}, wire.size() - 1}) {
    SCOPED_TRACE(byte);
    std::string bad = wire;
    bad[byte] = static_cast<char>(bad[byte] ^ 0x10);
    size_t at = 0;
    const auto o = open_next(*records_, bad, &at);
    EXPECT_EQ(o.result, Records::Result::failed);
    EXPECT_NE(o.error.find("authentication"), std::string::npos) << o.error;
  }
  // None of that moved the sequence number: the genuine record still opens, and only once.
  std::string good = wire;
  size_t at = 0;
  EXPECT_EQ(open_next(*records_, good, &at).plain, "hello");
  good = wire;
  at = 0;
  const auto replayed = open_next(*records_, good, &at);
  EXPECT_EQ(replayed.result, Records::Result::failed);
  EXPECT_NE(replayed.error.find("authentication"), std::string::npos) << replayed.error;
}

TEST_P(RelayRecordsTest, RefusesAMalformedHeader) {
  write_plain(client(), "hello");
  const std::string wire = from_client();
  const auto expect_failed = [&](size_t byte, unsigned char value, std::string_view says) {
    std::string bad = wire;
    bad[byte] = static_cast<char>(value);
    size_t at = 0;
    const auto o = open_next(*records_, bad, &at);
    EXPECT_EQ(o.result, Records::Result::failed) << "byte " << byte << " = " << int{value};
    EXPECT_NE(o.error.find(says), std::string::npos) << o.error;
  };
  expect_failed(0, 22, "type 22");          // a handshake record
  expect_failed(0, 20, "type 20");          // change_cipher_spec, which TLS 1.3 allows only during the handshake
  expect_failed(1, 2, "version 2.3");  // legacy_record_version 0x0203
  expect_failed(2, 1, "version 3.1");  // 0x0301
  expect_failed(3, 0x41, "bytes");          // 0x4116: more than 16 KiB + 256 of ciphertext
  expect_failed(4, 16, "bytes");            // shorter than a tag and a content type
}

TEST_P(RelayRecordsTest, AsksForTheRestOfATruncatedRecord) {
  write_plain(client(), "hello");
  std::string wire = from_client();
  for (const size_t have : {size_t{0}, size_t{3}, size_t{4}}) {
    size_t at = 0;
    const auto o = open_next(*records_, wire, &at, have);
    EXPECT_EQ(o.result, Records::Result::more) << have;
    EXPECT_EQ(o.used, 5u) << have;  // a header first
  }
  for (const size_t have : {size_t{5}, size_t{6}, wire.size() - 1}) {
    size_t at = 0;
    const auto o = open_next(*records_, wire, &at, have);
    EXPECT_EQ(o.result, Records::Result::more) << have;
    EXPECT_EQ(o.used, wire.size()) << have;
  }
  size_t at = 0;
  const auto o = open_next(*records_, wire, &at);
  EXPECT_EQ(o.result, Records::Result::data) << o.error;
  EXPECT_EQ(o.plain, "hello");
}

TEST_P(RelayRecordsTest, CloseNotifyToTheClient) {
  seal_to_client("last words");
  std::string out;
  ASSERT_TRUE(records_->seal_close_notify(out));
  to_client(out);
  EXPECT_EQ(read_plain(client(), 10), "last words");
  char buf[16];
  const int got = SSL_read(client(), buf, sizeof buf);
  EXPECT_EQ(got, 0);
  EXPECT_EQ(SSL_get_error(client(), got), SSL_ERROR_ZERO_RETURN) << openssl_errors();
}

TEST_P(RelayRecordsTest, CloseNotifyFromTheClient) {
  write_plain(client(), "bye");
  ASSERT_EQ(SSL_shutdown(client()), 0);  // sent ours, waiting for the relay's
  std::string wire = from_client();
  size_t at = 0;
  EXPECT_EQ(open_next(*records_, wire, &at).plain, "bye");
  const auto o = open_next(*records_, wire, &at);
  EXPECT_EQ(o.result, Records::Result::closed) << o.error;
}

// A record of ours that the client cannot authenticate: it answers with a fatal alert, which is no close_notify.
TEST_P(RelayRecordsTest, AlertFromTheClient) {
  std::string out;
  ASSERT_TRUE(records_->seal("tampered", out));
  out[7] = static_cast<char>(out[7] ^ 0x01);
  to_client(out);
  char buf[16];
  const int got = SSL_read(client(), buf, sizeof buf);
  ASSERT_LT(got, 0);
  ASSERT_EQ(SSL_get_error(client(), got), SSL_ERROR_SSL);
  ERR_clear_error();
  std::string wire = from_client();
  size_t at = 0;
  const auto o = open_next(*records_, wire, &at);
  EXPECT_EQ(o.result, Records::Result::failed);
  EXPECT_NE(o.error.find("alert 20"), std::string::npos) << o.error;  // bad_record_mac
}

// The client's first request right behind its Finished: OpenSSL (read_ahead off) leaves it for Records.
TEST_P(RelayRecordsTest, OpensARequestSentWithTheFinished) {
  Pair pair(server_ctx_.get(), client_ctx_.get());
  ASSERT_TRUE(pair.handshake("the first request"));
  auto records = Records::take(pair.server());
  ASSERT_TRUE(records.has_value());
  EXPECT_EQ(open_all(*records, drain(SSL_get_rbio(pair.server()))), "the first request");
}

// A peer that sends records without data (here KeyUpdates) costs the relay work and itself none: more than 32 in a
// row end the connection, as in OpenSSL.
TEST_P(RelayRecordsTest, RefusesAFloodOfRecordsWithoutData) {
  for (int i = 0; i < 33; ++i) {
    ASSERT_EQ(SSL_key_update(client(), SSL_KEY_UPDATE_NOT_REQUESTED), 1);
    ASSERT_EQ(SSL_do_handshake(client()), 1) << openssl_errors();
  }
  std::string wire = from_client();
  size_t at = 0;
  for (int i = 0; i < 32; ++i) {
    const auto o = open_next(*records_, wire, &at);
    ASSERT_EQ(o.result, Records::Result::data) << i << ": " << o.error;
    EXPECT_EQ(o.plain, "");
  }
  const auto o = open_next(*records_, wire, &at);
  EXPECT_EQ(o.result, Records::Result::failed);
  EXPECT_NE(o.error.find("without data"), std::string::npos) << o.error;
}

INSTANTIATE_TEST_SUITE_P(RelayRecords, RelayRecordsTest, ::testing::Values(kAes, kChacha),
                         [](const ::testing::TestParamInfo<const char*>& suite) { return std::string(suite.param); });

// take() hands back nothing it cannot carry on from: the link then keeps using OpenSSL.
TEST(RelayRecordsTake, RefusesAClient) {
  auto server_ctx = server_context(true);
  auto client_ctx = client_context(kAes);
  ASSERT_TRUE(server_ctx && client_ctx);
  record_secrets(client_ctx.get());  // so that only its being a client stands in the way
  ASSERT_EQ(SSL_CTX_set_ciphersuites(client_ctx.get(), kAes), 1);
  Pair pair(server_ctx.get(), client_ctx.get());
  ASSERT_TRUE(pair.handshake());
  EXPECT_FALSE(Records::take(pair.client()).has_value());
  EXPECT_TRUE(Records::take(pair.server()).has_value());
}

TEST(RelayRecordsTake, RefusesWithoutRecordSecrets) {
  auto server_ctx = server_context(false);
  auto client_ctx = client_context(kAes);
  ASSERT_TRUE(server_ctx && client_ctx);
  Pair pair(server_ctx.get(), client_ctx.get());
  ASSERT_TRUE(pair.handshake());
  EXPECT_FALSE(Records::take(pair.server()).has_value());
}

TEST(RelayRecordsTake, RefusesAnotherSuite) {
  auto server_ctx = server_context(true);
  auto client_ctx = client_context("TLS_AES_256_GCM_SHA384");
  ASSERT_TRUE(server_ctx && client_ctx);
  ASSERT_EQ(SSL_CTX_set_ciphersuites(server_ctx.get(), "TLS_AES_256_GCM_SHA384"), 1);  // not the relay's
  Pair pair(server_ctx.get(), client_ctx.get());
  ASSERT_TRUE(pair.handshake());
  EXPECT_FALSE(Records::take(pair.server()).has_value());
}

TEST(RelayRecordsTake, RefusesWhenOpenSslReadAhead) {
  auto server_ctx = server_context(true);
  auto client_ctx = client_context(kChacha);
  ASSERT_TRUE(server_ctx && client_ctx);
  Pair pair(server_ctx.get(), client_ctx.get());
  SSL_set_read_ahead(pair.server(), 1);
  ASSERT_TRUE(pair.handshake("the first request"));
  ASSERT_TRUE(SSL_has_pending(pair.server()));
  EXPECT_FALSE(Records::take(pair.server()).has_value());
}

}  // namespace
}  // namespace freehold::relay
