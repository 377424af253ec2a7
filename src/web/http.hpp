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
  std::uint16_t remote_port = 0;
  std::uint16_t local_port = 0;  // the port the peer connected to
  std::string local_address;  // the address the peer connected to
  bool tls = false;

  [[nodiscard]] std::string_view header(std::string_view lower_name) const;
  [[nodiscard]] std::optional<std::string> query_param(std::string_view name) const;
  [[nodiscard]] std::optional<std::string> cookie(std::string_view name) const;
};

// A streamed body: the handler returns it and keeps pushing; the connection drains it. Server-sent events by
// default; any other content type (multipart MJPEG) is sent as pushed.
// Bounded: a client that cannot keep up is disconnected (EventSource reconnects by itself).
class EventStream final {
 public:
  explicit EventStream(size_t capacity = 256, std::string content_type = "text/event-stream")
      : content_type_(std::move(content_type)), capacity_(capacity) {}
  // Queues one event (with an `id:` line when id > 0, which EventSource sends back as Last-Event-ID on
  // reconnecting); returns false (and marks the stream broken) if the queue is full.
  bool push(std::string_view event, std::string_view data, std::int64_t id = 0);
  // Queues bytes as they are; false (and broken) if the queue is full.
  bool push_raw(std::string chunk);
  [[nodiscard]] size_t queued() const { return queue_.size(); }
  [[nodiscard]] const std::string& content_type() const { return content_type_; }
  [[nodiscard]] std::deque<std::string> take() { return std::exchange(queue_, {}); }
  [[nodiscard]] bool broken() const { return broken_; }
  void close() { closed_ = true; if (wake) wake(); }
  [[nodiscard]] bool closed() const { return closed_ || broken_; }

  std::function<void()> wake;             // set by the connection: called when data is queued
  std::function<bool()> still_authorized;  // set by the handler: re-checked on every keep-alive tick
  std::shared_ptr<void> keep;             // whatever must live as long as the stream (subscriptions)

 private:
  std::deque<std::string> queue_;
  std::string content_type_;
  size_t capacity_;
  bool broken_ = false;
  bool closed_ = false;
};

// One WebSocket message: binary data shared by every client that receives it, or text.
struct WsMessage {
  std::shared_ptr<const std::vector<std::uint8_t>> binary;
  std::string text;  // when `binary` is null
};

// What a WebSocket carries once the handler has accepted the upgrade (Response::websocket). The connection pulls
// after each wake() and after each batch it wrote, so a slow client is never handed more than it can take: what
// it misses meanwhile is the feed's to skip.
class WebSocketFeed {
 public:
  virtual ~WebSocketFeed() = default;
  // Appends the messages due now, oldest first.
  virtual void pull(std::vector<WsMessage>& out) = 0;
  // The feed has nothing more: the connection closes (normal closure) once it has sent what was pulled.
  [[nodiscard]] virtual bool ended() const = 0;

  std::function<void()> wake;              // set by the connection: call when there is something to pull
  std::function<bool()> still_authorized;  // set by the handler: re-checked before every batch
};

// A feed that only says why there is nothing to send ({"type":"error","code":...,"message":...}) and ends: a
// browser cannot read the status of a refused upgrade, so refusals after authentication travel this way.
[[nodiscard]] std::shared_ptr<WebSocketFeed> error_feed(std::string_view code, std::string_view message);

// A WebSocket feed for one client, or why there is none (status, code and message of the error answer).
struct FeedOrError {
  std::shared_ptr<WebSocketFeed> feed;
  int status = 200;
  std::string code;
  std::string message;
};

struct Response {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::shared_ptr<EventStream> stream;  // set: the body is streamed (server-sent events, MJPEG)
  std::shared_ptr<WebSocketFeed> websocket;  // set: the request is upgraded to a WebSocket fed by it

  [[nodiscard]] static Response json(int status, std::string body);
  // {"error": code, "message": message}
  [[nodiscard]] static Response error(int status, std::string_view code, std::string_view message);
  Response& header(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

}  // namespace freehold::web
