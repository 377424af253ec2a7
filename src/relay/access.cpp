// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/access.hpp"

#include <sodium.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"

namespace freehold::relay {
namespace {

constexpr std::string_view kGrantPrefix = "fhg1.";
constexpr std::string_view kGrantContext{"freehold-grant-v1\0", 18};
constexpr size_t kSigned = 18 + 20 + 32 + 1 + 8 + 32;  // 111
constexpr size_t kGrantSize = kSigned + 64;             // 175

uint8_t role_code(Role r) { return r == Role::admin ? 1 : r == Role::operator_ ? 2 : 3; }
std::optional<Role> role_of_code(uint8_t c) {
  if (c == 1) return Role::admin;
  if (c == 2) return Role::operator_;
  if (c == 3) return Role::viewer;
  return std::nullopt;
}

std::string b64(std::string_view bytes) {
  std::string out(sodium_base64_encoded_len(bytes.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING), '\0');
  sodium_bin2base64(out.data(), out.size(), reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(),
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  out.resize(out.find('\0'));
  return out;
}

}  // namespace

std::string make_grant(const Identity& issuer, const Id& device, const PublicKey& client, Role role, int64_t not_after) {
  std::string g(kGrantContext);
  g.append(reinterpret_cast<const char*>(device.data()), device.size());
  g.append(reinterpret_cast<const char*>(client.data()), client.size());
  g += static_cast<char>(role_code(role));
  for (int i = 7; i >= 0; --i) g += static_cast<char>(static_cast<uint64_t>(not_after) >> (8 * i));
  g.append(reinterpret_cast<const char*>(issuer.public_key().data()), 32);
  const auto sig = issuer.sign(g);
  g.append(reinterpret_cast<const char*>(sig.data()), sig.size());
  return std::string(kGrantPrefix) + b64(g);
}

std::optional<Grant> parse_grant(std::string_view text, std::string* error) {
  if (!text.starts_with(kGrantPrefix)) {
    *error = "not a grant (it starts with \"fhg1.\")";
    return std::nullopt;
  }
  text.remove_prefix(kGrantPrefix.size());
  unsigned char raw[kGrantSize + 1];
  size_t len = 0;
  if (sodium_base642bin(raw, sizeof raw, text.data(), text.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || len != kGrantSize ||
      std::memcmp(raw, kGrantContext.data(), kGrantContext.size()) != 0) {
    *error = "the grant is damaged (not 175 bytes of freehold-grant-v1)";
    return std::nullopt;
  }
  Grant g;
  const unsigned char* p = raw + kGrantContext.size();
  std::memcpy(g.device.data(), p, 20);
  std::memcpy(g.client.data(), p + 20, 32);
  const auto role = role_of_code(p[52]);
  if (!role) {
    *error = "the grant names an unknown role";
    return std::nullopt;
  }
  g.role = *role;
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) t = (t << 8) | p[53 + i];
  g.not_after = static_cast<int64_t>(std::min<uint64_t>(t, INT64_MAX));
  std::memcpy(g.issuer.data(), p + 61, 32);
  Signature sig{};
  std::memcpy(sig.data(), raw + kSigned, sig.size());
  if (!verify(g.issuer, {reinterpret_cast<const char*>(raw), kSigned}, sig)) {
    *error = "the grant's signature does not verify";
    return std::nullopt;
  }
  return g;
}

std::optional<ClientAccess> ClientAccess::load(const std::filesystem::path& file, std::string* error) {
  ClientAccess a;
  a.file_ = file;
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return a;
  auto text = read_file(file, error);
  if (!text) return std::nullopt;
  try {
    const auto j = nlohmann::json::parse(*text);
    for (const auto& c : j.at("clients")) {
      PairedClient p;
      const auto key = parse_key(c.at("key").get<std::string>());
      const auto role = parse_role(c.at("role").get<std::string>());
      if (!key || !role) throw std::runtime_error("a client with a bad key or role");
      p.key = *key;
      p.id = id_of(*key);
      p.role = *role;
      p.name = c.value("name", std::string());
      p.added = c.value("added", int64_t{0});
      a.clients_.push_back(std::move(p));
    }
    for (const auto& b : j.at("blocked")) {
      const auto id = parse_id(b.get<std::string>());
      if (!id) throw std::runtime_error("a blocked ID that is not an ID");
      a.blocked_.push_back(*id);
    }
  } catch (const std::exception& e) {
    *error = file.string() + ": " + e.what();
    return std::nullopt;
  }
  return a;
}

std::optional<std::string> ClientAccess::save() const {
  nlohmann::json j{{"clients", nlohmann::json::array()}, {"blocked", nlohmann::json::array()}};
  for (const auto& c : clients_)
    j["clients"].push_back({{"id", id_text(c.id)}, {"key", key_text(c.key)}, {"name", c.name},
                            {"role", std::string(role_name(c.role))}, {"added", c.added}});
  for (const auto& b : blocked_) j["blocked"].push_back(id_text(b));
  return write_file_atomic(file_, j.dump(2) + "\n", 0600);
}

std::optional<std::string> ClientAccess::pair(const PublicKey& key, std::string name, Role role, int64_t now) {
  const Id id = id_of(key);
  std::erase(blocked_, id);
  auto it = std::find_if(clients_.begin(), clients_.end(), [&](const PairedClient& c) { return c.id == id; });
  if (it == clients_.end()) {
    clients_.push_back(PairedClient{id, key, std::move(name), role, now});
  } else {
    it->role = role;
    if (!name.empty()) it->name = std::move(name);
  }
  return save();
}

std::optional<std::string> ClientAccess::revoke(const Id& id) {
  std::erase_if(clients_, [&](const PairedClient& c) { return c.id == id; });
  if (std::find(blocked_.begin(), blocked_.end(), id) == blocked_.end()) blocked_.push_back(id);
  return save();
}

Admission ClientAccess::admit(const PublicKey& key, const std::string& grant, const Id& device,
                              const std::vector<PublicKey>& owners, int64_t now) const {
  const Id id = id_of(key);
  if (std::find(blocked_.begin(), blocked_.end(), id) != blocked_.end())
    return {false, "", "revoked", "client " + id_text(id) + " was revoked on this device"};
  if (std::find(owners.begin(), owners.end(), key) != owners.end()) return {true, "admin", "", ""};
  for (const auto& c : clients_)
    if (c.id == id) return {true, std::string(role_name(c.role)), "", ""};
  if (grant.empty())
    return {false, "", "not_paired", "client " + id_text(id) + " is not paired with this device and has no grant"};
  std::string error;
  const auto g = parse_grant(grant, &error);
  if (!g) return {false, "", "grant_invalid", error};
  if (g->device != device) return {false, "", "grant_invalid", "the grant is for another device"};
  if (g->client != key) return {false, "", "grant_invalid", "the grant is for another client key"};
  const bool issuer_blocked = std::find(blocked_.begin(), blocked_.end(), id_of(g->issuer)) != blocked_.end();
  const bool issuer_ok =
      !issuer_blocked && (std::find(owners.begin(), owners.end(), g->issuer) != owners.end() ||
                          std::any_of(clients_.begin(), clients_.end(), [&](const PairedClient& c) {
                            return c.key == g->issuer && c.role == Role::admin;
                          }));
  if (!issuer_ok) return {false, "", "grant_invalid", "the grant's issuer is not a paired admin of this device"};
  if (g->not_after <= now) return {false, "", "grant_expired", "the grant expired at " + std::to_string(g->not_after)};
  return {true, std::string(role_name(g->role)), "", ""};
}

}  // namespace freehold::relay
