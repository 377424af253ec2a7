// SPDX-License-Identifier: GPL-3.0-or-later
// PTZ (ver20) over the camera's PTZ driver (the digital PTZ: a crop window of the sensor picture): one node, one
// configuration shared by both profiles, moves in the generic spaces and in the field of view (the
// TranslationSpaceFov that Frigate's autotracking uses), status, home and presets. Presets are the ptz.presets
// setting, changed through the device model like every other setting.
#include <cmath>

#include "media/ptz.hpp"
#include "onvif/ops.hpp"
#include "onvif/service.hpp"

namespace freehold::onvif {

namespace {

constexpr std::string_view kNodeToken = "PTZNode_1";
constexpr std::string_view kConfigToken = "PTZConfig_1";
constexpr long long kDefaultTimeoutS = 60;

namespace space {
constexpr std::string_view pt_position = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/PositionGenericSpace";
constexpr std::string_view zoom_position = "http://www.onvif.org/ver10/tptz/ZoomSpaces/PositionGenericSpace";
constexpr std::string_view pt_translation = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationGenericSpace";
constexpr std::string_view pt_translation_fov = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/TranslationSpaceFov";
constexpr std::string_view zoom_translation = "http://www.onvif.org/ver10/tptz/ZoomSpaces/TranslationGenericSpace";
constexpr std::string_view pt_velocity = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/VelocityGenericSpace";
constexpr std::string_view zoom_velocity = "http://www.onvif.org/ver10/tptz/ZoomSpaces/VelocityGenericSpace";
constexpr std::string_view pt_speed = "http://www.onvif.org/ver10/tptz/PanTiltSpaces/GenericSpeedSpace";
constexpr std::string_view zoom_speed = "http://www.onvif.org/ver10/tptz/ZoomSpaces/ZoomGenericSpeedSpace";
}  // namespace space

media::PtzDriver* driver_of(const Call& c) {
  return c.deps.ptz ? c.deps.ptz() : nullptr;
}

// The driver for the profile the request names, or the fault to answer.
std::variant<media::PtzDriver*, Fault> driver_for_profile(const Call& c) {
  const std::string token = text_of(child(c.req, "ProfileToken"));
  if (token != "Profile_main" && token != "Profile_sub") {
    return invalid_arg("no profile with token '" + token.substr(0, 64) + "'", "ter:NoProfile");
  }
  if (auto* d = driver_of(c)) return d;
  return invalid_arg("the camera has no PTZ (an encoded source cannot be cropped)", "ter:NoPTZProfile");
}

void range(pugi::xml_node parent, std::string_view name, double min, double max) {
  auto r = add(parent, name);
  add(r, "tt:Min", xs_double(min));
  add(r, "tt:Max", xs_double(max));
}

void space2d(pugi::xml_node parent, std::string_view element, std::string_view uri, double min, double max) {
  auto s = add(parent, element);
  add(s, "tt:URI", uri);
  range(s, "tt:XRange", min, max);
  range(s, "tt:YRange", min, max);
}

void space1d(pugi::xml_node parent, std::string_view element, std::string_view uri, double min, double max) {
  auto s = add(parent, element);
  add(s, "tt:URI", uri);
  range(s, "tt:XRange", min, max);
}

void write_spaces(pugi::xml_node n) {
  space2d(n, "tt:AbsolutePanTiltPositionSpace", space::pt_position, -1, 1);
  space1d(n, "tt:AbsoluteZoomPositionSpace", space::zoom_position, 0, 1);
  space2d(n, "tt:RelativePanTiltTranslationSpace", space::pt_translation, -1, 1);
  space2d(n, "tt:RelativePanTiltTranslationSpace", space::pt_translation_fov, -1, 1);
  space1d(n, "tt:RelativeZoomTranslationSpace", space::zoom_translation, -1, 1);
  space2d(n, "tt:ContinuousPanTiltVelocitySpace", space::pt_velocity, -1, 1);
  space1d(n, "tt:ContinuousZoomVelocitySpace", space::zoom_velocity, -1, 1);
  space1d(n, "tt:PanTiltSpeedSpace", space::pt_speed, 0, 1);
  space1d(n, "tt:ZoomSpeedSpace", space::zoom_speed, 0, 1);
}

void write_node(pugi::xml_node n) {
  attr(n, "token", kNodeToken);
  attr(n, "FixedHomePosition", "true");
  attr(n, "GeoMove", "false");
  add(n, "tt:Name", "DigitalPTZ");
  write_spaces(add(n, "tt:SupportedPTZSpaces"));
  add(n, "tt:MaximumNumberOfPresets", static_cast<long long>(kMaxPresets));
  add(n, "tt:HomeSupported", "true");
}

void vector2d(pugi::xml_node n, double x, double y, std::string_view space) {
  attr(n, "x", xs_double(x));
  attr(n, "y", xs_double(y));
  attr(n, "space", space);
}

void vector1d(pugi::xml_node n, double x, std::string_view space) {
  attr(n, "x", xs_double(x));
  attr(n, "space", space);
}

void write_position(pugi::xml_node n, const PtzPosition& p) {
  vector2d(add(n, "tt:PanTilt"), p.pan, p.tilt, space::pt_position);
  vector1d(add(n, "tt:Zoom"), p.zoom, space::zoom_position);
}

// Reads an x or y attribute; nullopt if absent, a fault text if not a number.
std::variant<std::optional<double>, std::string> number_attr(pugi::xml_node n, const char* name) {
  const auto a = n.attribute(name);
  if (!a) return std::optional<double>{};
  char* end = nullptr;
  const std::string text = a.value();
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(v)) {
    return std::string(local_name(n)) + "/@" + name + " is not a number: '" + text.substr(0, 32) + "'";
  }
  return std::optional<double>(v);
}

// The values of a tt:PTZVector or tt:PTZSpeed-shaped element (PanTilt x,y and Zoom x), their spaces checked.
struct Vec {
  std::optional<double> x, y, zoom;
  std::string pt_space;
};

std::variant<Vec, Fault> read_vector(pugi::xml_node parent, std::initializer_list<std::string_view> pt_spaces,
                                     std::string_view zoom_space, double pt_min, double pt_max, double z_min,
                                     double z_max, std::string_view bad_value_code) {
  Vec v;
  const auto in = [](double x, double lo, double hi) { return x >= lo && x <= hi; };
  if (const auto pt = child(parent, "PanTilt")) {
    const std::string s = pt.attribute("space").value();
    v.pt_space = s.empty() ? std::string(*pt_spaces.begin()) : s;
    if (std::find(pt_spaces.begin(), pt_spaces.end(), v.pt_space) == pt_spaces.end()) {
      return invalid_arg("pan/tilt space not supported: " + s.substr(0, 120), "ter:SpaceNotSupported");
    }
    for (const char* axis : {"x", "y"}) {
      auto r = number_attr(pt, axis);
      if (auto* e = std::get_if<std::string>(&r)) return invalid_arg(*e, std::string(bad_value_code));
      auto val = std::get<std::optional<double>>(r);
      if (val && !in(*val, pt_min, pt_max)) {
        return invalid_arg(std::string("PanTilt ") + axis + " = " + xs_double(*val) + " is outside " +
                               xs_double(pt_min) + ".." + xs_double(pt_max),
                           std::string(bad_value_code));
      }
      (axis[0] == 'x' ? v.x : v.y) = val;
    }
  }
  if (const auto z = child(parent, "Zoom")) {
    const std::string s = z.attribute("space").value();
    if (!s.empty() && s != zoom_space) {
      return invalid_arg("zoom space not supported: " + s.substr(0, 120), "ter:SpaceNotSupported");
    }
    auto r = number_attr(z, "x");
    if (auto* e = std::get_if<std::string>(&r)) return invalid_arg(*e, std::string(bad_value_code));
    v.zoom = std::get<std::optional<double>>(r);
    if (v.zoom && !in(*v.zoom, z_min, z_max)) {
      return invalid_arg("Zoom x = " + xs_double(*v.zoom) + " is outside " + xs_double(z_min) + ".." + xs_double(z_max),
                         std::string(bad_value_code));
    }
  }
  return v;
}

std::variant<media::PtzSpeed, Fault> read_speed(const Call& c) {
  media::PtzSpeed speed;
  const auto n = child(c.req, "Speed");
  if (!n) return speed;
  auto r = read_vector(n, {space::pt_speed}, space::zoom_speed, -1, 1, -1, 1, "ter:InvalidSpeed");
  if (auto* f = std::get_if<Fault>(&r)) return *f;
  const auto& v = std::get<Vec>(r);
  if (v.x || v.y) speed.pan_tilt = std::max(std::abs(v.x.value_or(0)), std::abs(v.y.value_or(0)));
  if (v.zoom) speed.zoom = std::abs(*v.zoom);
  // A zero speed would never arrive: treat it as the slowest.
  return speed;
}

OpResult capabilities(Call& c) {
  auto caps = add(c.reply.add("tptz:GetServiceCapabilitiesResponse"), "tptz:Capabilities");
  attr(caps, "EFlip", "false");
  attr(caps, "Reverse", "false");
  attr(caps, "GetCompatibleConfigurations", "true");
  attr(caps, "MoveStatus", "true");
  attr(caps, "StatusPosition", "true");
  return std::nullopt;
}

OpResult get_nodes(Call& c) {
  auto r = c.reply.add("tptz:GetNodesResponse");
  if (driver_of(c)) write_node(add(r, "tptz:PTZNode"));
  return std::nullopt;
}

OpResult get_node(Call& c) {
  const std::string token = text_of(child(c.req, "NodeToken"));
  if (token != kNodeToken || !driver_of(c)) {
    return invalid_arg("no PTZ node with token '" + token.substr(0, 64) + "'", "ter:NoEntity");
  }
  write_node(add(c.reply.add("tptz:GetNodeResponse"), "tptz:PTZNode"));
  return std::nullopt;
}

OpResult get_configurations(Call& c) {
  auto r = c.reply.add("tptz:GetConfigurationsResponse");
  if (driver_of(c)) write_ptz_config(c, add(r, "tptz:PTZConfiguration"));
  return std::nullopt;
}

OpResult get_compatible_configurations(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  write_ptz_config(c, add(c.reply.add("tptz:GetCompatibleConfigurationsResponse"), "tptz:PTZConfiguration"));
  return std::nullopt;
}

std::optional<Fault> check_config_token(const Call& c, std::string_view element) {
  const std::string token = text_of(child(c.req, element));
  if (token == kConfigToken && driver_of(c)) return std::nullopt;
  return invalid_arg("no PTZ configuration with token '" + token.substr(0, 64) + "'", "ter:NoConfig");
}

OpResult get_configuration(Call& c) {
  if (auto f = check_config_token(c, "PTZConfigurationToken")) return f;
  write_ptz_config(c, add(c.reply.add("tptz:GetConfigurationResponse"), "tptz:PTZConfiguration"));
  return std::nullopt;
}

OpResult get_configuration_options(Call& c) {
  if (auto f = check_config_token(c, "ConfigurationToken")) return f;
  auto o = add(c.reply.add("tptz:GetConfigurationOptionsResponse"), "tptz:PTZConfigurationOptions");
  write_spaces(add(o, "tt:Spaces"));
  auto t = add(o, "tt:PTZTimeout");
  add(t, "tt:Min", "PT1S");
  add(t, "tt:Max", xs_duration_seconds(kDefaultTimeoutS));
  return std::nullopt;
}

OpResult set_configuration(Call& c) {
  const auto conf = child(c.req, "PTZConfiguration");
  const std::string token = conf.attribute("token").value();
  if (token != kConfigToken || !driver_of(c)) {
    return invalid_arg("no PTZ configuration with token '" + token.substr(0, 64) + "'", "ter:NoConfig");
  }
  // Nothing in it can change (spaces, limits and timeouts are the digital PTZ's); accepting an unchanged write
  // back keeps clients that save the whole configuration working.
  c.reply.add("tptz:SetConfigurationResponse");
  return std::nullopt;
}

OpResult continuous_move(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  const auto velocity = child(c.req, "Velocity");
  auto r = read_vector(velocity, {space::pt_velocity}, space::zoom_velocity, -1, 1, -1, 1, "ter:InvalidVelocity");
  if (auto* f = std::get_if<Fault>(&r)) return *f;
  const auto& v = std::get<Vec>(r);
  std::chrono::milliseconds timeout = media::kMaxContinuousMove;
  if (const auto t = child(c.req, "Timeout")) {
    auto parsed = parse_duration(text_of(t));
    if (!parsed)
      return invalid_arg("Timeout is not an xs:duration: '" + text_of(t).substr(0, 32) + "'",
                         "ter:TimeoutNotSupported");
    timeout = std::min(*parsed, media::kMaxContinuousMove);
  }
  std::get<media::PtzDriver*>(d)->move_continuous({v.x.value_or(0), v.y.value_or(0), v.zoom.value_or(0)}, timeout);
  c.reply.add("tptz:ContinuousMoveResponse");
  return std::nullopt;
}

OpResult relative_move(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto r = read_vector(child(c.req, "Translation"), {space::pt_translation, space::pt_translation_fov},
                       space::zoom_translation, -2, 2, -1, 1, "ter:InvalidTranslation");
  if (auto* f = std::get_if<Fault>(&r)) return *f;
  auto speed = read_speed(c);
  if (auto* f = std::get_if<Fault>(&speed)) return *f;
  const auto& v = std::get<Vec>(r);
  auto* ptz = std::get<media::PtzDriver*>(d);
  const auto& s = std::get<media::PtzSpeed>(speed);
  if (v.pt_space == space::pt_translation_fov && (v.x || v.y)) {
    if (std::abs(v.x.value_or(0)) > 1 || std::abs(v.y.value_or(0)) > 1) {
      return invalid_arg("a translation in the field of view is within -1..1", "ter:InvalidTranslation");
    }
    ptz->move_by_fov(v.x.value_or(0), v.y.value_or(0), s);
    if (v.zoom) ptz->move_by({std::nullopt, std::nullopt, v.zoom}, s);
  } else {
    ptz->move_by({v.x, v.y, v.zoom}, s);
  }
  c.reply.add("tptz:RelativeMoveResponse");
  return std::nullopt;
}

OpResult absolute_move(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto r = read_vector(child(c.req, "Position"), {space::pt_position}, space::zoom_position, -1, 1, 0, 1,
                       "ter:InvalidPosition");
  if (auto* f = std::get_if<Fault>(&r)) return *f;
  auto speed = read_speed(c);
  if (auto* f = std::get_if<Fault>(&speed)) return *f;
  const auto& v = std::get<Vec>(r);
  std::get<media::PtzDriver*>(d)->move_to({v.x, v.y, v.zoom}, std::get<media::PtzSpeed>(speed));
  c.reply.add("tptz:AbsoluteMoveResponse");
  return std::nullopt;
}

OpResult stop(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  const auto flag = [&](std::string_view element) {
    const auto n = child(c.req, element);
    if (!n) return true;  // absent: stop that axis too
    const std::string t = text_of(n);
    return t == "true" || t == "1";
  };
  std::get<media::PtzDriver*>(d)->stop(flag("PanTilt"), flag("Zoom"));
  c.reply.add("tptz:StopResponse");
  return std::nullopt;
}

OpResult get_status(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  const auto s = std::get<media::PtzDriver*>(d)->status();
  auto st = add(c.reply.add("tptz:GetStatusResponse"), "tptz:PTZStatus");
  write_position(add(st, "tt:Position"), s.position);
  auto ms = add(st, "tt:MoveStatus");
  const auto text = [](media::MoveStatus m) { return m == media::MoveStatus::moving ? "MOVING" : "IDLE"; };
  add(ms, "tt:PanTilt", text(s.pan_tilt));
  add(ms, "tt:Zoom", text(s.zoom));
  add(st, "tt:UtcTime", xs_datetime(std::chrono::system_clock::now()));
  return std::nullopt;
}

std::vector<PtzPreset> presets_of(const Call& c) {
  std::string error;
  auto list = parse_presets(c.deps.model.config().get_string("ptz.presets"), &error);
  return list ? std::move(*list) : std::vector<PtzPreset>{};  // the schema check keeps a bad list out
}

OpResult save_presets(Call& c, const std::vector<PtzPreset>& presets) {
  return apply_settings(c, {{"ptz.presets", format_presets(presets)}});
}

OpResult get_presets(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto r = c.reply.add("tptz:GetPresetsResponse");
  for (const auto& p : presets_of(c)) {
    auto n = add(r, "tptz:Preset");
    attr(n, "token", p.token);
    add(n, "tt:Name", p.name);
    write_position(add(n, "tt:PTZPosition"), p.position);
  }
  return std::nullopt;
}

OpResult set_preset(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto presets = presets_of(c);
  const std::string token = text_of(child(c.req, "PresetToken"));
  std::string name = text_of(child(c.req, "PresetName"));
  if (auto why = check_preset_name(name)) return invalid_arg(*why, "ter:InvalidPresetName");
  auto it = presets.end();
  if (!token.empty()) {
    it = std::find_if(presets.begin(), presets.end(), [&](const PtzPreset& p) { return p.token == token; });
    if (it == presets.end()) return invalid_arg("no preset with token '" + token.substr(0, 64) + "'", "ter:NoToken");
  }
  for (auto p = presets.begin(); p != presets.end(); ++p) {
    if (p != it && !name.empty() && p->name == name) {
      return invalid_arg("a preset named '" + name + "' exists already (" + p->token + ")", "ter:PresetExist");
    }
  }
  const PtzPosition here = std::get<media::PtzDriver*>(d)->status().position;
  std::string result;
  if (it != presets.end()) {
    it->position = here;
    if (!name.empty()) it->name = name;
    result = it->token;
  } else {
    if (presets.size() >= kMaxPresets) {
      return receiver_fault("ter:Action", "at most " + std::to_string(kMaxPresets) + " presets; remove one first",
                            "ter:TooManyPresets");
    }
    PtzPreset p{new_preset_token(presets), name, here};
    if (p.name.empty()) p.name = p.token;
    result = p.token;
    presets.push_back(std::move(p));
  }
  if (auto f = save_presets(c, presets)) return f;
  add(c.reply.add("tptz:SetPresetResponse"), "tptz:PresetToken", result);
  return std::nullopt;
}

OpResult remove_preset(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto presets = presets_of(c);
  const std::string token = text_of(child(c.req, "PresetToken"));
  if (!std::erase_if(presets, [&](const PtzPreset& p) { return p.token == token; })) {
    return invalid_arg("no preset with token '" + token.substr(0, 64) + "'", "ter:NoToken");
  }
  if (auto f = save_presets(c, presets)) return f;
  c.reply.add("tptz:RemovePresetResponse");
  return std::nullopt;
}

OpResult goto_preset(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto speed = read_speed(c);
  if (auto* f = std::get_if<Fault>(&speed)) return *f;
  const std::string token = text_of(child(c.req, "PresetToken"));
  for (const auto& p : presets_of(c)) {
    if (p.token != token) continue;
    std::get<media::PtzDriver*>(d)->move_to({p.position.pan, p.position.tilt, p.position.zoom},
                                            std::get<media::PtzSpeed>(speed));
    c.reply.add("tptz:GotoPresetResponse");
    return std::nullopt;
  }
  return invalid_arg("no preset with token '" + token.substr(0, 64) + "'", "ter:NoToken");
}

OpResult goto_home(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  auto speed = read_speed(c);
  if (auto* f = std::get_if<Fault>(&speed)) return *f;
  std::get<media::PtzDriver*>(d)->move_to({0.0, 0.0, 0.0}, std::get<media::PtzSpeed>(speed));
  c.reply.add("tptz:GotoHomePositionResponse");
  return std::nullopt;
}

OpResult set_home(Call& c) {
  auto d = driver_for_profile(c);
  if (auto* f = std::get_if<Fault>(&d)) return *f;
  return receiver_fault("ter:Action", "the home position is fixed (the whole picture); use a preset instead",
                        "ter:CannotOverwriteHome");
}

}  // namespace

