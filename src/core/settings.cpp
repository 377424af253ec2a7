// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/settings.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "core/ptz_presets.hpp"
#include "core/url.hpp"
#include "core/zones.hpp"

namespace freehold {
namespace {

SettingSpec integer(std::string key, std::int64_t def, std::int64_t min, std::int64_t max, std::string unit,
                    std::string help, Role role = Role::admin, bool restart = false) {
  SettingSpec s;
  s.key = std::move(key);
  s.kind = Kind::integer;
  s.default_value = def;
  s.min = min;
  s.max = max;
  s.unit = std::move(unit);
  s.help = std::move(help);
  s.write_role = role;
  s.restart_required = restart;
  return s;
}

SettingSpec boolean(std::string key, bool def, std::string help, Role role = Role::admin, bool restart = false) {
  SettingSpec s;
  s.key = std::move(key);
  s.kind = Kind::boolean;
  s.default_value = def;
  s.help = std::move(help);
  s.write_role = role;
  s.restart_required = restart;
  return s;
}

SettingSpec choice(std::string key, std::string def, std::vector<std::string> choices, std::string help,
                   Role role = Role::admin) {
  SettingSpec s;
  s.key = std::move(key);
  s.kind = Kind::choice;
  s.default_value = std::move(def);
  s.choices = std::move(choices);
  s.help = std::move(help);
  s.write_role = role;
  return s;
}

SettingSpec text(std::string key, std::string def, std::int64_t min_len, std::int64_t max_len, std::string help,
                 Role role = Role::admin, bool restart = false) {
  SettingSpec s;
  s.key = std::move(key);
  s.kind = Kind::string;
  s.default_value = std::move(def);
  s.min = min_len;
  s.max = max_len;
  s.help = std::move(help);
  s.write_role = role;
  s.restart_required = restart;
  return s;
}

std::optional<std::string> check_ip_address(const Value& v) {
  const auto& s = std::get<std::string>(v);
  unsigned char buf[16];
  if (inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1) return std::nullopt;
  return "'" + s + "' is not an IP address (use \"::\" or \"0.0.0.0\" for every interface)";
}

std::optional<std::string> check_printable(const Value& v) {
  for (unsigned char c : std::get<std::string>(v)) {
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  }
  return std::nullopt;
}

std::optional<std::string> check_scopes(const Value& v) {
  const auto& s = std::get<std::string>(v);
  size_t i = 0, count = 0;
  while (i < s.size()) {
    const auto end = std::min(s.find(' ', i), s.size());
    const std::string_view scope(s.data() + i, end - i);
    if (!scope.empty()) {
      if (!scope.starts_with("onvif://www.onvif.org/") || scope.size() == 22) {
        return "'" + std::string(scope.substr(0, 80)) + "' is not an onvif://www.onvif.org/... scope";
      }
      for (unsigned char c : scope) {
        if (c < 0x21 || c >= 0x7f) return "scopes are URIs: no control or non-ASCII characters";
      }
      if (++count > 32) return "at most 32 scopes";
    }
    i = end + 1;
  }
  return std::nullopt;
}

std::optional<std::string> check_presets(const Value& v) {
  std::string error;
  if (!parse_presets(std::get<std::string>(v), &error)) return error;
  return std::nullopt;
}

std::optional<std::string> check_zones(const Value& v) {
  std::string error;
  if (!parse_zones(std::get<std::string>(v), &error)) return error;
  return std::nullopt;
}

std::optional<std::string> check_mqtt_url(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.empty()) return std::nullopt;
  std::string error;
  if (!parse_service_url(text, mqtt_schemes(), false, &error)) return error;
  return std::nullopt;
}

// A topic prefix of one or more levels: no wildcards, no empty level (MQTT 5, 4.7).
std::optional<std::string> check_topic_prefix(const Value& v) {
  const auto& t = std::get<std::string>(v);
  if (t.find_first_of("+#") != std::string::npos) return "must not contain the wildcards + or #";
  if (t.front() == '/' || t.back() == '/' || t.find("//") != std::string::npos) return "must not have an empty level";
  for (unsigned char c : t) {
    if (c < 0x20 || c == 0x7f) return "must not contain control characters";
  }
  return std::nullopt;
}

std::optional<std::string> check_identifier(const Value& v) {
  for (unsigned char c : std::get<std::string>(v)) {
    if (!std::isalnum(c) && c != '-' && c != '_') return "may contain only letters, digits, '-' and '_'";
  }
  return std::nullopt;
}

std::optional<std::string> check_fingerprint(const Value& v) {
  const auto& t = std::get<std::string>(v);
  if (t.empty()) return std::nullopt;
  size_t hex = 0;
  for (unsigned char c : t) {
    if (std::isxdigit(c)) {
      ++hex;
    } else if (c != ':') {
      return "must be the certificate's SHA-256 in hex (64 digits, ':' allowed between pairs)";
    }
  }
  if (hex != 64) return "must be the certificate's SHA-256 in hex (64 digits, ':' allowed between pairs)";
  return std::nullopt;
}

std::optional<std::string> check_even(const Value& v) {
  if (std::get<std::int64_t>(v) % 2) return "must be even (4:2:0 pictures have chroma for pixel pairs)";
  return std::nullopt;
}

void add_stream_profile(std::vector<SettingSpec>& out, const std::string& name, std::int64_t width,
                        std::int64_t height, std::int64_t fps, std::int64_t kbps, std::string codec) {
  const std::string p = "stream." + name + ".";
  out.push_back(boolean(p + "enabled", true, "Serve the " + name + " stream", Role::operator_));
  // Applied live: the stream swaps its encoder between two frames and its readers carry on.
  auto w = integer(p + "width", width, 160, 3840, "px", "Picture width", Role::operator_);
  w.check = check_even;
  out.push_back(std::move(w));
  auto h = integer(p + "height", height, 120, 2160, "px", "Picture height", Role::operator_);
  h.check = check_even;
  out.push_back(std::move(h));
  out.push_back(integer(p + "fps", fps, 1, 60, "fps", "Frames per second", Role::operator_));
  out.push_back(integer(p + "bitrate_kbps", kbps, 64, 20000, "kbit/s", "Target bitrate", Role::operator_));
  out.push_back(choice(p + "rate_control", "vbr", {"cbr", "vbr"}, "Constant or variable bitrate", Role::operator_));
  out.push_back(integer(p + "gop", fps * 2, 1, 600, "frames", "Keyframe interval", Role::operator_));
  auto encoder = choice(p + "encoder", "auto", {"auto", "x264", "v4l2m2m"},
                        "H.264 encoder: the V4L2 M2M hardware one when present (auto), or x264 in software",
                        Role::operator_);
  encoder.restart_required = true;
  out.push_back(std::move(encoder));
  // A reader's SDP names the codec, so a change reaches readers only when they reconnect: applied at restart.
  auto codec_spec = choice(p + "codec", std::move(codec), {"h264", "mjpeg"},
                           "Encoding: H.264, or MJPEG (every frame a JPEG, up to 2040x2040; no bitrate or GOP)",
                           Role::operator_);
  codec_spec.restart_required = true;
  out.push_back(std::move(codec_spec));
}

// Remote access through the owner's relay (relay/, docs/relay-protocol.md): off until the owner names one.
std::optional<std::string> check_relay_url(const Value& v) {
  const auto& text = std::get<std::string>(v);
  if (text.empty()) return std::nullopt;
  std::string error;
  if (!parse_service_url(text, relay_schemes(), false, &error)) return error;
  return std::nullopt;
}

// Client public keys: unpadded base64url of 32 bytes (43 characters), separated by spaces.
std::optional<std::string> check_key_list(const Value& v) {
  const auto& t = std::get<std::string>(v);
  size_t at = 0;
  while (at < t.size()) {
    const auto end = std::min(t.find(' ', at), t.size());
    const auto key = t.substr(at, end - at);
    if (!key.empty() && (key.size() != 43 || key.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                                                   "0123456789-_") != std::string::npos))
      return "\"" + key + "\" is not a client key (43 base64url characters, as `freehold keygen` prints)";
    at = end + 1;
  }
  return std::nullopt;
}

