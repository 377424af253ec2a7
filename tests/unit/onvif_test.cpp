// SPDX-License-Identifier: GPL-3.0-or-later
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <filesystem>

#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/crypto.hpp"
#include "core/legacy_auth.hpp"
#include "core/lockout.hpp"
#include "support/device_state.hpp"
#include "onvif/events.hpp"
#include "onvif/soap.hpp"
#include "onvif/wsse.hpp"

namespace freehold::onvif {
namespace {

using namespace std::chrono_literals;

std::string envelope(std::string_view header, std::string_view body) {
  return std::string(R"(<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" )") +
         R"(xmlns:wsse="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" )" +
         R"(xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">)" +
         "<s:Header>" + std::string(header) + "</s:Header><s:Body>" + std::string(body) + "</s:Body></s:Envelope>";
}

TEST(Soap, FindsTheOperationAndItsNamespaceWhateverThePrefix) {
  for (const char* body : {R"(<GetProfiles xmlns="http://www.onvif.org/ver10/media/wsdl"/>)",
                           R"(<trt:GetProfiles xmlns:trt="http://www.onvif.org/ver10/media/wsdl"/>)",
                           R"(<ns7:GetProfiles xmlns:ns7="http://www.onvif.org/ver10/media/wsdl"></ns7:GetProfiles>)"}) {
    auto parsed = parse_envelope(envelope("", body));
    ASSERT_TRUE(std::holds_alternative<Envelope>(parsed)) << body;
    const auto& env = std::get<Envelope>(parsed);
    EXPECT_EQ(env.op_name, "GetProfiles");
    EXPECT_EQ(env.op_ns, ns::trt);
  }
}

TEST(Soap, NamesWhatIsWrongWithABrokenRequest) {
  auto broken = parse_envelope("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body>");
  ASSERT_TRUE(std::holds_alternative<Fault>(broken));
  EXPECT_EQ(std::get<Fault>(broken).subcode, "ter:WellFormed");
  EXPECT_NE(std::get<Fault>(broken).reason.find("byte"), std::string::npos);

  auto soap11 = parse_envelope(
      R"(<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><x/></e:Body></e:Envelope>)");
  ASSERT_TRUE(std::holds_alternative<Fault>(soap11));
  EXPECT_EQ(std::get<Fault>(soap11).code, "env:VersionMismatch");

  auto empty = parse_envelope(envelope("", ""));
  ASSERT_TRUE(std::holds_alternative<Fault>(empty));
  EXPECT_EQ(std::get<Fault>(empty).subcode, "ter:Tag");
}

TEST(Soap, RefusesDoctypesSoEntitiesNeverExpand) {
  const std::string bomb = R"(<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>)"
                           R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&lol2;</s:Body></s:Envelope>)";
  auto parsed = parse_envelope(bomb);
  ASSERT_TRUE(std::holds_alternative<Fault>(parsed));
  EXPECT_EQ(std::get<Fault>(parsed).code, "env:Sender");
}

TEST(Soap, FaultCarriesCodeSubcodesAndReason) {
  const auto xml = render_fault(sender_fault("ter:InvalidArgVal", "no profile <x>", "ter:NoProfile"));
  EXPECT_NE(xml.find("<env:Value>env:Sender</env:Value>"), std::string::npos);
  EXPECT_NE(xml.find("<env:Value>ter:InvalidArgVal</env:Value>"), std::string::npos);
  EXPECT_NE(xml.find("<env:Value>ter:NoProfile</env:Value>"), std::string::npos);
  EXPECT_NE(xml.find("no profile &lt;x&gt;"), std::string::npos);  // escaped
  EXPECT_NE(xml.find("xmlns:ter=\"http://www.onvif.org/ver10/error\""), std::string::npos);
  EXPECT_EQ(receiver_fault("ter:ActionNotSupported", "x").http_status, 500);
}

TEST(Soap, ResolvesQNamesInText) {
  auto parsed = parse_envelope(envelope("", R"(<a:Op xmlns:a="urn:a" xmlns:tt="http://www.onvif.org/ver10/schema">tt:H264</a:Op>)"));
  const auto& env = std::get<Envelope>(parsed);
  const auto q = resolve_qname(env.operation, env.operation.text().get());
  EXPECT_EQ(q.ns, ns::tt);
  EXPECT_EQ(q.local, "H264");
}

// The example of the ONVIF Application Programmer's Guide (section 6.1.1.3).
TEST(WsSecurity, PasswordDigestMatchesThePublishedExample) {
  std::string nonce(16, '\0');
  const unsigned char raw[] = {0x2c, 0xaa, 0x88, 0xe8, 0x6f, 0xc0, 0x8a, 0x42,
                               0x82, 0x42, 0xb3, 0x74, 0xce, 0xa6, 0x45, 0x96};  // LKqI6G/AikKCQrN0zqZFlg==
  std::memcpy(nonce.data(), raw, 16);
  EXPECT_EQ(password_digest(nonce, "2010-09-16T07:50:45Z", "userpassword"), "tuOSpGlFlIXsozq4HFNeeGeFLEI=");
}

std::string token_header(std::string_view user, std::string_view password, std::string_view nonce_b64,
                         std::string_view created, bool digest) {
  return std::string("<wsse:Security><wsse:UsernameToken><wsse:Username>") + std::string(user) +
         "</wsse:Username><wsse:Password Type=\"http://docs.oasis-open.org/wss/2004/01/"
         "oasis-200401-wss-username-token-profile-1.0" +
         (digest ? "#PasswordDigest" : "#PasswordText") + "\">" + std::string(password) +
         "</wsse:Password><wsse:Nonce EncodingType=\"http://docs.oasis-open.org/wss/2004/01/"
         "oasis-200401-wss-soap-message-security-1.0#Base64Binary\">" +
         std::string(nonce_b64) + "</wsse:Nonce><wsu:Created>" + std::string(created) +
         "</wsu:Created></wsse:UsernameToken></wsse:Security>";
}

TEST(WsSecurity, ReadsTheTokenFromTheHeader) {
  auto parsed = parse_envelope(envelope(token_header("admin", "tuOSpGlFlIXsozq4HFNeeGeFLEI=",
                                                     "LKqI6G/AikKCQrN0zqZFlg==", "2010-09-16T07:50:45Z", true),
                                        "<x:Op xmlns:x='urn:x'/>"));
  const auto& env = std::get<Envelope>(parsed);
  std::string error;
  auto t = find_username_token(env.header, &error);
  ASSERT_TRUE(t) << error;
  EXPECT_EQ(t->username, "admin");
  EXPECT_TRUE(t->digest);
  EXPECT_EQ(t->nonce.size(), 16u);
  EXPECT_EQ(password_digest(t->nonce, t->created, "userpassword"), t->password);

  auto bad = parse_envelope(envelope(token_header("admin", "x", "***not base64***", "2010-09-16T07:50:45Z", true),
                                     "<x:Op xmlns:x='urn:x'/>"));
  EXPECT_FALSE(find_username_token(std::get<Envelope>(bad).header, &error));
  EXPECT_NE(error.find("Base64"), std::string::npos) << error;
}

TEST(WsSecurity, AcceptsEveryCreatedFormClientsSend) {
  const auto base = parse_datetime("2026-11-23T10:00:00Z");
  ASSERT_TRUE(base);
  for (const char* form : {"2026-11-23T10:00:00.5Z", "2026-11-23T10:00:00.123Z", "2026-11-23T10:00:00.123456789Z",
                           "2026-11-23T10:00:00+00:00", "2026-11-23T11:00:00+01:00", "2026-11-23T04:30:00-05:30"}) {
    auto t = parse_datetime(form);
    ASSERT_TRUE(t) << form;
    EXPECT_LT(std::chrono::abs(*t - *base), 1s) << form;
  }
  for (const char* bad : {"2026-11-23T10:00:00", "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z",
                          "2026-11-23T10:00:00.1234567890Z", "2026-11-23 10:00:00Z", "", "garbage"}) {
    EXPECT_FALSE(parse_datetime(bad)) << bad;
  }
}

UsernameToken digest_token(std::string_view password, std::string nonce, std::string created) {
  UsernameToken t;
  t.username = "alice";
  t.digest = true;
  t.nonce = std::move(nonce);
  t.created = std::move(created);
  t.password = password_digest(t.nonce, t.created, password);
  return t;
}

TEST(WsSecurity, ChecksClockSkewAndRefusesReplays) {
  ASSERT_TRUE(crypto::init());
  NonceCache cache;
  const auto now = *parse_datetime("2026-11-23T10:00:00Z");
  // Three minutes off either way is fine (a camera's clock is rarely right); ten is not.
  EXPECT_EQ(cache.verify(digest_token("pw", "n1", "2026-11-23T10:03:00Z"), "pw", now), TokenVerdict::ok);
  EXPECT_EQ(cache.verify(digest_token("pw", "n2", "2026-11-23T09:57:00.25Z"), "pw", now), TokenVerdict::ok);
  EXPECT_EQ(cache.verify(digest_token("pw", "n3", "2026-11-23T09:50:00Z"), "pw", now), TokenVerdict::stale);
  EXPECT_EQ(cache.verify(digest_token("pw", "n4", "2026-11-23T10:10:00Z"), "pw", now), TokenVerdict::stale);
  // The same header again: refused, even though the password is right.
  EXPECT_EQ(cache.verify(digest_token("pw", "n1", "2026-11-23T10:03:00Z"), "pw", now), TokenVerdict::replayed);
  EXPECT_EQ(cache.verify(digest_token("wrong", "n5", "2026-11-23T10:00:00Z"), "pw", now),
            TokenVerdict::wrong_password);
  // A wrong password does not burn the nonce of a later right one.
  EXPECT_EQ(cache.verify(digest_token("pw", "n5", "2026-11-23T10:00:00Z"), "pw", now), TokenVerdict::ok);
  EXPECT_EQ(cache.verify(digest_token("pw", "", "2026-11-23T10:00:00Z"), "pw", now),
            TokenVerdict::digest_without_nonce);
  EXPECT_EQ(cache.verify(digest_token("pw", "n6", "yesterday"), "pw", now), TokenVerdict::bad_created);
}

TEST(WsSecurity, AFullNonceCacheNeverLetsAReplayThrough) {
  NonceCache cache(5min, 4);
  const auto now = *parse_datetime("2026-11-23T10:00:00Z");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(cache.verify(digest_token("pw", "n" + std::to_string(i), "2026-11-23T10:00:0" + std::to_string(i) + "Z"),
                           "pw", now),
              TokenVerdict::ok);
  }
  // A fifth pushes out n0; replaying n0 is then refused as stale, not accepted.
  EXPECT_EQ(cache.verify(digest_token("pw", "n4", "2026-11-23T10:00:04Z"), "pw", now), TokenVerdict::ok);
  EXPECT_EQ(cache.verify(digest_token("pw", "n0", "2026-11-23T10:00:00Z"), "pw", now), TokenVerdict::stale);
  EXPECT_EQ(cache.verify(digest_token("pw", "n1", "2026-11-23T10:00:01Z"), "pw", now), TokenVerdict::replayed);
}

template <typename T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  auto f = boost::asio::co_spawn(io, std::move(a), boost::asio::use_future);
  io.restart();
  io.run();
  return f.get();
}

TEST(Events, ANewPullPointStartsWithTheCurrentState) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  events.set_motion(true, std::chrono::system_clock::now());
  const auto id = events.create(60s);
  auto pulled = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(pulled.messages.size(), 2u);
  EXPECT_EQ(pulled.messages[0].topic, "tns1:VideoSource/MotionAlarm");
  EXPECT_EQ(pulled.messages[0].operation, "Initialized");
  EXPECT_EQ(pulled.messages[0].data.at(0), (std::pair<std::string, std::string>{"State", "true"}));
  EXPECT_EQ(pulled.messages[1].topic, "tns1:RuleEngine/CellMotionDetector/Motion");
  EXPECT_EQ(pulled.messages[1].data.at(0).first, "IsMotion");
}

