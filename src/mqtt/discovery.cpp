// SPDX-License-Identifier: GPL-3.0-or-later
#include "mqtt/discovery.hpp"

#include "core/settings.hpp"
#include "mqtt/payload.hpp"

namespace freehold::mqtt {
namespace {

using json = nlohmann::json;

json device_block(const DeviceIdentity& d) {
  json j{{"identifiers", json::array({d.id})},
         {"name", d.name},
         {"manufacturer", d.manufacturer},
         {"model", d.model},
         {"sw_version", d.sw_version}};
  if (!d.mac.empty()) j["connections"] = json::array({json::array({"mac", d.mac})});
  if (!d.configuration_url.empty()) j["configuration_url"] = d.configuration_url;
  return j;
}

json origin_block(const DeviceIdentity& d) { return {{"name", "Freehold"}, {"sw_version", d.sw_version}}; }

std::string unique_id(const DeviceIdentity& d, const Entity& e) { return d.id + "_" + e.object_id; }

}  // namespace

std::string Topics::entity(const Entity& e, std::string_view leaf) const {
  return base_ + "/" + std::string(platform(e.component)) + "/" + e.object_id + "/" + std::string(leaf);
}

json entity_config(const Entity& e, const DeviceIdentity& device, const Topics& topics) {
  json j{{"name", e.name}, {"unique_id", unique_id(device, e)}, {"availability_topic", topics.status()}};
  if (!e.device_class.empty()) j["device_class"] = e.device_class;
  if (!e.category.empty()) j["entity_category"] = e.category;
  const SettingSpec* spec = e.setting.empty() ? nullptr : find_setting(e.setting);
  switch (e.component) {
    case Component::stream:
    case Component::switch_:
      j["state_topic"] = topics.entity(e, "state");
      j["command_topic"] = topics.entity(e, "set");
      break;
    case Component::number:
      j["state_topic"] = topics.entity(e, "state");
      j["command_topic"] = topics.entity(e, "set");
      if (spec) {
        j["min"] = spec->min;
        j["max"] = spec->max;
      }
      j["step"] = 1;
      j["mode"] = "slider";
      if (!e.unit.empty()) j["unit_of_measurement"] = e.unit;
      break;
    case Component::select:
      j["state_topic"] = topics.entity(e, "state");
      j["command_topic"] = topics.entity(e, "set");
      j["options"] = spec ? spec->choices : std::vector<std::string>{};
      break;
    case Component::sensor:
      j["state_topic"] = topics.entity(e, "state");
      if (!e.unit.empty()) {
        j["unit_of_measurement"] = e.unit;
        j["state_class"] = "measurement";
      }
      break;
    case Component::binary_sensor:
      j["state_topic"] = topics.entity(e, "state");
      break;
    case Component::button:
      j["command_topic"] = topics.entity(e, "set");
      break;
    case Component::camera:
      j["topic"] = topics.image();
      break;
    case Component::event:
      // Person detections; the JSON carries "event_type" for Home Assistant.
      j["state_topic"] = topics.event("person");
      j["event_types"] = json::array({"person"});
      break;
    case Component::update:
      j["state_topic"] = topics.entity(e, "state");  // {"installed_version": ..., "latest_version": ...}
      break;
  }
  return j;
}

std::vector<DiscoveryMessage> discovery_messages(const DeviceModel& model, const DeviceIdentity& device,
                                                 const Topics& topics, const std::string& prefix, DiscoveryMode mode) {
  std::vector<DiscoveryMessage> out;
  if (mode == DiscoveryMode::off) return out;
  if (mode == DiscoveryMode::device) {
    json components = json::object();
    for (const auto& e : model.entities()) {
      json c = entity_config(e, device, topics);
      c["platform"] = std::string(platform(e.component));
      components[e.object_id] = std::move(c);
    }
    json j{{"device", device_block(device)}, {"origin", origin_block(device)}, {"components", std::move(components)}};
    out.push_back({prefix + "/device/" + device.id + "/config", j.dump()});
    return out;
  }
  for (const auto& e : model.entities()) {
    json c = entity_config(e, device, topics);
    c["device"] = device_block(device);
    c["origin"] = origin_block(device);
    out.push_back({prefix + "/" + std::string(platform(e.component)) + "/" + device.id + "/" + e.object_id + "/config",
                   c.dump()});
  }
  return out;
}

std::vector<DiscoveryMessage> removal_messages(const DeviceModel& model, const DeviceIdentity& device,
                                               const std::string& prefix) {
  std::vector<DiscoveryMessage> out{{prefix + "/device/" + device.id + "/config", ""}};
  for (const auto& e : model.entities()) {
    out.push_back({prefix + "/" + std::string(platform(e.component)) + "/" + device.id + "/" + e.object_id + "/config",
                   ""});
  }
  return out;
}

}  // namespace freehold::mqtt