void add_relay(std::vector<SettingSpec>& s) {
  auto url = text("relay.url", "", 0, 512,
                  "The owner's relay: relay://host:port, or wss://host:port for a link inside a WebSocket; empty: no "
                  "remote access");
  url.check = check_relay_url;
  s.push_back(std::move(url));
  auto pin = text("relay.fingerprint", "", 0, 95, "SHA-256 fingerprint of the relay's certificate (it is pinned)");
  s.push_back(std::move(pin));
  auto owners = text("relay.owners", "", 0, 4096,
                     "Public keys of the owner's clients (freehold keygen), separated by spaces: admin through the relay");
  owners.check = check_key_list;
  s.push_back(std::move(owners));
}

// MQTT (mqtt/): off until the owner names a broker. Changes restart the client, not the daemon.
void add_mqtt(std::vector<SettingSpec>& s) {
  auto url = text("mqtt.url", "", 0, 512, "Broker: mqtt://host[:1883] or mqtts://host[:8883]; empty: MQTT off");
  url.check = check_mqtt_url;
  s.push_back(std::move(url));
  s.push_back(text("mqtt.username", "", 0, 256, "User name at the broker"));
  auto password = text("mqtt.password", "", 0, 256, "Password at the broker");
  password.secret = true;
  s.push_back(std::move(password));
  s.push_back(text("mqtt.ca_file", "", 0, 4096,
                   "mqtts: PEM file of the CA(s) that signed the broker's certificate; empty: the system's CAs"));
  s.push_back(text("mqtt.cert_file", "", 0, 4096, "mqtts: client certificate (PEM), to log in with a certificate"));
  s.push_back(text("mqtt.key_file", "", 0, 4096, "mqtts: the client certificate's private key (PEM)"));
  auto pin = text("mqtt.fingerprint", "", 0, 95,
                  "mqtts: also require this SHA-256 fingerprint of the broker's certificate (pinning)");
  pin.check = check_fingerprint;
  s.push_back(std::move(pin));
  auto root = text("mqtt.root", "freehold", 1, 64, "First topic level(s) of every topic the device uses");
  root.check = check_topic_prefix;
  s.push_back(std::move(root));
  auto id = text("mqtt.device_id", "", 0, 64, "Topic level naming this device; empty: <model>-<last 6 of MAC>");
  id.check = check_identifier;
  s.push_back(std::move(id));
  s.push_back(choice("mqtt.discovery", "device", {"device", "entity", "off"},
                     "Home Assistant discovery: one device message, one message per entity, or none"));
  auto prefix = text("mqtt.discovery_prefix", "homeassistant", 1, 64, "Home Assistant's discovery topic prefix");
  prefix.check = check_topic_prefix;
  s.push_back(std::move(prefix));
  s.push_back(integer("mqtt.keepalive_s", 30, 5, 3600, "s", "Keep-alive interval agreed with the broker"));
  s.push_back(integer("mqtt.telemetry_s", 60, 5, 86400, "s", "Interval of the telemetry message"));
  s.push_back(integer("mqtt.outbox_max", 1000, 0, 100000, "events",
                      "Events kept for the broker while it is away; past it the oldest are dropped and counted"));
  s.push_back(integer("mqtt.snapshot_max_kb", 512, 8, 8192, "KiB", "Largest snapshot picture published"));
  s.push_back(boolean("mqtt.snapshot_on_event", true, "Publish the event's snapshot picture with each event"));
  s.push_back(choice("mqtt.command_role", "operator", {"viewer", "operator", "admin"},
                     "What MQTT commands may change, as for an account with this role (viewer: nothing)"));
}