TEST(Events, APullWaitsForTheNextChangeAndNoLonger) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  const auto id = events.create(60s);
  (void)run(io, events.pull(id, 0ms, 10));  // the Initialized state
  boost::asio::steady_timer later(io);
  later.expires_after(50ms);
  later.async_wait([&](auto) { events.set_motion(true, std::chrono::system_clock::now()); });
  const auto t0 = std::chrono::steady_clock::now();
  auto pulled = run(io, events.pull(id, 5000ms, 10));
  const auto waited = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(pulled.messages.size(), 2u);
  EXPECT_EQ(pulled.messages[0].operation, "Changed");
  EXPECT_LT(waited, 2s);
  // Nothing more: the pull returns empty after its timeout.
  const auto t1 = std::chrono::steady_clock::now();
  auto empty = run(io, events.pull(id, 100ms, 10));
  EXPECT_TRUE(empty.messages.empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t1, 90ms);
}

TEST(Events, PullPointsAreBoundedAndExpire) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  std::vector<std::string> ids;
  for (size_t i = 0; i < Events::kMaxPullPoints; ++i) ids.push_back(events.create(60s));
  EXPECT_TRUE(events.create(60s).empty());  // full
  EXPECT_TRUE(events.remove(ids.front()));
  EXPECT_FALSE(events.exists(ids.front()));
  EXPECT_FALSE(events.create(60s).empty());
  const auto short_lived = ids.back();
  EXPECT_TRUE(events.renew(short_lived, 0s));
  EXPECT_FALSE(events.exists(short_lived));
  EXPECT_EQ(run(io, events.pull("nope", 0ms, 1)).status, Events::PullStatus::unknown);
}

