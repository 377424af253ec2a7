// SPDX-License-Identifier: GPL-3.0-or-later
// Who the device lets in through the relay: paired clients, the owners of the configuration, grants (the vector of
// docs/relay-protocol.md), expiry, revocation, and grants from someone who may not issue them.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "relay/access.hpp"
#include "relay/messages.hpp"

namespace freehold::relay {
namespace {

Identity seeded(unsigned char first) {
  std::array<unsigned char, 32> seed{};
  for (size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<unsigned char>(first + i);
  return Identity::from_seed(seed);
}

struct TempFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("fh-access-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + ".json");
  ~TempFile() { std::filesystem::remove(path); }
  static inline int counter = 0;
};

TEST(RelayGrant, MatchesTheDocumentedVector) {
  const auto issuer = seeded(0x00), client = seeded(0x20), device = seeded(0x40);
  EXPECT_EQ(id_text(issuer.id()), "qya2qvvbl3jxb3d7k6vwer6n2yccl4so");
  const auto text = make_grant(issuer, device.id(), client.public_key(), Role::viewer, 1900000000);
  EXPECT_EQ(text,
            "fhg1.ZnJlZWhvbGQtZ3JhbnQtdjEAQa61_f65uiq8xTMulaP6qLzHIOAprLrhQbzK8LIuGpTTTQvHNh5SbQv-EsiXlLyTIpZt1wMAAAAAcT-"
            "zAAOhB7_zzhC-HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4E8fmX9rVL8ZntBd3nfeUM5vcxZrNyz0ZqeTeyjguWzfHtLrdtU9yb9hTrMX8GZ9Sz"
            "9LP608ylR8cAk-Ivpa6DA");
  std::string error;
  const auto g = parse_grant(text, &error);
  ASSERT_TRUE(g) << error;
  EXPECT_EQ(g->role, Role::viewer);
  EXPECT_EQ(g->not_after, 1900000000);
  EXPECT_EQ(g->issuer, issuer.public_key());
  auto altered = text;
  altered[40] = altered[40] == 'A' ? 'B' : 'A';
  EXPECT_FALSE(parse_grant(altered, &error));
  EXPECT_FALSE(parse_grant("fhg2." + text.substr(5), &error));
  EXPECT_FALSE(parse_grant(text.substr(0, 100), &error));
}

TEST(RelayAccess, OwnersPairedClientsAndGrantsAreAdmittedWithTheirRoles) {
  TempFile f;
  std::string error;
  auto access = ClientAccess::load(f.path, &error);
  ASSERT_TRUE(access) << error;
  const auto device = seeded(0x40), owner = seeded(0x00), paired = seeded(0x60), guest = seeded(0x20),
             stranger = seeded(0x80);
  const std::vector<PublicKey> owners{owner.public_key()};
  const int64_t now = 1800000000;
  EXPECT_EQ(access->admit(owner.public_key(), "", device.id(), owners, now).role, "admin");
  auto refused = access->admit(paired.public_key(), "", device.id(), owners, now);
  EXPECT_FALSE(refused.ok);
  EXPECT_EQ(refused.error, "not_paired");
  ASSERT_FALSE(access->pair(paired.public_key(), "phone", Role::operator_, now));
  EXPECT_EQ(access->admit(paired.public_key(), "", device.id(), owners, now).role, "operator");
  EXPECT_EQ(std::filesystem::status(f.path).permissions() & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);

  const auto grant = make_grant(owner, device.id(), guest.public_key(), Role::viewer, now + 3600);
  EXPECT_EQ(access->admit(guest.public_key(), grant, device.id(), owners, now).role, "viewer");
  EXPECT_EQ(access->admit(guest.public_key(), grant, device.id(), owners, now + 3600).error, "grant_expired");
  EXPECT_EQ(access->admit(stranger.public_key(), grant, device.id(), owners, now).error, "grant_invalid")
      << "a grant is useless to anyone but its client";
  EXPECT_EQ(access->admit(guest.public_key(), grant, seeded(0xa0).id(), owners, now).error, "grant_invalid")
      << "a grant is for one device";
  const auto self_made = make_grant(stranger, device.id(), guest.public_key(), Role::admin, now + 3600);
  EXPECT_EQ(access->admit(guest.public_key(), self_made, device.id(), owners, now).error, "grant_invalid")
      << "only a paired admin may grant";
  const auto by_operator = make_grant(paired, device.id(), guest.public_key(), Role::viewer, now + 3600);
  EXPECT_EQ(access->admit(guest.public_key(), by_operator, device.id(), owners, now).error, "grant_invalid");

  // Revocation survives a reload and beats the grant; revoking the issuer voids what it issued.
  ASSERT_FALSE(access->revoke(guest.id()));
  auto reloaded = ClientAccess::load(f.path, &error);
  ASSERT_TRUE(reloaded) << error;
  EXPECT_EQ(reloaded->admit(guest.public_key(), grant, device.id(), owners, now).error, "revoked");
  EXPECT_EQ(reloaded->admit(paired.public_key(), "", device.id(), owners, now).role, "operator");
  ASSERT_FALSE(reloaded->pair(paired.public_key(), "", Role::admin, now));
  const auto by_paired_admin = make_grant(paired, device.id(), stranger.public_key(), Role::viewer, now + 60);
  EXPECT_TRUE(reloaded->admit(stranger.public_key(), by_paired_admin, device.id(), owners, now).ok);
  ASSERT_FALSE(reloaded->revoke(paired.id()));
  EXPECT_EQ(reloaded->admit(stranger.public_key(), by_paired_admin, device.id(), owners, now).error, "grant_invalid");
}

TEST(RelayAccess, ADamagedFileIsAnErrorNotAnEmptyList) {
  TempFile f;
  {
    std::ofstream(f.path) << "{\"clients\": [{\"key\": \"nope\", \"role\": \"admin\"}], \"blocked\": []}";
  }
  std::string error;
  EXPECT_FALSE(ClientAccess::load(f.path, &error));
  EXPECT_NE(error.find(f.path.string()), std::string::npos);
}

}  // namespace
}  // namespace freehold::relay

namespace freehold::relay {
namespace {

TEST(RelayMessages, TheRequestRoundTripsAndOnlyTheDocumentedShapeParses) {
  const auto client = Identity::generate();
  const SessionRequest r{"rtsp", client.public_key(), ""};
  std::string error;
  const auto back = parse_session_request(session_request_json(r), &error);
  ASSERT_TRUE(back) << error;
  EXPECT_EQ(back->service, "rtsp");
  EXPECT_EQ(back->key, client.public_key());
  EXPECT_TRUE(back->grant.empty());
  const std::string key = key_text(client.public_key());
  for (const std::string& bad : std::vector<std::string>{"[]", "{}", "not json", R"({"v":2,"service":"rtsp","key":")" + key + "\"}",
                                R"({"v":"1","service":"rtsp","key":")" + key + "\"}",
                                R"({"v":1,"service":7,"key":")" + key + "\"}", R"({"v":1,"service":"rtsp"})",
                                R"({"v":1,"service":"rtsp","key":"short"})",
                                R"({"v":1,"service":"rtsp","key":")" + key + R"(","grant":["x"]})",
                                R"({"v":1,"service":")" + std::string(2000, 'a') + R"(","key":")" + key + "\"}"}) {
    error.clear();
    EXPECT_FALSE(parse_session_request(bad, &error)) << bad;
    EXPECT_FALSE(error.empty()) << bad;
  }
}

TEST(RelayMessages, AnswersParseAndAnythingElseIsARefusal) {
  EXPECT_EQ(parse_session_answer(session_answer_json({true, "viewer", "", ""})).role, "viewer");
  const auto no = parse_session_answer(session_answer_json({false, "", "revoked", "client x was revoked"}));
  EXPECT_FALSE(no.ok);
  EXPECT_EQ(no.error, "revoked");
  EXPECT_EQ(no.message, "client x was revoked");
  for (const char* bad : {"", "{}", R"({"ok":"yes"})", R"({"ok":true})", R"({"ok":true,"role":"root"})",
                          R"({"ok":false})", "[true]"}) {
    const auto a = parse_session_answer(bad);
    EXPECT_FALSE(a.ok) << bad;
    EXPECT_EQ(a.error, "bad_answer") << bad;
  }
}

}  // namespace
}  // namespace freehold::relay