void write_ptz_config(const Call& c, pugi::xml_node n) {
  (void)c;
  attr(n, "token", kConfigToken);
  add(n, "tt:Name", "DigitalPTZ");
  add(n, "tt:UseCount", 2);
  add(n, "tt:NodeToken", kNodeToken);
  add(n, "tt:DefaultAbsolutePantTiltPositionSpace", space::pt_position);
  add(n, "tt:DefaultAbsoluteZoomPositionSpace", space::zoom_position);
  add(n, "tt:DefaultRelativePanTiltTranslationSpace", space::pt_translation);
  add(n, "tt:DefaultRelativeZoomTranslationSpace", space::zoom_translation);
  add(n, "tt:DefaultContinuousPanTiltVelocitySpace", space::pt_velocity);
  add(n, "tt:DefaultContinuousZoomVelocitySpace", space::zoom_velocity);
  auto speed = add(n, "tt:DefaultPTZSpeed");
  vector2d(add(speed, "tt:PanTilt"), 1, 1, space::pt_speed);
  vector1d(add(speed, "tt:Zoom"), 1, space::zoom_speed);
  add(n, "tt:DefaultPTZTimeout", xs_duration_seconds(kDefaultTimeoutS));
  space2d(add(n, "tt:PanTiltLimits"), "tt:Range", space::pt_position, -1, 1);
  space1d(add(n, "tt:ZoomLimits"), "tt:Range", space::zoom_position, 0, 1);
}

