// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/accounts.hpp"

#include <gtest/gtest.h>

#include <set>

#include "core/lockout.hpp"
#include "core/sessions.hpp"

namespace freehold {
namespace {

class AccountsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto::init());
    char t[] = "/tmp/freehold-acct-XXXXXX";
    dir_ = mkdtemp(t);
    std::string err;
    key_ = crypto::DeviceKey::load_or_create(dir_ / "device.key", &err);
    ASSERT_TRUE(key_) << err;
    db_ = std::make_unique<Database>(dir_ / "x.db");
    accounts_ = std::make_unique<Accounts>(*db_, *key_);
  }
  void TearDown() override {
    accounts_.reset();
    db_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::optional<crypto::DeviceKey> key_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<Accounts> accounts_;
};

TEST(Crypto, PasswordHashIsArgon2idAndVerifies) {
  ASSERT_TRUE(crypto::init());
  auto h = crypto::hash_password("correct horse battery");
  EXPECT_TRUE(h.starts_with("$argon2id$")) << h;
  EXPECT_TRUE(crypto::verify_password(h, "correct horse battery"));
  EXPECT_FALSE(crypto::verify_password(h, "correct horse batterz"));
  EXPECT_NE(crypto::hash_password("correct horse battery"), h) << "salted";
  EXPECT_FALSE(crypto::verify_password("garbage", "x"));
}

TEST(Crypto, ClaimCodeHasFiftyBitsAndTypesLoosely) {
  ASSERT_TRUE(crypto::init());
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto c = crypto::random_code(10);
    ASSERT_EQ(c.size(), 11u);  // XXXXX-XXXXX: 10 symbols of 5 bits
    EXPECT_EQ(c[5], '-');
    EXPECT_EQ(c.find_first_of("ILOU"), std::string::npos) << c;
    seen.insert(c);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_EQ(crypto::normalize_code("ab1o0-il xy"), crypto::normalize_code("AB100-11XY"));
}

TEST(Crypto, ConstantTimeEqual) {
  EXPECT_TRUE(crypto::equal_constant_time("abc", "abc"));
  EXPECT_FALSE(crypto::equal_constant_time("abc", "abd"));
  EXPECT_FALSE(crypto::equal_constant_time("abc", "abcd"));
  EXPECT_FALSE(crypto::equal_constant_time("", "a"));
}

TEST_F(AccountsTest, PasswordPolicy) {
  EXPECT_EQ(check_password_policy("alice", "short"), "password must be at least 10 characters");
  EXPECT_EQ(check_password_policy("alice", "xxALICExx123"), "password must not contain the user name");
  EXPECT_EQ(check_password_policy("alice", std::string(129, 'x')), "password must be at most 128 characters");
  EXPECT_EQ(check_password_policy("alice", "correct horse"), std::nullopt);
  EXPECT_EQ(check_username(""), "user name must be 1 to 32 characters");
  EXPECT_EQ(check_username("a b"), "user name may contain only letters, digits, '.', '_' and '-'");
  EXPECT_EQ(check_username("-x"), "user name must start with a letter or digit");
}

TEST_F(AccountsTest, ClaimCodeWorksUntilClaimed) {
  EXPECT_FALSE(accounts_->claimed());
  auto code = accounts_->begin_claim();
  ASSERT_TRUE(code);
  EXPECT_FALSE(accounts_->claim_code_matches("00000-00000"));
  EXPECT_TRUE(accounts_->claim_code_matches(*code));
  std::string lower = *code;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_TRUE(accounts_->claim_code_matches(lower));
  ASSERT_EQ(accounts_->create("alice", Role::admin, crypto::hash_password("correct horse"), "correct horse"),
            std::nullopt);
  accounts_->end_claim();
  EXPECT_FALSE(accounts_->claim_code_matches(*code));
  EXPECT_TRUE(accounts_->claimed());
  EXPECT_EQ(accounts_->begin_claim(), std::nullopt) << "a claimed device never opens a new claim";
}

TEST_F(AccountsTest, UsersAndTheLastAdmin) {
  const auto h = crypto::hash_password("correct horse");
  ASSERT_EQ(accounts_->create("alice", Role::admin, h, "correct horse"), std::nullopt);
  EXPECT_EQ(accounts_->create("alice", Role::viewer, h, "correct horse"), "user 'alice' already exists");
  ASSERT_EQ(accounts_->create("bob", Role::viewer, h, "correct horse"), std::nullopt);
  EXPECT_EQ(accounts_->remove("alice"), "cannot remove the last admin");
  EXPECT_EQ(accounts_->set_role("alice", Role::viewer), "cannot demote the last admin");
  EXPECT_EQ(accounts_->set_role("bob", Role::admin), std::nullopt);
  EXPECT_EQ(accounts_->remove("alice"), std::nullopt);
  EXPECT_EQ(accounts_->remove("nobody"), "no user named 'nobody'");
  auto users = accounts_->list();
  ASSERT_EQ(users.size(), 1u);
  EXPECT_EQ(users[0].username, "bob");
  EXPECT_EQ(users[0].role, Role::admin);
}

