// SPDX-License-Identifier: GPL-3.0-or-later
// The topic layout of one device (docs/mqtt.md) and its Home Assistant discovery messages: built from the device
// model's entities, so a new entity appears in Home Assistant without code here.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "core/device_model.hpp"

namespace freehold::mqtt {

struct DeviceIdentity {
  std::string id;    // topic level and Home Assistant identifier, e.g. freehold-sim-a1b2c3
  std::string name;  // device.name
  std::string manufacturer;
  std::string model;
  std::string sw_version;
  std::string mac;                // "" when the host has none
  std::string configuration_url;  // the web UI
};

// Topics of one device under <root>/<id>.
class Topics final {
 public:
  Topics(std::string root, std::string id) : base_(std::move(root) + "/" + std::move(id)) {}
  [[nodiscard]] const std::string& base() const { return base_; }
  [[nodiscard]] std::string status() const { return base_ + "/status"; }
  [[nodiscard]] std::string info() const { return base_ + "/info"; }
  [[nodiscard]] std::string telemetry() const { return base_ + "/telemetry"; }
  [[nodiscard]] std::string event(std::string_view type) const { return base_ + "/event/" + std::string(type); }
  [[nodiscard]] std::string image() const { return base_ + "/camera/snapshot/image"; }
  [[nodiscard]] std::string rpc(std::string_view method) const { return base_ + "/rpc/" + std::string(method); }
  // <base>/<platform>/<object>/<leaf>, leaf = state, set or error
  [[nodiscard]] std::string entity(const Entity& e, std::string_view leaf) const;

 private:
  std::string base_;
};

enum class DiscoveryMode { device, entity, off };

struct DiscoveryMessage {
  std::string topic;
  std::string payload;  // JSON; empty removes the entity from Home Assistant
};

// The retained messages that describe the device to Home Assistant: one on <prefix>/device/<id>/config (device
// mode) or one per entity on <prefix>/<platform>/<id>/<object>/config (entity mode).
[[nodiscard]] std::vector<DiscoveryMessage> discovery_messages(const DeviceModel& model, const DeviceIdentity& device,
                                                               const Topics& topics, const std::string& prefix,
                                                               DiscoveryMode mode);

// Every discovery topic of both modes with empty payloads: what "remove" publishes.
[[nodiscard]] std::vector<DiscoveryMessage> removal_messages(const DeviceModel& model, const DeviceIdentity& device,
                                                             const std::string& prefix);

// One entity's configuration as Home Assistant reads it (without device and origin blocks).
[[nodiscard]] nlohmann::json entity_config(const Entity& e, const DeviceIdentity& device, const Topics& topics);

}  // namespace freehold::mqtt
