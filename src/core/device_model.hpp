// SPDX-License-Identifier: GPL-3.0-or-later
// The device model: the single source of truth for settings and entities. Every protocol adapter (REST, ONVIF,
// MQTT, web UI) changes the device only through set() / set_many(), which validate against the settings schema,
// and learns about changes only through subscribe(). Not thread-safe: it lives on the I/O thread; other threads
// post to it.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/signal.hpp"

namespace freehold {

enum class Component { stream, switch_, number, select, sensor, binary_sensor, button, camera, event, update };

[[nodiscard]] std::string_view component_name(Component c);

// An entity as adapters present it (Home Assistant, ONVIF, web UI). Writable entities are bound to a setting;
// read-only ones (sensors) carry a state that the device publishes; buttons carry an action (press()).
struct Entity {
  std::string object_id;  // stable, [a-z0-9_]
  std::string name;
  Component component = Component::sensor;
  std::string setting;  // bound setting key (empty: read-only)
  std::string device_class;
  std::string unit;
  std::string category;  // "", "config" or "diagnostic"
};

struct Change {
  enum class Kind { setting, state, action };
  Kind kind = Kind::setting;
  std::string key;  // setting key, or entity object_id for states and actions (a button pressed)
  Value value;
  std::string actor;   // who made it: "user:alice", "config-file", "device"
  std::string source;  // from where: the peer address, or the subsystem ("console", "config-file")
};

// Who asks for a change and from where; role is nullopt for local, trusted sources (config file, the daemon).
struct Requester {
  std::string actor;
  std::string source;
  std::optional<Role> role;
};

struct FieldError {
  std::string key;
  std::string message;
  bool forbidden = false;  // the caller's role may not change this setting
};

struct SetResult {
  std::vector<std::string> changed;           // keys whose value changed
  std::vector<std::string> restart_required;  // subset that applies on the next start
  std::vector<FieldError> errors;             // non-empty: nothing was applied
  [[nodiscard]] bool ok() const { return errors.empty(); }
};

class DeviceModel final {
 public:
  explicit DeviceModel(Config initial);

  [[nodiscard]] const Config& config() const { return config_; }
  [[nodiscard]] const std::vector<Entity>& entities() const { return entities_; }
  [[nodiscard]] const Entity* find_entity(std::string_view object_id) const;

  // Validates and applies one setting, checking the requester's role against the schema.
  SetResult set(std::string_view key, const Value& value, const Requester& who);

  // All-or-nothing: every value is validated first; on any error nothing changes.
  SetResult set_many(const std::vector<std::pair<std::string, Value>>& values, const Requester& who);

  // Replaces the whole configuration (SIGHUP reload): applies only what differs, one Change per key.
  SetResult replace(const Config& next, const Requester& who);

  // Presses a button entity: emits an action Change that the daemon carries out. Buttons need the operator role.
  // Returns the problem (unknown entity, not a button, role too low), or nullopt.
  [[nodiscard]] std::optional<std::string> press(std::string_view object_id, const Requester& who);

  // The current state of an entity: its setting's value, or the last published sensor state.
  [[nodiscard]] std::optional<Value> state(std::string_view object_id) const;
  // Publishes a read-only entity's state (sensors). Emits a Change only when the value differs.
  void publish_state(std::string_view object_id, Value value);

  using ChangeSignal = Signal<Change>;
  [[nodiscard]] ChangeSignal::Subscription subscribe(ChangeSignal::Handler h) { return changes_.subscribe(std::move(h)); }

 private:
  Config config_;
  std::vector<Entity> entities_;
  std::map<std::string, Value, std::less<>> states_;
  ChangeSignal changes_;
};

}  // namespace freehold
