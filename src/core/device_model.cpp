// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/device_model.hpp"

#include <algorithm>

namespace freehold {
namespace {

std::vector<Entity> build_entities() {
  std::vector<Entity> e;
  for (const char* profile : {"main", "sub"}) {
    const std::string p = profile;
    e.push_back({"stream_" + p, p + " stream", Component::stream, "stream." + p + ".enabled", "", "", ""});
  }
  e.push_back({"privacy_mode", "Privacy mode", Component::switch_, "privacy.enabled", "", "", "config"});
  e.push_back({"motion_detection", "Motion detection", Component::switch_, "motion.enabled", "", "", "config"});
  e.push_back(
      {"motion_sensitivity", "Motion sensitivity", Component::number, "motion.sensitivity", "", "%", "config"});
  e.push_back({"person_detection", "Person detection", Component::switch_, "person.enabled", "", "", "config"});
  e.push_back({"day_night_mode", "Day/night mode", Component::select, "image.day_night", "", "", "config"});
  e.push_back({"brightness", "Brightness", Component::number, "image.brightness", "", "%", "config"});
  e.push_back({"contrast", "Contrast", Component::number, "image.contrast", "", "%", "config"});
  e.push_back({"motion", "Motion", Component::binary_sensor, "", "motion", "", ""});
  e.push_back({"person", "Person", Component::binary_sensor, "", "occupancy", "", ""});
  e.push_back({"tamper", "Tampering", Component::binary_sensor, "", "tamper", "", "diagnostic"});
  e.push_back({"uptime", "Uptime", Component::sensor, "", "duration", "s", "diagnostic"});
  e.push_back({"cpu", "CPU", Component::sensor, "", "", "%", "diagnostic"});
  e.push_back({"memory", "Memory", Component::sensor, "", "data_size", "MiB", "diagnostic"});
  e.push_back({"fps", "Frame rate", Component::sensor, "", "", "fps", "diagnostic"});
  e.push_back({"bitrate", "Bitrate", Component::sensor, "", "data_rate", "kbit/s", "diagnostic"});
  e.push_back({"snapshot", "Snapshot", Component::camera, "", "", "", ""});
  e.push_back({"detection", "Detection", Component::event, "", "", "", ""});
  e.push_back({"take_snapshot", "Take snapshot", Component::button, "", "", "", ""});
  e.push_back({"restart", "Restart", Component::button, "", "restart", "", "config"});
  e.push_back({"firmware", "Firmware", Component::update, "", "firmware", "", "config"});
  return e;
}

}  // namespace

std::string_view component_name(Component c) {
  switch (c) {
    case Component::stream: return "stream";
    case Component::switch_: return "switch";
    case Component::number: return "number";
    case Component::select: return "select";
    case Component::sensor: return "sensor";
    case Component::binary_sensor: return "binary_sensor";
    case Component::button: return "button";
    case Component::camera: return "camera";
    case Component::event: return "event";
    case Component::update: return "update";
  }
  return "sensor";
}

DeviceModel::DeviceModel(Config initial) : config_(std::move(initial)), entities_(build_entities()) {
  states_.emplace("motion", Value{false});
  states_.emplace("person", Value{false});
  states_.emplace("tamper", Value{false});
  states_.emplace("uptime", Value{std::int64_t{0}});
}

const Entity* DeviceModel::find_entity(std::string_view object_id) const {
  auto it = std::find_if(entities_.begin(), entities_.end(), [&](const Entity& e) { return e.object_id == object_id; });
  return it == entities_.end() ? nullptr : &*it;
}

SetResult DeviceModel::set(std::string_view key, const Value& value, const Requester& who) {
  return set_many({{std::string(key), value}}, who);
}

SetResult DeviceModel::set_many(const std::vector<std::pair<std::string, Value>>& values, const Requester& who) {
  const auto& role = who.role;
  SetResult result;
  for (const auto& [key, value] : values) {
    const SettingSpec* spec = find_setting(key);
    if (spec == nullptr) {
      std::string msg = "unknown setting '" + key + "'";
      if (auto s = suggest_setting(key)) msg += "; did you mean '" + *s + "'?";
      result.errors.push_back({key, std::move(msg)});
      continue;
    }
    if (role && !role_at_least(*role, spec->write_role)) {
      result.errors.push_back({key, key + ": needs the " + std::string(role_name(spec->write_role)) + " role", true});
      continue;
    }
    if (auto problem = validate_setting(*spec, value)) result.errors.push_back({key, std::move(*problem)});
  }
  if (!result.ok()) return result;

  std::vector<Change> changes;
  for (const auto& [key, value] : values) {
    if (config_.get(key) == value) continue;
    config_.set_validated(key, value);
    result.changed.push_back(key);
    if (find_setting(key)->restart_required) result.restart_required.push_back(key);
    changes.push_back({Change::Kind::setting, key, value, who.actor, who.source});
  }
  // Emit after every value is in place, so a subscriber reading config() sees a consistent whole.
  for (const auto& c : changes) changes_.emit(c);
  return result;
}

SetResult DeviceModel::replace(const Config& next, const Requester& who) {
  std::vector<std::pair<std::string, Value>> diff;
  for (const auto& [key, value] : next.values()) {
    if (config_.get(key) != value) diff.emplace_back(key, value);
  }
  return set_many(diff, who);
}

std::optional<Value> DeviceModel::state(std::string_view object_id) const {
  const Entity* e = find_entity(object_id);
  if (e == nullptr) return std::nullopt;
  if (!e->setting.empty()) return config_.get(e->setting);
  auto it = states_.find(object_id);
  if (it == states_.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> DeviceModel::press(std::string_view object_id, const Requester& who) {
  const Entity* e = find_entity(object_id);
  if (e == nullptr) return "no entity '" + std::string(object_id) + "'";
  if (e->component != Component::button) return "'" + std::string(object_id) + "' is not a button";
  if (who.role && !role_at_least(*who.role, Role::operator_)) return "pressing a button needs the operator role";
  changes_.emit({Change::Kind::action, std::string(object_id), Value{true}, who.actor, who.source});
  return std::nullopt;
}

void DeviceModel::publish_state(std::string_view object_id, Value value) {
  auto it = states_.find(object_id);
  if (it == states_.end()) {
    it = states_.emplace(std::string(object_id), value).first;
  } else if (it->second == value) {
    return;
  } else {
    it->second = value;
  }
  changes_.emit({Change::Kind::state, std::string(object_id), std::move(value), "device", "device"});
}

}  // namespace freehold