TEST(Events, TamperAndPersonAreTopicsOnlyOnceAdvertisedAndOnlyTheirChangesAreSent) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  const auto now = std::chrono::system_clock::now();
  events.set_state(Property::tamper, true, now);  // not advertised yet: no analytics, no topic
  const auto id = events.create(60s);
  auto first = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(first.messages.size(), 2u);  // the motion topics only
  EXPECT_FALSE(events.advertised(Property::tamper));

  events.advertise(Property::tamper);
  events.advertise(Property::person);
  ASSERT_TRUE(events.synchronize(id));
  auto initial = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(initial.messages.size(), 4u);
  EXPECT_EQ(initial.messages[2].topic, "tns1:VideoSource/GlobalSceneChange/AnalyticsService");
  EXPECT_EQ(initial.messages[2].operation, "Initialized");
  EXPECT_EQ(initial.messages[2].source.at(0), (std::pair<std::string, std::string>{"Source", "VideoSource_1"}));
  EXPECT_EQ(initial.messages[2].data.at(0), (std::pair<std::string, std::string>{"State", "true"}));  // kept
  EXPECT_EQ(initial.messages[3].topic, "tns1:RuleEngine/ObjectDetection/Object");
  EXPECT_EQ(initial.messages[3].data.at(0), (std::pair<std::string, std::string>{"ClassTypes", ""}));

  const auto later = now + 3s;
  events.set_state(Property::person, true, later);
  events.set_state(Property::person, true, later + 1s);  // no change, no message
  auto changed = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(changed.messages.size(), 1u);
  EXPECT_EQ(changed.messages[0].topic, "tns1:RuleEngine/ObjectDetection/Object");
  EXPECT_EQ(changed.messages[0].operation, "Changed");
  EXPECT_EQ(changed.messages[0].time, later);
  EXPECT_EQ(changed.messages[0].data.at(0), (std::pair<std::string, std::string>{"ClassTypes", "Person"}));
  const std::vector<std::pair<std::string, std::string>> source{
      {"VideoSource", "VideoSource_1"}, {"AnalyticsConfiguration", "Analytics_1"}, {"Rule", "PersonDetectorRule"}};
  EXPECT_EQ(changed.messages[0].source, source) << "the source items of the Analytics spec's specified rules";
}