std::vector<SettingSpec> build_schema() {
  std::vector<SettingSpec> s;
  auto name = text("device.name", "Freehold camera", 1, 64, "Name shown to NVRs, MQTT and the web UI",
                   Role::admin);
  name.check = check_printable;
  s.push_back(std::move(name));
  s.push_back(choice("log.level", "info", {"debug", "info", "notice", "warn", "error"}, "Least level logged"));

  auto bind = text("http.bind", "::", 2, 45, "Address the HTTP(S) listeners bind", Role::admin, true);
  bind.check = check_ip_address;
  s.push_back(std::move(bind));
  s.push_back(integer("http.https_port", 443, 1, 65535, "", "HTTPS port (web UI, REST API)", Role::admin, true));
  // Off until a LAN protocol that cannot do TLS (ONVIF) needs it: nothing listens that the owner did not enable.
  s.push_back(boolean("http.plain_enabled", false, "Plain HTTP listener for LAN ONVIF clients", Role::admin, true));
  s.push_back(integer("http.plain_port", 80, 1, 65535, "", "Plain HTTP port", Role::admin, true));
  s.push_back(integer("http.max_body_bytes", 65536, 1024, 1048576, "bytes", "Largest request body accepted"));
  s.push_back(integer("http.request_timeout_s", 10, 1, 300, "s", "Deadline to receive a whole request"));
  s.push_back(integer("http.max_connections", 128, 4, 4096, "", "Concurrent HTTP connections", Role::admin, true));

  s.push_back(integer("security.session_idle_minutes", 30, 1, 1440, "min", "Log out after this much inactivity"));
  s.push_back(integer("security.session_max_hours", 12, 1, 720, "h", "Longest a login lasts"));
  s.push_back(integer("security.lockout_threshold", 5, 3, 20, "failures", "Failures before a lockout"));
  s.push_back(integer("security.lockout_seconds", 30, 5, 3600, "s", "First lockout; doubles each time, max 1 h"));

  s.push_back(boolean("rtsp.enabled", true, "RTSP server (rtsp://HOST:PORT/main and /sub)", Role::admin, true));
  s.push_back(integer("rtsp.port", 554, 1, 65535, "", "RTSP port", Role::admin, true));
  s.push_back(boolean("rtsp.tls_enabled", true, "RTSPS: RTSP inside TLS (rtsps://HOST:PORT/main), media in TLS too",
                      Role::admin, true));
  s.push_back(integer("rtsp.tls_port", 322, 1, 65535, "", "RTSPS port", Role::admin, true));
  s.push_back(integer("rtsp.max_sessions", 64, 1, 4096, "", "Concurrent RTSP connections", Role::admin, true));
  s.push_back(integer("rtsp.udp_port_first", 20000, 1024, 65000, "", "First of the UDP ports for RTP/RTCP pairs",
                      Role::admin, true));
  s.push_back(integer("rtsp.udp_port_last", 20999, 1025, 65535, "", "Last of the UDP ports for RTP/RTCP pairs",
                      Role::admin, true));

  // The camera. Streams are scaled from its pictures; an encoded source (a file) is passed through on main.
  s.push_back(choice("source.kind", "synthetic", {"synthetic", "v4l2", "file"},
                     "Camera: synthetic test pattern, a V4L2 camera, or a recorded H.264/MJPEG file played in a loop"));
  s.back().restart_required = true;
  auto device = text("source.device", "/dev/video0", 1, 255, "V4L2 camera device (source.kind = \"v4l2\")",
                     Role::admin, true);
  device.check = check_printable;
  s.push_back(std::move(device));
  s.push_back(boolean("source.v4l2_h264", true, "Pass a V4L2 camera's own H.264 through when it offers it",
                      Role::admin, true));
  s.push_back(text("source.file", "", 0, 4096, "File played by source.kind = \"file\" (MP4, MKV, Annex-B .h264)",
                   Role::admin, true));
  s.push_back(boolean("source.loop", true, "Play the file again from the start at its end", Role::admin, true));
  s.push_back(boolean("source.decode", false,
                      "Decode an H.264 or MJPEG file and encode it again, so that analytics, snapshots and the sub "
                      "stream work (other codecs are always decoded)",
                      Role::admin, true));
  // 0: follow the main stream (its size, the faster of the two streams' rates).
  auto sw = integer("source.width", 0, 0, 3840, "px", "Capture width (0: main's)", Role::admin, true);
  sw.check = check_even;
  s.push_back(std::move(sw));
  auto sh = integer("source.height", 0, 0, 2160, "px", "Capture height (0: main's)", Role::admin, true);
  sh.check = check_even;
  s.push_back(std::move(sh));
  s.push_back(integer("source.fps", 0, 0, 60, "fps", "Capture rate (0: the fastest stream's)", Role::admin, true));

  add_stream_profile(s, "main", 1280, 720, 25, 2048, "h264");
  add_stream_profile(s, "sub", 640, 360, 10, 512, "h264");

  s.push_back(boolean("privacy.enabled", false, "Privacy mode: all streams and snapshots off", Role::operator_));
  s.push_back(boolean("motion.enabled", true, "Motion detection", Role::operator_));
  s.push_back(integer("motion.sensitivity", 50, 0, 100, "%", "Motion sensitivity", Role::operator_));
  s.push_back(integer("motion.fps", 5, 1, 15, "fps", "Pictures analysed per second (independent of the streams)",
                      Role::operator_));
  s.push_back(integer("motion.min_area", 3, 1, 500, "‰",
                      "Smallest moving region that counts, in thousandths of the picture", Role::operator_));
  s.push_back(integer("motion.min_duration_ms", 300, 0, 10000, "ms", "Motion must last this long before it starts",
                      Role::operator_));
  s.push_back(integer("motion.cooldown_ms", 2000, 0, 600000, "ms", "Motion ends after this long without any",
                      Role::operator_));
  auto zones = text("motion.zones", "", 0, 4096,
                    "Motion zones: \"include|exclude <name>: x,y x,y x,y ...\" separated by ';', "
                    "coordinates as fractions of the picture",
                    Role::operator_);
  zones.check = check_zones;
  s.push_back(std::move(zones));
  s.push_back(boolean("tamper.enabled", true, "Report a covered lens or a camera turned away", Role::operator_));
  s.push_back(boolean("person.enabled", true, "Look for people where motion is", Role::operator_));
  s.push_back(choice("person.detector", "hog", {"hog", "onnx"},
                     "hog: OpenCV's built-in people detector; onnx: the network in person.model", Role::admin));
  s.push_back(text("person.model", "", 0, 4096, "ONNX model file for person.detector = \"onnx\"", Role::admin));
  s.push_back(integer("person.model_input", 640, 32, 2048, "px", "The ONNX model's square input size", Role::admin));
  s.push_back(integer("person.min_confidence", 50, 1, 100, "%", "Weaker person detections are not reported",
                      Role::operator_));
  s.push_back(integer("person.interval_ms", 1000, 100, 60000, "ms",
                      "At most one person detection per this interval", Role::operator_));
  s.push_back(integer("events.retention_days", 30, 1, 3650, "days", "Event history: delete events older than this"));
  s.push_back(integer("events.max_count", 10000, 100, 1000000, "events", "Event history: keep at most this many"));
  s.push_back(integer("events.snapshot_max_mb", 200, 1, 100000, "MiB",
                      "Event history: snapshot pictures together; past it the oldest pictures go, events stay"));
  s.push_back(boolean("events.snapshots", true, "Take a JPEG snapshot with each event", Role::operator_));
  s.push_back(boolean("events.draw_boxes", true, "Draw the detected boxes into event snapshots", Role::operator_));
  s.push_back(choice("image.day_night", "auto", {"auto", "day", "night"}, "Day/night mode", Role::operator_));
  s.push_back(integer("image.brightness", 50, 0, 100, "%", "Brightness", Role::operator_));
  s.push_back(integer("image.contrast", 50, 0, 100, "%", "Contrast", Role::operator_));
  s.push_back(integer("image.saturation", 50, 0, 100, "%", "Colour saturation", Role::operator_));
  s.push_back(integer("image.sharpness", 50, 0, 100, "%", "Sharpness", Role::operator_));
  // Written by the PTZ adapters (ONVIF SetPreset/RemovePreset); see core/ptz_presets.hpp for the format.
  auto presets = text("ptz.presets", "", 0, 8192, "PTZ presets: token,pan,tilt,zoom,name entries separated by ';'",
                      Role::operator_);
  presets.check = check_presets;
  s.push_back(std::move(presets));

  add_mqtt(s);
  add_relay(s);

  s.push_back(boolean("onvif.enabled", true, "ONVIF services at /onvif/ on the HTTP(S) listeners", Role::admin, true));
  s.push_back(boolean("onvif.discoverable", true,
                      "Answer WS-Discovery probes and announce the device (ONVIF discovery mode)"));
  auto scopes = text("onvif.scopes", "", 0, 2048,
                     "Extra ONVIF scopes, space-separated onvif://www.onvif.org/... URIs (location, name...)");
  scopes.check = check_scopes;
  s.push_back(std::move(scopes));
  return s;
}

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t sub = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, sub});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

