// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes what MQTT brings in from the network: command payloads (for each entity of the device model, through to
// its validated setter) and broker URLs (from the command line and the mqtt.url setting). The first byte picks
// the entity, or the URL parser. Oracle: never crash; a refused command or URL says why; an accepted URL reads
// back the same; an accepted command's value either applies or is refused by the model with a message.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/device_model.hpp"
#include "core/settings.hpp"
#include "core/url.hpp"
#include "mqtt/payload.hpp"

using namespace freehold;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 8 * 1024) return -1;
  static DeviceModel model{Config{}};
  const std::string_view payload(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto& entities = model.entities();
  const size_t pick = data[0] % (entities.size() + 1);
  if (pick == entities.size()) {
    std::string error;
    auto url = parse_service_url(payload, mqtt_schemes(), data[0] & 1, &error);
    if (!url) {
      if (error.empty()) std::abort();
      return 0;
    }
    if (url->host.empty() || url->port == 0) std::abort();
    auto again = parse_service_url(url->scheme + "://" + host_port(*url), mqtt_schemes(), false, &error);
    if (!again || again->host != url->host || again->port != url->port) std::abort();
    return 0;
  }
  const Entity& e = entities[pick];
  const SettingSpec* spec = e.setting.empty() ? nullptr : find_setting(e.setting);
  mqtt::Command c = mqtt::parse_command(e, spec, payload);
  const int outcomes = (c.value ? 1 : 0) + (c.press ? 1 : 0) + (c.error.empty() ? 0 : 1);
  if (outcomes != 1) std::abort();
  if (c.value) {
    SetResult r = model.set(e.setting, *c.value, Requester{"fuzz", "fuzz", Role::operator_});
    for (const auto& fe : r.errors) {
      if (fe.message.empty()) std::abort();
    }
  }
  (void)mqtt::state_text(model.state(e.object_id).value_or(Value{false}));
  return 0;
}