bool has_ptz(const Call& c) {
  return driver_of(c) != nullptr;
}

const std::vector<Op>& ptz_ops() {
  const auto v = Role::viewer, o = Role::operator_;
  static const std::vector<Op> ops = {
      {ns::tptz, "GetServiceCapabilities", std::nullopt, &capabilities},
      {ns::tptz, "GetNodes", v, &get_nodes},
      {ns::tptz, "GetNode", v, &get_node},
      {ns::tptz, "GetConfigurations", v, &get_configurations},
      {ns::tptz, "GetConfiguration", v, &get_configuration},
      {ns::tptz, "GetCompatibleConfigurations", v, &get_compatible_configurations},
      {ns::tptz, "GetConfigurationOptions", v, &get_configuration_options},
      {ns::tptz, "SetConfiguration", o, &set_configuration},
      {ns::tptz, "ContinuousMove", o, &continuous_move},
      {ns::tptz, "RelativeMove", o, &relative_move},
      {ns::tptz, "AbsoluteMove", o, &absolute_move},
      {ns::tptz, "Stop", o, &stop},
      {ns::tptz, "GetStatus", v, &get_status},
      {ns::tptz, "GetPresets", v, &get_presets},
      {ns::tptz, "SetPreset", o, &set_preset},
      {ns::tptz, "RemovePreset", o, &remove_preset},
      {ns::tptz, "GotoPreset", o, &goto_preset},
      {ns::tptz, "GotoHomePosition", o, &goto_home},
      {ns::tptz, "SetHomePosition", o, &set_home},
  };
  return ops;
}

}  // namespace freehold::onvif
