// SPDX-License-Identifier: GPL-3.0-or-later
#include "relay/messages.hpp"

#include <nlohmann/json.hpp>

namespace freehold::relay {
namespace {

constexpr size_t kMaxField = 1024;  // a grant is 239 characters; nothing legitimate comes near this

std::optional<std::string> string_member(const nlohmann::json& j, const char* name, bool required, std::string* error) {
  auto it = j.find(name);
  if (it == j.end()) {
    if (required) *error = std::string("\"") + name + "\" is missing";
    return required ? std::nullopt : std::optional<std::string>(std::string());
  }
  if (!it->is_string() || it->get_ref<const std::string&>().size() > kMaxField) {
    *error = std::string("\"") + name + "\" is not a string of at most 1024 characters";
    return std::nullopt;
  }
  return it->get<std::string>();
}

}  // namespace

std::string session_request_json(const SessionRequest& r) {
  nlohmann::json j{{"v", 1}, {"service", r.service}, {"key", key_text(r.key)}};
  if (!r.grant.empty()) j["grant"] = r.grant;
  return j.dump();
}

std::optional<SessionRequest> parse_session_request(std::string_view text, std::string* error) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) {
    *error = "the session request is not a JSON object";
    return std::nullopt;
  }
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1) {
    *error = "the session request is not version 1";
    return std::nullopt;
  }
  SessionRequest r;
  auto service = string_member(j, "service", true, error);
  auto key = string_member(j, "key", true, error);
  auto grant = string_member(j, "grant", false, error);
  if (!service || !key || !grant) return std::nullopt;
  const auto k = parse_key(*key);
  if (!k) {
    *error = "\"key\" is not a public key";
    return std::nullopt;
  }
  r.service = std::move(*service);
  r.key = *k;
  r.grant = std::move(*grant);
  return r;
}

std::string session_answer_json(const Admission& a) {
  return (a.ok ? nlohmann::json{{"ok", true}, {"role", a.role}}
               : nlohmann::json{{"ok", false}, {"error", a.error}, {"message", a.message}})
      .dump();
}

Admission parse_session_answer(std::string_view text) {
  const auto j = nlohmann::json::parse(text, nullptr, false);
  std::string error;
  if (!j.is_object() || !j.contains("ok") || !j["ok"].is_boolean())
    return {false, "", "bad_answer", "the device's answer is unreadable"};
  if (j["ok"].get<bool>()) {
    auto role = string_member(j, "role", true, &error);
    if (!role || (*role != "admin" && *role != "operator" && *role != "viewer"))
      return {false, "", "bad_answer", "the device's answer names no role"};
    return {true, *role, "", ""};
  }
  auto code = string_member(j, "error", true, &error);
  auto message = string_member(j, "message", false, &error);
  if (!code || !message) return {false, "", "bad_answer", "the device's refusal is unreadable"};
  return {false, "", *code, *message};
}

}  // namespace freehold::relay
