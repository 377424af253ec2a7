// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the ONVIF request path end to end: SOAP parsing, WS-Security token parsing and checking, dispatch and
// every operation handler's reading of its request, against a real device model and accounts. The first byte
// picks the credentials: none (pre-authentication operations and the refusals), or the administrator's (over
// TLS, HTTP Basic), so the handlers behind authentication are reached too. Oracle: never crash, always an answer
// with a status, and every SOAP answer is well-formed XML.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <pugixml.hpp>
#include <string_view>

#include "support/device_state.hpp"
#include "core/accounts.hpp"
#include "core/audit.hpp"
#include "core/crypto.hpp"
#include "core/device_model.hpp"
#include "core/legacy_auth.hpp"
#include "core/lockout.hpp"
#include "media/ptz.hpp"
#include "onvif/service.hpp"
#include "onvif/wsse.hpp"

namespace {

using namespace freehold;

constexpr const char* kPassword = "fuzzing password 1";

struct World : test::DeviceState {
  std::unique_ptr<LegacyAuth> auth;
  boost::asio::io_context io;
  boost::asio::thread_pool pool{1};
  media::DigitalPtz ptz;
  std::unique_ptr<onvif::Service> service;

  // A lockout that never locks the fuzzer out.
  World() : DeviceState(1000000, std::chrono::seconds(5)) {
    add_user("admin", Role::admin, kPassword);
    auth = std::make_unique<LegacyAuth>(*accounts, lockout, *audit);
    service = std::make_unique<onvif::Service>(onvif::ServiceDeps{
        model, *accounts, *audit, *auth, io.get_executor(), pool.get_executor(), web::DeviceInfo{}, "serial",
        "urn:uuid:00000000-0000-5000-8000-000000000000", true, 443, 80, 554, 322, nullptr,
        [](const std::string&) { return web::Snapshot{"", "no camera", 0}; }, nullptr,
        [this] { return static_cast<media::PtzDriver*>(&ptz); }, nullptr});
  }
  ~World() {
    service.reset();
    auth.reset();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static World world;
  if (size < 1 || size > 64 * 1024) return -1;
  const bool authenticated = data[0] & 1;
  std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  // Waiting (PullMessages) and argon2id (user changes) would only slow the fuzzer down; unit tests cover them.
  for (auto slow : {"PullMessages", "CreateUsers", "SetUser"}) {
    if (body.find(slow) != std::string_view::npos) return -1;
  }
  // Created/Nonce parsing on its own as well.
  (void)onvif::parse_datetime(body.substr(0, 64));

  web::Request req;
  req.method = "POST";
  req.path = "/onvif/device_service";
  req.body = std::string(body);
  req.remote = "192.0.2.1";
  req.local_address = "192.0.2.2";
  req.tls = true;
  req.headers.emplace_back("content-type", "application/soap+xml");
  req.headers.emplace_back("host", "192.0.2.2");
  if (authenticated) req.headers.emplace_back("authorization", "Basic YWRtaW46ZnV6emluZyBwYXNzd29yZCAx");
  auto f = boost::asio::co_spawn(world.io, world.service->handle(std::move(req)), boost::asio::use_future);
  world.io.restart();
  world.io.run();
  const auto res = f.get();
  if (res.status < 200 || res.status > 599) std::abort();
  for (const auto& [name, value] : res.headers) {
    if (name == "Content-Type" && value.starts_with("application/soap+xml")) {
      pugi::xml_document doc;
      if (!doc.load_buffer(res.body.data(), res.body.size())) std::abort();
    }
  }
  return 0;
}
