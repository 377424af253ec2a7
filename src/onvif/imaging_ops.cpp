// SPDX-License-Identifier: GPL-3.0-or-later
// Imaging (ver20): brightness, colour saturation, contrast and sharpness (0..100, the image.* settings) and the IR
// cut filter (image.day_night) of the one video source. No focus, exposure or white balance: their elements are
// absent from the settings and options, and ignored in SetImagingSettings.
#include <cmath>

#include "onvif/ops.hpp"
#include "onvif/service.hpp"

namespace freehold::onvif {

namespace {

constexpr std::string_view kSourceToken = "VideoSource_1";

struct Level {
  std::string_view element;  // in tt:ImagingSettings20 / tt:ImagingOptions20
  std::string_view key;
};
// In the schema's order: Brightness, ColorSaturation, Contrast, (IrCutFilter), Sharpness.
constexpr Level kLevels[] = {{"Brightness", "image.brightness"},
                             {"ColorSaturation", "image.saturation"},
                             {"Contrast", "image.contrast"},
                             {"Sharpness", "image.sharpness"}};

std::optional<Fault> check_source(const Call& c) {
  const std::string token = text_of(child(c.req, "VideoSourceToken"));
  if (token == kSourceToken) return std::nullopt;
  return invalid_arg(
      "no video source with token '" + token.substr(0, 64) + "' (the camera's is " + std::string(kSourceToken) + ")",
      "ter:NoSource");
}

std::string_view ir_cut_of(std::string_view day_night) {
  if (day_night == "day") return "ON";  // the filter in front of the sensor blocks infrared: colour day picture
  if (day_night == "night") return "OFF";
  return "AUTO";
}

OpResult capabilities(Call& c) {
  auto caps = add(c.reply.add("timg:GetServiceCapabilitiesResponse"), "timg:Capabilities");
  attr(caps, "ImageStabilization", "false");
  attr(caps, "Presets", "false");
  attr(caps, "AdaptablePreset", "false");
  return std::nullopt;
}

OpResult get_settings(Call& c) {
  if (auto f = check_source(c)) return f;
  const auto& cfg = c.deps.model.config();
  auto s = add(c.reply.add("timg:GetImagingSettingsResponse"), "timg:ImagingSettings");
  for (const auto& l : kLevels) {
    if (l.element == "Sharpness") add(s, "tt:IrCutFilter", ir_cut_of(cfg.get_string("image.day_night")));
    add(s, "tt:" + std::string(l.element), cfg.get_int(std::string(l.key)));
  }
  return std::nullopt;
}

OpResult set_settings(Call& c) {
  if (auto f = check_source(c)) return f;
  const auto settings = child(c.req, "ImagingSettings");
  if (!settings) return invalid_arg("ImagingSettings is missing", "ter:SettingsInvalid");
  std::vector<std::pair<std::string, Value>> values;
  for (const auto& l : kLevels) {
    const auto n = child(settings, l.element);
    if (!n) continue;
    const std::string text = text_of(n);
    char* end = nullptr;
    const double v = std::strtod(text.c_str(), &end);
    if (text.empty() || *end != '\0' || !std::isfinite(v) || v < 0 || v > 100) {
      return invalid_arg(std::string(l.element) + " must be a number from 0 to 100, not '" + text.substr(0, 32) + "'",
                         "ter:SettingsInvalid");
    }
    values.emplace_back(std::string(l.key), static_cast<std::int64_t>(std::lround(v)));
  }
  if (const auto ir = child(settings, "IrCutFilter")) {
    const std::string mode = text_of(ir);
    if (mode != "ON" && mode != "OFF" && mode != "AUTO") {
      return invalid_arg("IrCutFilter must be ON, OFF or AUTO, not '" + mode.substr(0, 32) + "'",
                         "ter:SettingsInvalid");
    }
    values.emplace_back("image.day_night", std::string(mode == "ON" ? "day" : mode == "OFF" ? "night" : "auto"));
  }
  if (!values.empty()) {
    if (auto f = apply_settings(c, values)) return f;
  }
  c.reply.add("timg:SetImagingSettingsResponse");
  return std::nullopt;
}

OpResult get_options(Call& c) {
  if (auto f = check_source(c)) return f;
  auto o = add(c.reply.add("timg:GetOptionsResponse"), "timg:ImagingOptions");
  for (const auto& l : kLevels) {
    if (l.element == "Sharpness") {
      for (auto mode : {"ON", "OFF", "AUTO"}) add(o, "tt:IrCutFilterModes", mode);
    }
    auto r = add(o, "tt:" + std::string(l.element));
    add(r, "tt:Min", 0);
    add(r, "tt:Max", 100);
  }
  return std::nullopt;
}

OpResult get_move_options(Call& c) {
  if (auto f = check_source(c)) return f;
  add(c.reply.add("timg:GetMoveOptionsResponse"), "timg:MoveOptions");  // no focus to move
  return std::nullopt;
}

OpResult move(Call& c) {
  if (auto f = check_source(c)) return f;
  return sender_fault("ter:ActionNotSupported", "the camera has no focus to move", "ter:NoImagingForSource");
}

OpResult stop(Call& c) {
  if (auto f = check_source(c)) return f;
  c.reply.add("timg:StopResponse");
  return std::nullopt;
}

OpResult get_status(Call& c) {
  if (auto f = check_source(c)) return f;
  add(c.reply.add("timg:GetStatusResponse"), "timg:Status");  // no focus: nothing to report
  return std::nullopt;
}

OpResult get_presets(Call& c) {
  if (auto f = check_source(c)) return f;
  c.reply.add("timg:GetPresetsResponse");
  return std::nullopt;
}

}  // namespace

const std::vector<Op>& imaging_ops() {
  const auto v = Role::viewer, o = Role::operator_;
  static const std::vector<Op> ops = {
      {ns::timg, "GetServiceCapabilities", std::nullopt, &capabilities},
      {ns::timg, "GetImagingSettings", v, &get_settings},
      {ns::timg, "SetImagingSettings", o, &set_settings},
      {ns::timg, "GetOptions", v, &get_options},
      {ns::timg, "GetMoveOptions", v, &get_move_options},
      {ns::timg, "Move", o, &move},
      {ns::timg, "Stop", o, &stop},
      {ns::timg, "GetStatus", v, &get_status},
      {ns::timg, "GetPresets", v, &get_presets},
  };
  return ops;
}

}  // namespace freehold::onvif