const std::vector<SettingSpec>& settings_schema() {
  static const std::vector<SettingSpec> schema = build_schema();
  return schema;
}

const SettingSpec* find_setting(std::string_view key) {
  for (const auto& s : settings_schema()) {
    if (s.key == key) return &s;
  }
  return nullptr;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::boolean: return "a boolean";
    case Kind::integer: return "an integer";
    case Kind::string: return "a string";
    case Kind::choice: return "a string";
  }
  return "a value";
}

std::string value_to_string(const Value& v) {
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<std::int64_t>(&v)) return std::to_string(*i);
  return std::get<std::string>(v);
}

Value shown_value(const SettingSpec& spec, const Value& v) {
  if (!spec.secret) return v;
  const auto* s = std::get_if<std::string>(&v);
  return (s && s->empty()) ? v : Value{std::string(kSecretMask)};
}

std::string display_value(const SettingSpec& spec, const Value& v) { return value_to_string(shown_value(spec, v)); }

std::optional<std::string> validate_setting(const SettingSpec& spec, const Value& value) {
  const std::string prefix = spec.key + ": ";
  const bool type_ok = (spec.kind == Kind::boolean && std::holds_alternative<bool>(value)) ||
                       (spec.kind == Kind::integer && std::holds_alternative<std::int64_t>(value)) ||
                       ((spec.kind == Kind::string || spec.kind == Kind::choice) &&
                        std::holds_alternative<std::string>(value));
  if (!type_ok) return prefix + "expected " + std::string(kind_name(spec.kind));
  switch (spec.kind) {
    case Kind::integer: {
      auto v = std::get<std::int64_t>(value);
      if (v < spec.min || v > spec.max) {
        return prefix + std::to_string(v) + " is out of range " + std::to_string(spec.min) + ".." +
               std::to_string(spec.max) + (spec.unit.empty() ? "" : " " + spec.unit);
      }
      break;
    }
    case Kind::string: {
      auto len = static_cast<std::int64_t>(std::get<std::string>(value).size());
      if (len < spec.min || len > spec.max) {
        return prefix + "length " + std::to_string(len) + " is out of range " + std::to_string(spec.min) + ".." +
               std::to_string(spec.max) + " bytes";
      }
      break;
    }
    case Kind::choice: {
      const auto& v = std::get<std::string>(value);
      if (std::find(spec.choices.begin(), spec.choices.end(), v) == spec.choices.end()) {
        std::string list;
        for (const auto& c : spec.choices) list += (list.empty() ? "" : ", ") + ("\"" + c + "\"");
        return prefix + "\"" + v + "\" is not one of " + list;
      }
      break;
    }
    case Kind::boolean: break;
  }
  if (spec.check) {
    if (auto problem = spec.check(value)) return prefix + *problem;
  }
  return std::nullopt;
}

std::optional<std::string> suggest_setting(std::string_view unknown) {
  const SettingSpec* best = nullptr;
  size_t best_distance = 0;
  for (const auto& s : settings_schema()) {
    size_t d = edit_distance(unknown, s.key);
    if (!best || d < best_distance) {
      best = &s;
      best_distance = d;
    }
  }
  // A typo is a few edits, relative to the key length.
  if (best && best_distance <= std::max<size_t>(2, unknown.size() / 4)) return best->key;
  return std::nullopt;
}

}  // namespace freehold
