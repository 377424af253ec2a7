// SPDX-License-Identifier: GPL-3.0-or-later
// ONVIF (Profile S, with Media2) over the HTTP(S) listeners: an adapter over the device model, the accounts and the
// camera. Requests are dispatched on the SOAP body element, whatever /onvif/ path they were posted to; each
// operation declares the least role it needs, or none for the Core spec's pre-authentication set. Credentials are
// WS-Security UsernameToken (digest; plain text only over TLS) or HTTP Digest, checked through LegacyAuth so that
// lockout and audit are those of every other protocol. See docs/onvif.md.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/tunnels.hpp"
#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/device_model.hpp"
#include "core/events.hpp"
#include "core/legacy_auth.hpp"
#include "web/api.hpp"
#include "web/http.hpp"

namespace freehold::media {
class PtzDriver;
}

namespace freehold::onvif {

struct ServiceDeps {
  DeviceModel& model;
  Accounts& accounts;
  Audit& audit;
  LegacyAuth& auth;
  boost::asio::any_io_executor io;         // the I/O thread (timers of pull points)
  boost::asio::any_io_executor slow_work;  // argon2id for CreateUsers/SetUser, JPEG compression
  web::DeviceInfo info;
  std::string serial_number;  // stable per device
  std::string endpoint_uuid;  // urn:uuid:… the WS-Discovery endpoint reference, stable per device
  bool host_is_not_device = false;  // demo on a workstation: refuse setters that would change the host's network
  std::uint16_t https_port = 443;
  std::uint16_t plain_port = 0;  // 0: no plain-HTTP listener
  std::uint16_t rtsp_port = 0;   // 0: RTSP off
  std::uint16_t rtsps_port = 0;  // 0: RTSPS off
  std::function<void(const std::string& stream)> request_keyframe;  // SetSynchronizationPoint
  std::function<web::Snapshot(const std::string& stream)> snapshot;  // runs on slow_work
  std::function<void()> reboot;  // SystemReboot: stop gracefully; the supervisor restarts us
  std::function<media::PtzDriver*()> ptz;  // the camera's PTZ; nullptr (or unset): none
  EventBus* events = nullptr;              // motion events drive the motion topics; nullptr: none
  const Tunnels* tunnels = nullptr;        // connections from the relay link: their client's role, no password
};

// The device's ONVIF scopes, each with whether it is fixed: type, profiles, hardware, the name (from device.name
// unless onvif.scopes has a name/ scope) and the owner's onvif.scopes. GetScopes and WS-Discovery both use this.
[[nodiscard]] std::vector<std::pair<std::string, bool>> device_scopes(const Config& config, std::string_view model);

class Service final {
 public:
  explicit Service(ServiceDeps deps);
  ~Service();
  Service(const Service&) = delete;
  Service& operator=(const Service&) = delete;

  // Answers one request to /onvif/…. Never throws for anything a client can send.
  [[nodiscard]] boost::asio::awaitable<web::Response> handle(web::Request req);
  // Ends every pull point and subscription (daemon stop): waiting PullMessages return at once.
  void stop();
  // The analytics run: tampering and people become event topics (GetEventProperties, the current state).
  void analytics_started();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace freehold::onvif
