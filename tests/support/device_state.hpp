// SPDX-License-Identifier: GPL-3.0-or-later
// The device's account state as freeholdd wires it, for tests and fuzzers: a device key in a temporary directory,
// a database (in memory) with the users and the audit log, the device model, sessions and the lockout. Optionally
// with one user already created. Aborts if the key cannot be made: nothing else would work.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>

#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/crypto.hpp"
#include "core/db.hpp"
#include "core/device_model.hpp"
#include "core/lockout.hpp"
#include "core/sessions.hpp"

namespace freehold::test {

struct DeviceState {
  std::filesystem::path dir;
  std::optional<crypto::DeviceKey> key;
  Database db{":memory:"};
  std::optional<Audit> audit;
  std::optional<Accounts> accounts;
  DeviceModel model{Config{}};
  Sessions sessions{std::chrono::minutes(30), std::chrono::hours(12)};
  Lockout lockout;

  explicit DeviceState(int lockout_threshold = 5, std::chrono::seconds lockout_base = std::chrono::seconds(30))
      : lockout(lockout_threshold, lockout_base) {
    if (!crypto::init()) std::abort();
    std::string pattern = (std::filesystem::temp_directory_path() / "freehold-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) std::abort();
    dir = pattern;
    std::string err;
    key = crypto::DeviceKey::load_or_create(dir / "device.key", &err);
    if (!key) std::abort();
    audit.emplace(db);
    accounts.emplace(db, *key);
  }
  ~DeviceState() {
    accounts.reset();
    audit.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  DeviceState(const DeviceState&) = delete;
  DeviceState& operator=(const DeviceState&) = delete;

  // A user with this role and password; aborts if the accounts module refuses it.
  void add_user(const std::string& name, Role role, const std::string& password) {
    if (accounts->create(name, role, crypto::hash_password(password), password)) std::abort();
  }
};

}  // namespace freehold::test