TEST_F(AccountsTest, LegacySecretIsSealedAndBoundToTheUser) {
  ASSERT_EQ(accounts_->create("alice", Role::admin, crypto::hash_password("correct horse"), "correct horse"),
            std::nullopt);
  EXPECT_EQ(accounts_->legacy_secret("alice"), "correct horse");
  // The database holds no plaintext.
  auto st = db_->prepare("SELECT legacy_secret FROM users WHERE username = 'alice'");
  ASSERT_TRUE(st.step());
  EXPECT_EQ(st.text(0).find("correct horse"), std::string::npos);
  // A sealed secret moved to another user's row does not open.
  auto sealed = key_->seal("pw", "alice");
  EXPECT_EQ(key_->open(sealed, "mallory"), std::nullopt);
  sealed[sealed.size() - 1] ^= 1;
  EXPECT_EQ(key_->open(sealed, "alice"), std::nullopt);
  // The key survives a restart.
  std::string err;
  auto again = crypto::DeviceKey::load_or_create(dir_ / "device.key", &err);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->open(key_->seal("x", "a"), "a"), "x");
}

TEST(Lockout, LocksAfterThresholdAndDoubles) {
  Lockout l(5, std::chrono::seconds(30));
  auto t = Lockout::Clock::now();
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(l.failure("ip:1", t));
  EXPECT_EQ(l.retry_after("ip:1", t), 0);
  EXPECT_TRUE(l.failure("ip:1", t)) << "the fifth failure starts the lockout";
  EXPECT_EQ(l.retry_after("ip:1", t), 30);
  EXPECT_EQ(l.retry_after("ip:2", t), 0) << "keys are independent";
  EXPECT_FALSE(l.failure("ip:1", t)) << "already locked: not a new lockout";
  EXPECT_EQ(l.retry_after("ip:1", t), 60);
  EXPECT_EQ(l.retry_after("ip:1", t + std::chrono::seconds(61)), 0);
  l.success("ip:1");
  l.failure("ip:1", t);
  EXPECT_EQ(l.retry_after("ip:1", t), 0);
}

TEST(Lockout, SourceKeysGroupIpv6By64) {
  EXPECT_EQ(lockout_source_key("192.0.2.7"), "ip:192.0.2.7");
  EXPECT_EQ(lockout_source_key("2001:db8:1:2:aaaa::1"), "ip:2001:db8:1:2::/64");
  EXPECT_EQ(lockout_source_key("2001:db8:1:2:bbbb::9"), lockout_source_key("2001:db8:1:2::1"));
  EXPECT_NE(lockout_source_key("2001:db8:1:3::1"), lockout_source_key("2001:db8:1:2::1"));
}

TEST(Lockout, CapsAtOneHourAndStaysBounded) {
  Lockout l(3, std::chrono::seconds(60), 100);
  auto t = Lockout::Clock::now();
  for (int i = 0; i < 50; ++i) l.failure("u", t);
  EXPECT_EQ(l.retry_after("u", t), 3600);
  for (int i = 0; i < 1000; ++i) l.failure("k" + std::to_string(i), t);
  EXPECT_LE(l.size(), 100u);
}

TEST(Sessions, ExpireWhenIdleAndRevoke) {
  ASSERT_TRUE(crypto::init());
  Sessions s(std::chrono::minutes(30), std::chrono::hours(12));
  auto t = Sessions::Clock::now();
  auto a = s.create("alice", Role::admin, t);
  EXPECT_GE(a.token.size(), 43u);  // 256 bits, base64url
  ASSERT_NE(s.find(a.token, t + std::chrono::minutes(29)), nullptr);
  EXPECT_NE(s.find(a.token, t + std::chrono::minutes(58)), nullptr) << "use refreshes the idle timer";
  EXPECT_EQ(s.find(a.token, t + std::chrono::minutes(120)), nullptr);
  auto b = s.create("bob", Role::viewer, t);
  EXPECT_EQ(s.find(b.token, t + std::chrono::hours(13)), nullptr) << "absolute limit";
  auto c = s.create("carol", Role::viewer, t);
  s.set_role("carol", Role::operator_);
  EXPECT_EQ(s.find(c.token, t)->role, Role::operator_);
  s.revoke_user("carol");
  EXPECT_EQ(s.find(c.token, t), nullptr);
  EXPECT_EQ(s.find("not-a-token", t), nullptr);
}

}  // namespace
}  // namespace freehold