TEST(Events, ASubscriptionToOneTopicGetsOnlyThatTopic) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  events.advertise(Property::tamper);
  const auto id = events.create(60s, {"VideoSource/GlobalSceneChange"});
  auto initial = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(initial.messages.size(), 1u);
  EXPECT_EQ(initial.messages[0].topic, "tns1:VideoSource/GlobalSceneChange/AnalyticsService");
  events.set_motion(true, std::chrono::system_clock::now());
  events.set_state(Property::tamper, true, std::chrono::system_clock::now());
  auto changed = run(io, events.pull(id, 0ms, 10));
  ASSERT_EQ(changed.messages.size(), 1u);
  EXPECT_EQ(changed.messages[0].data.at(0).second, "true");
}

TEST(Events, AQueueThatNobodyPullsDropsItsOldestMessages) {
  boost::asio::io_context io;
  Events events(io.get_executor());
  const auto id = events.create(600s);
  for (size_t i = 0; i < Events::kQueueLimit; ++i) events.set_motion(i % 2 == 0, std::chrono::system_clock::now());
  auto pulled = run(io, events.pull(id, 0ms, 100000));
  EXPECT_EQ(pulled.messages.size(), Events::kQueueLimit);
  EXPECT_GT(events.dropped(), 0u);
}

class LegacyAuthTest : public ::testing::Test {
 protected:
  void SetUp() override { state_.add_user("alice", Role::operator_, "correct horse"); }
  LegacyOutcome attempt(LegacyAuth& auth, std::string_view user, std::string_view password) {
    return auth.check("onvif", "192.0.2.7", user, [&](std::string_view secret, std::string&) {
      return crypto::equal_constant_time(secret, password) ? Proof::ok : Proof::wrong;
    });
  }
  test::DeviceState state_;
  Accounts* accounts_ = &*state_.accounts;
  Audit* audit_ = &*state_.audit;
};

TEST_F(LegacyAuthTest, SucceedsWithTheRoleAndLocksOutAfterRepeatedFailures) {
  Lockout lockout(3, 30s);
  LegacyAuth auth(*accounts_, lockout, *audit_);
  auto ok = attempt(auth, "alice", "correct horse");
  ASSERT_EQ(ok.status, LegacyOutcome::Status::ok);
  EXPECT_EQ(ok.user->role, Role::operator_);
  EXPECT_EQ(attempt(auth, "nobody", "x").status, LegacyOutcome::Status::refused);  // unknown: same answer
  EXPECT_EQ(attempt(auth, "alice", "wrong").status, LegacyOutcome::Status::refused);
  EXPECT_EQ(attempt(auth, "alice", "wrong").status, LegacyOutcome::Status::refused);
  auto locked = attempt(auth, "alice", "correct horse");
  EXPECT_EQ(locked.status, LegacyOutcome::Status::locked);  // even the right password waits
  EXPECT_GT(locked.retry_after_s, 0);
  bool audited = false;
  for (const auto& e : audit_->recent(10)) audited = audited || e.action == "onvif_login_failed";
  EXPECT_TRUE(audited);
}

}  // namespace
}  // namespace freehold::onvif
