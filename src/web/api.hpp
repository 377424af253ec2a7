// SPDX-License-Identifier: GPL-3.0-or-later
// The REST API /api/v1 (docs/rest-api.md): claim, sessions, users, config, device, entities, events, audit, health.
// An adapter over the device model and the accounts module: authentication, roles, CSRF and lockout are decided
// here once, in handle(), before any handler runs.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <cstdint>
#include <string>

#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/device_model.hpp"
#include "core/tunnels.hpp"
#include "core/event_store.hpp"
#include "core/events.hpp"
#include "core/lockout.hpp"
#include "core/sessions.hpp"
#include "web/http.hpp"

namespace freehold::web {

struct DeviceInfo {
  std::string manufacturer = "Freehold";
  std::string model = "freehold-sim";
  std::string firmware_version;
  std::string git_revision;
  std::string tls_fingerprint;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

struct Snapshot {
  std::string jpeg;   // empty: none, see error
  std::string error;  // for the client: why there is no picture
  std::int64_t wallclock_us = 0;  // when the picture was taken (UTC)
};

// Remote access through the owner's relay (relay/, docs/relay-protocol.md): what GET /api/v1/relay shows, and
// pairing changes. Unset functions: the endpoints answer 503.
struct RelayHooks {
  std::function<std::string()> status;  // a JSON object
  // Pairs a client's public key (base64url) with a role; the answer or the problem.
  std::function<Response(const std::string& key, const std::string& name, Role role)> pair;
  std::function<Response(const std::string& client_id)> revoke;
};

struct ApiDeps {
  DeviceModel& model;
  Accounts& accounts;
  Audit& audit;
  Sessions& sessions;
  Lockout& lockout;
  boost::asio::any_io_executor slow_work;  // a thread pool for argon2id; never the I/O thread
  DeviceInfo info;
  int https_port = 443;
  // JSON object of the media pipeline's counters (streams, RTSP sessions, drops); empty when streaming is off.
  std::function<std::string()> streams_status;
  // A JPEG of the camera's newest picture, or why not; runs on slow_work (compression takes milliseconds).
  std::function<Snapshot()> snapshot;
  // What the camera saw (GET /api/v1/events): the live bus and its history. nullptr (no camera): the stream
  // carries only setting and state changes and the history is empty.
  EventBus* events = nullptr;
  EventStore* event_store = nullptr;
  // A live-view WebSocket feed of a stream (GET /api/v1/live/{stream}); empty when streaming is off.
  std::function<FeedOrError(std::string_view stream)> live = nullptr;
  // Connections from the relay link: their client's role stands in for a login (core/tunnels.hpp).
  const Tunnels* tunnels = nullptr;
  RelayHooks relay = {};
};

class Api final {
 public:
  explicit Api(ApiDeps deps);
  // Answers one request. Never throws for anything a client can send.
  [[nodiscard]] boost::asio::awaitable<Response> handle(Request req);
  // Whether the plain-HTTP listener serves this endpoint (the server must not invite a body otherwise).
  [[nodiscard]] static bool served_on_plain_http(std::string_view method, std::string_view path);

  struct Route;
  struct Context;

 private:
  boost::asio::awaitable<Response> dispatch(Request& req);
  boost::asio::awaitable<Response> health(Request&, Context&);
  boost::asio::awaitable<Response> claim(Request&, Context&);
  boost::asio::awaitable<Response> login(Request&, Context&);
  boost::asio::awaitable<Response> session_get(Request&, Context&);
  boost::asio::awaitable<Response> logout(Request&, Context&);
  boost::asio::awaitable<Response> users_list(Request&, Context&);
  boost::asio::awaitable<Response> user_create(Request&, Context&);
  boost::asio::awaitable<Response> user_update(Request&, Context&);
  boost::asio::awaitable<Response> user_delete(Request&, Context&);
  boost::asio::awaitable<Response> relay_get(Request&, Context&);
  boost::asio::awaitable<Response> relay_pair(Request&, Context&);
  boost::asio::awaitable<Response> relay_revoke(Request&, Context&);
  boost::asio::awaitable<Response> config_get(Request&, Context&);
  boost::asio::awaitable<Response> config_schema(Request&, Context&);
  boost::asio::awaitable<Response> config_patch(Request&, Context&);
  boost::asio::awaitable<Response> device(Request&, Context&);
  boost::asio::awaitable<Response> entities(Request&, Context&);
  boost::asio::awaitable<Response> events(Request&, Context&);
  boost::asio::awaitable<Response> events_stream(Request&, Context&);
  boost::asio::awaitable<Response> events_history(Request&, Context&);
  boost::asio::awaitable<Response> event_snapshot(Request&, Context&);
  boost::asio::awaitable<Response> audit_list(Request&, Context&);
  boost::asio::awaitable<Response> streams(Request&, Context&);
  boost::asio::awaitable<Response> snapshot(Request&, Context&);
  boost::asio::awaitable<Response> live(Request&, Context&);
  boost::asio::awaitable<Response> press(Request&, Context&);
  boost::asio::awaitable<Response> live_mjpeg(const std::string& stream, const Context& ctx);
  boost::asio::awaitable<void> mjpeg_pump(std::weak_ptr<EventStream> out, std::string stream);
  struct MjpegPicture;
  // The newest MJPEG picture, taken anew when older than the MJPEG interval: shared by every MJPEG viewer.
  boost::asio::awaitable<std::shared_ptr<const MjpegPicture>> mjpeg_picture();
  [[nodiscard]] std::optional<Response> stream_off(const std::string& stream) const;

  Response start_session(const User& user, const Request& req, int status);
  std::optional<Response> locked_out(const Request& req, std::string_view username);
  boost::asio::awaitable<std::string> hash_off_thread(std::string password);
  boost::asio::awaitable<bool> verify_off_thread(std::string hash, std::string password);
  // Event history reads on slow_work; `flush_first`: wait (bounded) for events still queued for writing.
  boost::asio::awaitable<EventStore::Page> query_off_thread(EventStore::Query q, bool flush_first);
  boost::asio::awaitable<std::optional<std::string>> snapshot_off_thread(std::int64_t id);
  struct Counted {
    bool ip_locked = false;  // this failure started a lockout of the source address
    bool user_locked = false;
  };
  // Counts a failed (or not yet verified) attempt for the source address and the user.
  Counted count_failure(const Request& req, std::string_view username);
  void audit_lockouts(const Request& req, std::string_view username, Counted counted);
  void clear_failures(const Request& req, std::string_view username);
  [[nodiscard]] std::optional<Response> still_allowed(const Context& ctx, Role need);
  static const std::vector<Route>& routes();

  ApiDeps d_;
  std::shared_ptr<const MjpegPicture> mjpeg_latest_;
  bool mjpeg_busy_ = false;
};

}  // namespace freehold::web
