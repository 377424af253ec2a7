// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/http.hpp"

#include <nlohmann/json.hpp>

namespace freehold::web {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 && hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string_view Request::header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

std::optional<std::string> Request::query_param(std::string_view name) const {
  std::string_view q = query;
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view part = q.substr(0, amp);
    auto eq = part.find('=');
    if (percent_decode(part.substr(0, eq)) == name) {
      return eq == std::string_view::npos ? std::string() : percent_decode(part.substr(eq + 1));
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return std::nullopt;
}

std::optional<std::string> Request::cookie(std::string_view name) const {
  std::string_view c = header("cookie");
  while (!c.empty()) {
    auto semi = c.find(';');
    std::string_view part = c.substr(0, semi);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    auto eq = part.find('=');
    if (eq != std::string_view::npos && part.substr(0, eq) == name) return std::string(part.substr(eq + 1));
    if (semi == std::string_view::npos) break;
    c.remove_prefix(semi + 1);
  }
  return std::nullopt;
}

bool EventStream::push(std::string_view event, std::string_view data, std::int64_t id) {
  std::string msg = "event: " + std::string(event) + "\n";
  if (id > 0) msg += "id: " + std::to_string(id) + "\n";
  // SSE data lines may not contain newlines; JSON from nlohmann never does.
  msg += "data: " + std::string(data) + "\n\n";
  return push_raw(std::move(msg));
}

bool EventStream::push_raw(std::string chunk) {
  if (closed()) return false;
  if (queue_.size() >= capacity_) {
    broken_ = true;
    if (wake) wake();
    return false;
  }
  queue_.push_back(std::move(chunk));
  if (wake) wake();
  return true;
}

Response Response::json(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  r.headers.emplace_back("Content-Type", "application/json");
  return r;
}

Response Response::error(int status, std::string_view code, std::string_view message) {
  nlohmann::json j{{"error", code}, {"message", message}};
  return json(status, j.dump());
}

namespace {

class ErrorFeed final : public WebSocketFeed {
 public:
  explicit ErrorFeed(std::string text) : text_(std::move(text)) {}
  void pull(std::vector<WsMessage>& out) override {
    if (!sent_) out.push_back({nullptr, text_});
    sent_ = true;
  }
  [[nodiscard]] bool ended() const override { return sent_; }

 private:
  std::string text_;
  bool sent_ = false;
};

}  // namespace

std::shared_ptr<WebSocketFeed> error_feed(std::string_view code, std::string_view message) {
  return std::make_shared<ErrorFeed>(nlohmann::json{{"type", "error"}, {"code", code}, {"message", message}}.dump());
}

}  // namespace freehold::web
