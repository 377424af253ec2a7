// SPDX-License-Identifier: GPL-3.0-or-later
// The MQTT adapter (docs/mqtt.md): publishes the device model's entities, the event bus and telemetry to the
// owner's broker, with Home Assistant discovery, and turns commands into calls of the device model's validated
// setters. It holds no rules of its own. Lives on the I/O thread, like the model and the bus.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include <filesystem>

#include "core/device_model.hpp"
#include "core/event_store.hpp"
#include "core/events.hpp"
#include "mqtt/discovery.hpp"

namespace freehold::mqtt {

struct AdapterDeps {
  DeviceModel& model;
  EventBus& events;
  boost::asio::any_io_executor executor;
  DeviceIdentity device;
  // Takes the latest picture as JPEG away from the I/O thread (encoding takes milliseconds) and calls `done` back
  // on it, with an empty string when there is none (no picture, privacy mode).
  std::function<void(std::function<void(std::string jpeg)> done)> snapshot;
  // Figures for the telemetry message (uptime, CPU, memory, streams, storage); the adapter adds its own.
  std::function<nlohmann::json()> telemetry;
  // Capabilities listed in the info message ("rtsp", "onvif", "motion", ...).
  std::vector<std::string> capabilities;
  // The outbox survives a restart: the id of the last event the broker acknowledged is kept in `cursor_file`, and
  // at start the events after it are read back from the history with `replay` (ascending or not). Either empty:
  // the outbox lives in memory only.
  std::filesystem::path cursor_file;
  std::function<std::vector<EventStore::Stored>(std::int64_t after_id, int limit)> replay;
};

struct AdapterStats {
  std::uint64_t events_published = 0;
  std::uint64_t events_dropped = 0;  // the outbox was full: the oldest went
  std::uint64_t commands = 0;
  std::uint64_t commands_rejected = 0;
  std::uint64_t connects = 0;
  std::size_t outbox = 0;
};

class Adapter final {
 public:
  // Reads the mqtt.* settings of the model's current configuration.
  explicit Adapter(AdapterDeps deps);
  ~Adapter();
  Adapter(const Adapter&) = delete;
  Adapter& operator=(const Adapter&) = delete;

  // Starts connecting; returns the problem with the settings (unreadable CA file, bad URL...), if any.
  [[nodiscard]] std::optional<std::string> start();
  // Publishes "offline" and disconnects cleanly, waiting at most `grace`.
  void stop(std::chrono::milliseconds grace);

  [[nodiscard]] AdapterStats stats() const;
  [[nodiscard]] const Topics& topics() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// <model>-<last 6 hex digits of the MAC>, lower case; `fallback` (hex) stands in when there is no MAC.
[[nodiscard]] std::string default_device_id(const std::string& model, const std::string& mac,
                                            const std::string& fallback);

}  // namespace freehold::mqtt
