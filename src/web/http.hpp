// SPDX-License-Identifier: GPL-3.0-or-later
// Protocol-neutral HTTP request and response as the API sees them; the Beast server converts to and from the wire.
// Keeping Beast out of the API keeps the handlers testable and the build fast.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace freehold::web {

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  std::string query;   // raw, without '?'
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  std::string remote;         // peer IP address
  std::string local_address;  // the address the peer connected to
  bool tls = false;

  [[nodiscard]] std::string_view header(std::string_view lower_name) const;
  [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> cookie(std::string_view name) const;
};

// A server-sent events stream: the handler returns it and keeps pushing; the connection drains it.
// Bounded: a client that cannot keep up is disconnected (EventSource reconnects by itself).
class EventStream final {
 public:
  explicit EventStream(size_t capacity = 256) : capacity_(capacity) {}
  // Queues one event (with an `id:` line when id > 0, which EventSource sends back as Last-Event-ID on
  // reconnecting); returns false (and marks the stream broken) if the queue is full.
  bool push(std::string_view event, std::string_view data, std::int64_t id = 0);
  [[nodiscard]] std::deque<std::string> take() { return std::exchange(queue_, {}); }
  [[nodiscard]] bool broken() const { return broken_; }
  void close() { closed_ = true; if (wake) wake(); }
  [[nodiscard]] bool closed() const { return closed_ || broken_; }

  std::function<void()> wake;             // set by the connection: called when data is queued
  std::function<bool()> still_authorized;  // set by the handler: re-checked on every keep-alive tick
  std::shared_ptr<void> keep;             // whatever must live as long as the stream (subscriptions)

 private:
  std::deque<std::string> queue_;
  size_t capacity_;
  bool broken_ = false;
  bool closed_ = false;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<EventStream> stream;  // set: the body is a server-sent events stream

  [[nodiscard]] static Response json(int status, std::string body);
  // {"error": code, "message": message}
  [[nodiscard]] static Response error(int status, std::string_view code, std::string_view message);
  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace freehold::web
