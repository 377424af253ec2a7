// SPDX-License-Identifier: GPL-3.0-or-later
#include "mqtt/adapter.hpp"

#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <random>
#include <map>
#include <set>

#include "core/atomic_file.hpp"
#include "core/log.hpp"
#include "core/settings.hpp"
#include "core/url.hpp"
#include "mqtt/client.hpp"
#include "mqtt/payload.hpp"
#include "web/event_json.hpp"
#include "web/settings_json.hpp"

namespace freehold::mqtt {
namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

constexpr std::size_t kMaxInFlight = 32;  // events handed to the library and not yet acknowledged
constexpr auto kHaJitterMax = std::chrono::milliseconds(5000);

DiscoveryMode discovery_mode(const std::string& s) {
  if (s == "entity") return DiscoveryMode::entity;
  if (s == "off") return DiscoveryMode::off;
  return DiscoveryMode::device;
}

constexpr auto kCursorInterval = std::chrono::seconds(5);

struct Outgoing {
  std::int64_t id;  // the event's
  std::string topic;
  std::string payload;
};

}  // namespace

std::string default_device_id(const std::string& model, const std::string& mac, const std::string& fallback) {
  std::string hex;
  for (char c : mac) {
    if (std::isxdigit(static_cast<unsigned char>(c))) hex += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::string tail = hex.size() >= 6 ? hex.substr(hex.size() - 6) : fallback.substr(0, 6);
  std::string id;
  for (char c : model + "-" + tail) {
    id += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' ? static_cast<char>(std::tolower(c)) : '_';
  }
  return id;
}

struct Adapter::Impl {
  AdapterDeps d;
  Topics topics;
  std::string discovery_prefix;
  DiscoveryMode mode;
  std::unique_ptr<Client> client;
  DeviceModel::ChangeSignal::Subscription changes;
  EventBus::EventSignal::Subscription events;
  asio::steady_timer telemetry_timer;
  asio::steady_timer ha_timer;
  asio::steady_timer cursor_timer;
  std::deque<Outgoing> outbox;
  std::map<int, std::int64_t> in_flight;  // message id -> event id
  std::int64_t last_seen = 0;             // the newest event id the adapter took
  std::int64_t cursor_written = -1;
  AdapterStats stats;
  std::size_t outbox_max;
  std::size_t snapshot_max;
  bool snapshot_on_event;
  std::chrono::seconds telemetry_interval;
  std::optional<Role> command_role;  // nullopt: commands are off (viewer)
  std::string broker;
  std::mt19937 rng{std::random_device{}()};
  std::shared_ptr<bool> alive = std::make_shared<bool>(true);

  explicit Impl(AdapterDeps deps)
      : d(std::move(deps)),
        topics(cfg().get_string("mqtt.root"), d.device.id),
        discovery_prefix(cfg().get_string("mqtt.discovery_prefix")),
        mode(discovery_mode(cfg().get_string("mqtt.discovery"))),
        telemetry_timer(d.executor),
        ha_timer(d.executor),
        cursor_timer(d.executor),
        outbox_max(static_cast<std::size_t>(cfg().get_int("mqtt.outbox_max"))),
        snapshot_max(static_cast<std::size_t>(cfg().get_int("mqtt.snapshot_max_kb")) * 1024),
        snapshot_on_event(cfg().get_bool("mqtt.snapshot_on_event")),
        telemetry_interval(cfg().get_int("mqtt.telemetry_s")) {
    const auto role = parse_role(cfg().get_string("mqtt.command_role"));
    if (role && *role != Role::viewer) command_role = role;
  }

  ~Impl() { *alive = false; }

  const Config& cfg() const { return d.model.config(); }

  std::optional<std::string> start() {
    std::string error;
    auto url = parse_service_url(cfg().get_string("mqtt.url"), mqtt_schemes(), false, &error);
    if (!url) return "mqtt.url: " + error;
    broker = host_port(*url);
    ClientOptions o;
    o.host = url->host;
    o.port = url->port;
    o.tls = url->scheme == "mqtts";
    o.ca_file = cfg().get_string("mqtt.ca_file");
    o.cert_file = cfg().get_string("mqtt.cert_file");
    o.key_file = cfg().get_string("mqtt.key_file");
    o.fingerprint = cfg().get_string("mqtt.fingerprint");
    if (!o.tls && (!o.ca_file.empty() || !o.cert_file.empty() || !o.fingerprint.empty())) {
      return "mqtt.ca_file, mqtt.cert_file and mqtt.fingerprint need an mqtts:// broker URL";
    }
    if (o.cert_file.empty() != o.key_file.empty()) return "mqtt.cert_file and mqtt.key_file go together";
    o.username = cfg().get_string("mqtt.username");
    o.password = cfg().get_string("mqtt.password");
    o.client_id = d.device.id;
    o.keepalive = std::chrono::seconds(cfg().get_int("mqtt.keepalive_s"));
    o.will_topic = topics.status();
    o.will_payload = "offline";
    ClientHandlers h;
    h.connected = [this] { on_connected(); };
    h.disconnected = [] {};
    h.message = [this](const Message& m) { on_message(m); };
    h.acknowledged = [this](int mid) {
      if (in_flight.erase(mid)) pump();
    };
    last_seen = d.events.next_id() - 1;
    replay_missed();
    client = std::make_unique<Client>(d.executor, std::move(o), std::move(h));
    if (auto e = client->start()) return e;
    changes = d.model.subscribe([this](const Change& c) { on_change(c); });
    events = d.events.subscribe([this](const Event& e) { on_event(e); });
    tick_telemetry();
    tick_cursor();
    log::info("mqtt.starting", {{"broker", broker}, {"base_topic", topics.base()},
                                {"discovery", cfg().get_string("mqtt.discovery")}});
    return std::nullopt;
  }

  void stop(std::chrono::milliseconds grace) {
    telemetry_timer.cancel();
    ha_timer.cancel();
    cursor_timer.cancel();
    changes = {};
    events = {};
    if (!client) return;
    if (client->connected()) client->publish(topics.status(), "offline", 1, true);
    client->stop(grace);
    save_cursor();
    if (!outbox.empty() || !in_flight.empty()) {
      log::notice("mqtt.outbox_kept", {{"events", outbox.size() + in_flight.size()},
                                       {"persistent", !d.cursor_file.empty() && d.replay != nullptr}});
    }
  }

  // --- the outbox across restarts -------------------------------------------------------------------------

  // Every event up to this id reached the broker (or was dropped, and counted, when the outbox overflowed).
  std::int64_t acked_through() const {
    std::int64_t first_open = last_seen + 1;
    if (!outbox.empty()) first_open = std::min(first_open, outbox.front().id);
    for (const auto& [mid, id] : in_flight) first_open = std::min(first_open, id);
    return first_open - 1;
  }

  void save_cursor() {
    if (d.cursor_file.empty()) return;
    const std::int64_t c = acked_through();
    if (c == cursor_written) return;
    if (auto e = write_file_atomic(d.cursor_file, std::to_string(c) + "\n")) {
      log::warn("mqtt.cursor_save_failed", {{"error", *e}});
      return;
    }
    cursor_written = c;
  }

  void tick_cursor() {
    cursor_timer.expires_after(kCursorInterval);
    cursor_timer.async_wait([this, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      save_cursor();
      tick_cursor();
    });
  }

  // Events that happened after the last one the broker took, before this start: queued first, oldest first.
  void replay_missed() {
    if (d.cursor_file.empty() || !d.replay) return;
    std::string error;
    auto text = read_file(d.cursor_file, &error, 64);
    if (!text) return;  // first start with MQTT: nothing was owed
    std::int64_t cursor = 0;
    try {
      cursor = std::stoll(*text);
    } catch (const std::exception&) {
      log::warn("mqtt.cursor_unreadable", {{"file", d.cursor_file.string()}});
      return;
    }
    if (cursor >= last_seen || outbox_max == 0) return;
    auto stored = d.replay(cursor, static_cast<int>(std::min<std::size_t>(outbox_max, 100000)));
    std::sort(stored.begin(), stored.end(), [](const auto& a, const auto& b) { return a.event.id < b.event.id; });
    for (const auto& s : stored) enqueue(s.event, s.has_snapshot);
    cursor_written = cursor;
    if (!stored.empty()) log::info("mqtt.outbox_restored", {{"events", stored.size()}, {"after_id", cursor}});
  }

  // --- publishing -------------------------------------------------------------------------------------------

  void publish_retained(const std::string& topic, const std::string& payload) {
    client->publish(topic, payload, 1, true);
  }

  void publish_state(const Entity& e) {
    if (!client->connected()) return;
    if (e.component == Component::update) {
      publish_retained(topics.entity(e, "state"),
                       json{{"installed_version", d.device.sw_version}, {"latest_version", d.device.sw_version}}.dump());
      return;
    }
    if (e.component == Component::button || e.component == Component::camera || e.component == Component::event) {
      return;
    }
    if (auto v = d.model.state(e.object_id)) publish_retained(topics.entity(e, "state"), state_text(*v));
  }

  void publish_info() {
    json ip = json::array();
    json j{{"id", d.device.id},
           {"name", cfg().get_string("device.name")},
           {"manufacturer", d.device.manufacturer},
           {"model", d.device.model},
           {"firmware", d.device.sw_version},
           {"mac", d.device.mac},
           {"configuration_url", d.device.configuration_url},
           {"capabilities", d.capabilities},
           {"mqtt_protocol", client->protocol_version() == 5 ? "5" : "3.1.1"}};
    publish_retained(topics.info(), j.dump());
  }

  void publish_discovery() {
    DeviceIdentity device = d.device;
    device.name = cfg().get_string("device.name");
    // Switching modes must not leave the other mode's entities behind in Home Assistant.
    auto current = discovery_messages(d.model, device, topics, discovery_prefix, mode);
    std::set<std::string> keep;
    for (const auto& m : current) keep.insert(m.topic);
    for (const auto& m : removal_messages(d.model, device, discovery_prefix)) {
      if (!keep.count(m.topic)) publish_retained(m.topic, "");
    }
    for (const auto& m : current) publish_retained(m.topic, m.payload);
  }

  void publish_everything() {
    publish_retained(topics.status(), "online");
    publish_info();
    if (mode != DiscoveryMode::off) publish_discovery();
    for (const auto& e : d.model.entities()) publish_state(e);
  }

  bool publish_snapshot(const std::string& jpeg) {
    if (jpeg.empty() || !client->connected()) return false;
    if (jpeg.size() > snapshot_max) {
      log::warn("mqtt.snapshot_too_large", {{"bytes", jpeg.size()}, {"limit", snapshot_max}});
      return false;
    }
    return client->publish(topics.image(), jpeg, 0, true) != 0;
  }

  // Sends queued events while the broker takes them; a bounded number waits for its PUBACK at any time.
  void pump() {
    while (!outbox.empty() && client->connected() && in_flight.size() < kMaxInFlight) {
      const int mid = client->publish(outbox.front().topic, outbox.front().payload, 1, false);
      if (mid == 0) return;
      in_flight[mid] = outbox.front().id;
      outbox.pop_front();
      ++stats.events_published;
    }
  }

  // --- reacting ---------------------------------------------------------------------------------------------

  void on_connected() {
    ++stats.connects;
    in_flight.clear();  // what the library still holds it resends itself
    client->subscribe(topics.base() + "/+/+/set", 1);
    client->subscribe(topics.base() + "/rpc/+", 1);
    if (mode != DiscoveryMode::off) client->subscribe(discovery_prefix + "/status", 1);
    publish_everything();
    pump();
  }

  void on_change(const Change& c) {
    if (c.kind == Change::Kind::action) {
      if (c.key == "take_snapshot") {
        d.snapshot([this, alive = alive](std::string jpeg) {
          if (*alive) (void)publish_snapshot(jpeg);
        });
      }
      return;
    }
    if (!client->connected()) return;  // everything is published again on connection
    for (const auto& e : d.model.entities()) {
      if ((c.kind == Change::Kind::setting && e.setting == c.key) ||
          (c.kind == Change::Kind::state && e.setting.empty() && e.object_id == c.key)) {
        publish_state(e);
      }
    }
    if (c.kind == Change::Kind::setting && c.key == "device.name") {
      publish_info();
      if (mode != DiscoveryMode::off) publish_discovery();
    }
  }

  void enqueue(const Event& e, bool has_snapshot) {
    last_seen = std::max(last_seen, e.id);
    json j = web::event_json(e, has_snapshot);
    j["event_type"] = e.type;  // what Home Assistant's event entity reads
    if (outbox_max == 0) {
      ++stats.events_dropped;
      return;
    }
    if (outbox.size() >= outbox_max) {
      outbox.pop_front();
      ++stats.events_dropped;
      log::warn("mqtt.event_dropped", {{"reason", "outbox full"}, {"dropped_total", stats.events_dropped}});
    }
    outbox.push_back({e.id, topics.event(e.type), j.dump()});
  }

  void on_event(const Event& e) {
    enqueue(e, e.snapshot != nullptr);
    pump();
    if (snapshot_on_event && e.snapshot && client->connected()) {
      (void)publish_snapshot(std::string(e.snapshot->begin(), e.snapshot->end()));
    }
  }

  void on_message(const Message& m) {
    if (m.topic == discovery_prefix + "/status") {
      if (m.payload == "online") schedule_rediscovery();
      return;
    }
    const std::string& base = topics.base();
    if (m.topic.size() <= base.size() + 1 || m.topic.compare(0, base.size() + 1, base + "/") != 0) return;
    const std::string rest = m.topic.substr(base.size() + 1);
    if (rest.starts_with("rpc/")) {
      on_rpc(rest.substr(4), m);
      return;
    }
    // <platform>/<object>/set
    const auto a = rest.find('/'), b = rest.rfind('/');
    if (a == std::string::npos || a == b || rest.substr(b) != "/set") return;
    on_command(rest.substr(0, a), rest.substr(a + 1, b - a - 1), m);
  }

  void schedule_rediscovery() {
    // Home Assistant restarted: every device answers, so spread the answers over a few seconds.
    std::uniform_int_distribution<std::int64_t> jitter(0, kHaJitterMax.count());
    ha_timer.expires_after(std::chrono::milliseconds(jitter(rng)));
    ha_timer.async_wait([this, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive || !client->connected()) return;
      log::info("mqtt.rediscovery", {{"reason", "Home Assistant came online"}});
      publish_everything();
    });
  }

  Requester requester() const { return Requester{"mqtt", "mqtt:" + broker, command_role}; }

  void reject(const std::string& topic, const std::string& payload, const std::string& why) {
    ++stats.commands_rejected;
    log::warn("mqtt.command_rejected", {{"topic", topic}, {"error", why}});
    if (client->connected()) client->publish(topic, json{{"error", why}, {"payload", payload.substr(0, 256)}}.dump(), 1, false);
  }

  void on_command(const std::string& component, const std::string& object, const Message& m) {
    const Entity* e = d.model.find_entity(object);
    if (!e || platform(e->component) != component) {
      log::warn("mqtt.command_unknown_entity", {{"topic", m.topic}});
      return;
    }
    const std::string error_topic = topics.entity(*e, "error");
    ++stats.commands;
    if (m.retain) {
      // A retained command would be replayed to the device on every connection: never act on one.
      log::warn("mqtt.retained_command_ignored", {{"topic", m.topic}, {"hint", "publish commands without retain"}});
      ++stats.commands_rejected;
      return;
    }
    if (!command_role) {
      reject(error_topic, m.payload, "commands over MQTT are off (mqtt.command_role = viewer)");
      return;
    }
    const SettingSpec* spec = e->setting.empty() ? nullptr : find_setting(e->setting);
    Command cmd = parse_command(*e, spec, m.payload);
    if (!cmd.error.empty()) {
      reject(error_topic, m.payload, object + ": " + cmd.error);
      return;
    }
    if (cmd.press) {
      if (auto problem = d.model.press(object, requester())) reject(error_topic, m.payload, *problem);
      return;
    }
    SetResult r = d.model.set(e->setting, *cmd.value, requester());
    if (!r.ok()) {
      reject(error_topic, m.payload, r.errors.front().message);
      publish_state(*e);  // the state did not change: say so, so a UI that guessed flips back
      return;
    }
    if (r.changed.empty()) publish_state(*e);  // unchanged values are echoed too
  }

  // <base>/rpc/<method>: the answer goes to the MQTT 5 response topic with the correlation data, or, for 3.1.1
  // clients, to the "response_topic" field of the JSON request (with its "correlation" echoed).
  void on_rpc(const std::string& method, const Message& m) {
    json request = m.payload.empty() ? json::object() : json::parse(m.payload, nullptr, false);
    std::string response_topic = m.response_topic;
    json correlation = nullptr;
    if (request.is_object()) {
      if (response_topic.empty() && request.contains("response_topic") && request["response_topic"].is_string()) {
        response_topic = request["response_topic"].get<std::string>();
      }
      if (request.contains("correlation")) correlation = request["correlation"];
    }
    auto reply = [this, response_topic, correlation, mqtt_correlation = m.correlation](json answer) {
      if (!correlation.is_null()) answer["correlation"] = correlation;
      if (response_topic.empty() || !client->connected()) return;
      if (response_topic.find_first_of("+#") != std::string::npos) return;
      client->publish(response_topic, answer.dump(), 1, false, mqtt_correlation);
    };
    if (m.retain) {
      reply(json{{"ok", false}, {"error", "retained requests are ignored"}});
    } else if (method == "snapshot" && request.is_object()) {
      // The picture is encoded away from the I/O thread: the answer follows when it is done.
      d.snapshot([this, alive = alive, reply](std::string jpeg) {
        if (!*alive) return;
        if (jpeg.empty()) {
          reply(json{{"ok", false}, {"error", "no picture available (streaming off, privacy mode, or no raw pictures)"}});
        } else if (!publish_snapshot(jpeg)) {
          reply(json{{"ok", false}, {"error", "the picture is larger than mqtt.snapshot_max_kb"}});
        } else {
          reply(json{{"ok", true}, {"topic", topics.image()}, {"bytes", jpeg.size()}});
        }
      });
    } else {
      reply(rpc(method, request));
    }
  }

  json rpc(const std::string& method, const json& request) {
    auto fail = [](std::string why) { return json{{"ok", false}, {"error", std::move(why)}}; };
    if (!request.is_object()) return fail("the request must be a JSON object (or empty)");
    if (method == "config_get") {
      json all = web::settings_json(cfg());
      if (!request.contains("keys")) return json{{"ok", true}, {"settings", all}};
      if (!request["keys"].is_array()) return fail("\"keys\" must be an array of setting keys");
      json some = json::object();
      for (const auto& k : request["keys"]) {
        if (!k.is_string() || !all.contains(k.get<std::string>())) return fail("unknown setting " + k.dump());
        some[k.get<std::string>()] = all[k.get<std::string>()];
      }
      return json{{"ok", true}, {"settings", some}};
    }
    if (!command_role) return fail("commands over MQTT are off (mqtt.command_role = viewer)");
    if (method == "config_set") {
      if (!request.contains("settings") || !request["settings"].is_object()) {
        return fail("expected {\"settings\": {\"key\": value, ...}}");
      }
      std::vector<std::pair<std::string, Value>> values;
      std::vector<FieldError> errors;
      web::flatten_settings(request["settings"], values, errors);
      SetResult r = errors.empty() ? d.model.set_many(values, requester()) : SetResult{{}, {}, errors};
      if (!r.ok()) {
        json e = json::object();
        for (const auto& fe : r.errors) e[fe.key] = fe.message;
        return json{{"ok", false}, {"error", r.errors.front().message}, {"errors", e}};
      }
      return json{{"ok", true}, {"changed", r.changed}, {"restart_required", r.restart_required}};
    }
    if (method == "reboot") {
      if (auto problem = d.model.press("restart", requester())) return fail(*problem);
      return json{{"ok", true}};
    }
    if (method == "remove") {
      DeviceIdentity device = d.device;
      for (const auto& msg : removal_messages(d.model, device, discovery_prefix)) publish_retained(msg.topic, "");
      for (const auto& e : d.model.entities()) {
        if (!e.setting.empty() || e.component == Component::sensor || e.component == Component::binary_sensor ||
            e.component == Component::update) {
          publish_retained(topics.entity(e, "state"), "");
        }
      }
      publish_retained(topics.info(), "");
      publish_retained(topics.image(), "");
      mode = DiscoveryMode::off;  // until the next start: the owner asked for the device to disappear
      return json{{"ok", true}};
    }
    return fail("unknown method '" + method + "'; known: config_get, config_set, snapshot, reboot, remove");
  }

  void tick_telemetry() {
    telemetry_timer.expires_after(client && client->connected() ? telemetry_interval : std::chrono::seconds(1));
    telemetry_timer.async_wait([this, alive = alive](const boost::system::error_code& ec) {
      if (ec || !*alive) return;
      if (client->connected()) {
        json t = d.telemetry ? d.telemetry() : json::object();
        t["mqtt"] = {{"events_published", stats.events_published},
                     {"events_dropped", stats.events_dropped},
                     {"outbox", outbox.size()},
                     {"commands", stats.commands},
                     {"commands_rejected", stats.commands_rejected},
                     {"connects", stats.connects}};
        client->publish(topics.telemetry(), t.dump(), 0, false);
      }
      tick_telemetry();
    });
  }
};

Adapter::Adapter(AdapterDeps deps) : impl_(std::make_unique<Impl>(std::move(deps))) {}
Adapter::~Adapter() = default;

std::optional<std::string> Adapter::start() { return impl_->start(); }
void Adapter::stop(std::chrono::milliseconds grace) { impl_->stop(grace); }

AdapterStats Adapter::stats() const {
  AdapterStats s = impl_->stats;
  s.outbox = impl_->outbox.size();
  return s;
}

const Topics& Adapter::topics() const { return impl_->topics; }

}  // namespace freehold::mqtt
