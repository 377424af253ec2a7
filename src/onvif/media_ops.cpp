// SPDX-License-Identifier: GPL-3.0-or-later
// Media (ver10), Media2 (ver20) and DeviceIO: the device's stream profiles (stream.main, stream.sub) as ONVIF
// profiles with one video source and one encoder configuration each. Encoder changes go through the device
// model, which reconfigures the running stream; the profiles themselves are fixed.
#include <array>
#include <cmath>
#include <cstdlib>
#include <cstdio>

#include "onvif/ops.hpp"
#include "onvif/service.hpp"

namespace freehold::onvif {

namespace {

constexpr std::array<std::string_view, 2> kStreams = {"main", "sub"};
constexpr std::string_view kSourceToken = "VideoSource_1";
constexpr std::string_view kSourceConfigToken = "VideoSourceConfig_1";
constexpr std::pair<int, int> kResolutions[] = {{3840, 2160}, {2560, 1440}, {1920, 1080}, {1280, 720}, {1024, 576},
                                                 {960, 540},   {800, 450},   {640, 480},   {640, 360},  {480, 270},
                                                 {320, 240},   {320, 180}};

struct Stream {
  std::string name;
  long long width = 0, height = 0, fps = 0, kbps = 0, gop = 0;
  bool h264 = true;
  bool cbr = false;
};

Stream stream_of(const Call& c, std::string_view name) {
  const auto& cfg = c.deps.model.config();
  const std::string p = "stream." + std::string(name) + ".";
  return Stream{std::string(name),          cfg.get_int(p + "width"), cfg.get_int(p + "height"),
                cfg.get_int(p + "fps"),     cfg.get_int(p + "bitrate_kbps"), cfg.get_int(p + "gop"),
                cfg.get_string(p + "codec") == "h264", cfg.get_string(p + "rate_control") == "cbr"};
}

std::pair<long long, long long> source_size(const Call& c) {
  const auto& cfg = c.deps.model.config();
  const auto w = cfg.get_int("source.width"), h = cfg.get_int("source.height");
  if (w > 0 && h > 0) return {w, h};
  return {cfg.get_int("stream.main.width"), cfg.get_int("stream.main.height")};
}

long long source_fps(const Call& c) {
  const auto& cfg = c.deps.model.config();
  if (auto f = cfg.get_int("source.fps"); f > 0) return f;
  return std::max(cfg.get_int("stream.main.fps"), cfg.get_int("stream.sub.fps"));
}

std::string profile_token(std::string_view s) { return "Profile_" + std::string(s); }
std::string encoder_token(std::string_view s) { return "VideoEncoder_" + std::string(s); }

// The stream a token names ("Profile_main", "VideoEncoder_main"), or nullopt.
std::optional<std::string> stream_of_token(std::string_view token, std::string_view prefix) {
  for (auto s : kStreams) {
    if (token.size() == prefix.size() + s.size() && token.starts_with(prefix) && token.ends_with(s)) {
      return std::string(s);
    }
  }
  return std::nullopt;
}

Fault no_profile(std::string_view token) {
  return invalid_arg("no profile with token '" + std::string(token.substr(0, 64)) + "'", "ter:NoProfile");
}
Fault no_config(std::string_view token) {
  return invalid_arg("no configuration with token '" + std::string(token.substr(0, 64)) + "'", "ter:NoConfig");
}

void write_source_config(const Call& c, pugi::xml_node n) {
  attr(n, "token", kSourceConfigToken);
  add(n, "tt:Name", "VideoSource");
  add(n, "tt:UseCount", static_cast<long long>(kStreams.size()));
  add(n, "tt:SourceToken", kSourceToken);
  auto b = add(n, "tt:Bounds");
  const auto [w, h] = source_size(c);
  attr(b, "x", "0");
  attr(b, "y", "0");
  attr(b, "width", std::to_string(w));
  attr(b, "height", std::to_string(h));
}

void write_multicast(pugi::xml_node n) {
  auto a = add(n, "tt:Address");
  add(a, "tt:Type", "IPv4");
  add(a, "tt:IPv4Address", "0.0.0.0");
  add(n, "tt:Port", 0);
  add(n, "tt:TTL", 1);
  add(n, "tt:AutoStart", "false");
}

void write_encoder_config(const Stream& s, pugi::xml_node n) {
  attr(n, "token", encoder_token(s.name));
  add(n, "tt:Name", s.name);
  add(n, "tt:UseCount", 1);
  add(n, "tt:Encoding", s.h264 ? "H264" : "JPEG");
  auto res = add(n, "tt:Resolution");
  add(res, "tt:Width", s.width);
  add(res, "tt:Height", s.height);
  add(n, "tt:Quality", 5);
  auto rc = add(n, "tt:RateControl");
  add(rc, "tt:FrameRateLimit", s.fps);
  add(rc, "tt:EncodingInterval", 1);
  add(rc, "tt:BitrateLimit", s.kbps);
  if (s.h264) {
    auto h = add(n, "tt:H264");
    add(h, "tt:GovLength", s.gop);
    add(h, "tt:H264Profile", "Main");
  }
  write_multicast(add(n, "tt:Multicast"));
  add(n, "tt:SessionTimeout", "PT60S");
}

void write_profile(const Call& c, pugi::xml_node n, std::string_view name) {
  attr(n, "token", profile_token(name));
  attr(n, "fixed", "true");
  add(n, "tt:Name", name);
  write_source_config(c, add(n, "tt:VideoSourceConfiguration"));
  write_encoder_config(stream_of(c, name), add(n, "tt:VideoEncoderConfiguration"));
  if (has_ptz(c)) write_ptz_config(c, add(n, "tt:PTZConfiguration"));
}

std::variant<std::string, Fault> profile_param(const Call& c) {
  const std::string token = text_of(child(c.req, "ProfileToken"));
  if (auto s = stream_of_token(token, "Profile_")) return *s;
  return no_profile(token);
}

// ---- Media (ver10) ----------------------------------------------------------------------------------------

OpResult media_capabilities(Call& c) {
  auto caps = add(c.reply.add("trt:GetServiceCapabilitiesResponse"), "trt:Capabilities");
  attr(caps, "SnapshotUri", "true");
  attr(caps, "Rotation", "false");
  attr(caps, "VideoSourceMode", "false");
  attr(caps, "OSD", "false");
  auto pc = add(caps, "trt:ProfileCapabilities");
  attr(pc, "MaximumNumberOfProfiles", std::to_string(kStreams.size()));
  auto sc = add(caps, "trt:StreamingCapabilities");
  attr(sc, "RTPMulticast", "false");
  attr(sc, "RTP_TCP", "false");
  attr(sc, "RTP_RTSP_TCP", "true");
  attr(sc, "NonAggregateControl", "false");
  attr(sc, "NoRTSPStreaming", "false");
  return std::nullopt;
}

OpResult get_profiles(Call& c) {
  auto r = c.reply.add("trt:GetProfilesResponse");
  for (auto s : kStreams) write_profile(c, add(r, "trt:Profiles"), s);
  return std::nullopt;
}

OpResult get_profile(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  write_profile(c, add(c.reply.add("trt:GetProfileResponse"), "trt:Profile"), std::get<std::string>(p));
  return std::nullopt;
}

OpResult get_video_sources(Call& c) {
  auto v = add(c.reply.add("trt:GetVideoSourcesResponse"), "trt:VideoSources");
  attr(v, "token", kSourceToken);
  add(v, "tt:Framerate", source_fps(c));
  auto res = add(v, "tt:Resolution");
  const auto [w, h] = source_size(c);
  add(res, "tt:Width", w);
  add(res, "tt:Height", h);
  return std::nullopt;
}

OpResult get_source_configs(Call& c) {
  write_source_config(c, add(c.reply.add("trt:GetVideoSourceConfigurationsResponse"), "trt:Configurations"));
  return std::nullopt;
}

OpResult get_source_config(Call& c) {
  const std::string token = text_of(child(c.req, "ConfigurationToken"));
  if (token != kSourceConfigToken) return no_config(token);
  write_source_config(c, add(c.reply.add("trt:GetVideoSourceConfigurationResponse"), "trt:Configuration"));
  return std::nullopt;
}

OpResult get_compatible_source_configs(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  write_source_config(c, add(c.reply.add("trt:GetCompatibleVideoSourceConfigurationsResponse"),
                             "trt:Configurations"));
  return std::nullopt;
}

void range(pugi::xml_node parent, std::string_view name, long long min, long long max) {
  auto r = add(parent, name);
  add(r, "tt:Min", min);
  add(r, "tt:Max", max);
}

OpResult get_source_config_options(Call& c) {
  auto o = add(c.reply.add("trt:GetVideoSourceConfigurationOptionsResponse"), "trt:Options");
  const auto [w, h] = source_size(c);
  auto b = add(o, "tt:BoundsRange");
  range(b, "tt:XRange", 0, 0);
  range(b, "tt:YRange", 0, 0);
  range(b, "tt:WidthRange", w, w);
  range(b, "tt:HeightRange", h, h);
  add(o, "tt:VideoSourceTokensAvailable", kSourceToken);
  return std::nullopt;
}

OpResult set_source_config(Call& c) {
  const auto conf = child(c.req, "Configuration");
  const std::string token = conf.attribute("token").value();
  if (token != kSourceConfigToken) return no_config(token);
  const auto b = child(conf, "Bounds");
  const auto [w, h] = source_size(c);
  if (b && (b.attribute("x").as_llong() != 0 || b.attribute("y").as_llong() != 0 ||
            b.attribute("width").as_llong() != w || b.attribute("height").as_llong() != h)) {
    return invalid_arg("the video source is always used whole: Bounds must be 0,0," + std::to_string(w) + "x" +
                           std::to_string(h) + " (use PTZ to crop)",
                       "ter:ConfigModify");
  }
  c.reply.add("trt:SetVideoSourceConfigurationResponse");
  return std::nullopt;
}

std::vector<std::pair<int, int>> resolutions_for(const Call& c) {
  const auto [w, h] = source_size(c);
  std::vector<std::pair<int, int>> out;
  for (auto r : kResolutions) {
    if (r.first <= std::max<long long>(w, 1920) && r.second <= std::max<long long>(h, 1080)) out.push_back(r);
  }
  return out;
}

OpResult get_encoder_configs(Call& c) {
  auto r = c.reply.add("trt:GetVideoEncoderConfigurationsResponse");
  for (auto s : kStreams) write_encoder_config(stream_of(c, s), add(r, "trt:Configurations"));
  return std::nullopt;
}

std::variant<std::string, Fault> encoder_param(const Call& c, std::string_view element = "ConfigurationToken") {
  const std::string token = text_of(child(c.req, element));
  if (auto s = stream_of_token(token, "VideoEncoder_")) return *s;
  return no_config(token);
}

OpResult get_encoder_config(Call& c) {
  auto s = encoder_param(c);
  if (auto* f = std::get_if<Fault>(&s)) return *f;
  write_encoder_config(stream_of(c, std::get<std::string>(s)),
                       add(c.reply.add("trt:GetVideoEncoderConfigurationResponse"), "trt:Configuration"));
  return std::nullopt;
}

OpResult get_compatible_encoder_configs(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  write_encoder_config(stream_of(c, std::get<std::string>(p)),
                       add(c.reply.add("trt:GetCompatibleVideoEncoderConfigurationsResponse"), "trt:Configurations"));
  return std::nullopt;
}

void resolutions(const Call& c, pugi::xml_node parent, bool h264) {
  for (auto [w, h] : resolutions_for(c)) {
    if (!h264 && (w > 2040 || h > 2040)) continue;  // RFC 2435's limit for RTP/JPEG
    auto r = add(parent, "tt:ResolutionsAvailable");
    add(r, "tt:Width", w);
    add(r, "tt:Height", h);
  }
}

// tt:H264Options / tt:JpegOptions, and their *Options2 forms (with the bitrate range) in the Extension.
void codec_options(const Call& c, pugi::xml_node codec, bool h264, bool with_bitrate) {
  resolutions(c, codec, h264);
  if (h264) range(codec, "tt:GovLengthRange", 1, 600);
  range(codec, "tt:FrameRateRange", 1, 60);
  range(codec, "tt:EncodingIntervalRange", 1, 1);
  if (h264) add(codec, "tt:H264ProfilesSupported", "Main");
  if (with_bitrate) range(codec, "tt:BitrateRange", 64, 20000);
}

OpResult get_encoder_config_options(Call& c) {
  std::optional<std::string> stream;
  if (child(c.req, "ConfigurationToken")) {
    auto s = encoder_param(c);
    if (auto* f = std::get_if<Fault>(&s)) return *f;
    stream = std::get<std::string>(s);
  } else if (child(c.req, "ProfileToken")) {
    auto p = profile_param(c);
    if (auto* f = std::get_if<Fault>(&p)) return *f;
    stream = std::get<std::string>(p);
  }
  const bool h264 = !stream || stream_of(c, *stream).h264;
  auto o = add(c.reply.add("trt:GetVideoEncoderConfigurationOptionsResponse"), "trt:Options");
  range(o, "tt:QualityRange", 0, 10);
  codec_options(c, add(o, h264 ? "tt:H264" : "tt:JPEG"), h264, false);
  codec_options(c, add(add(o, "tt:Extension"), h264 ? "tt:H264" : "tt:JPEG"), h264, true);
  return std::nullopt;
}

// Encoder settings as the device model spells them, from either media version's configuration element.
struct EncoderChange {
  std::vector<std::pair<std::string, Value>> values;
  std::optional<Fault> fault;
};

// The element's integer value (xs:int, or a float such as "25.0"), `fallback` when absent; `bad` is set when the
// text is not a number in ±1e9.
long long number_of(pugi::xml_node n, long long fallback, bool& bad) {
  const std::string t = text_of(n);
  if (t.empty()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (*end != '\0' || !std::isfinite(v) || v < -1e9 || v > 1e9) {
    bad = true;
    return fallback;
  }
  return std::llround(v);
}

EncoderChange encoder_change(const Call& c, pugi::xml_node conf, const std::string& stream) {
  EncoderChange out;
  const Stream now = stream_of(c, stream);
  const std::string p = "stream." + stream + ".";
  const std::string encoding = text_of(child(conf, "Encoding"));
  if (!encoding.empty() && encoding != (now.h264 ? "H264" : "JPEG")) {
    out.fault = invalid_arg("changing the encoding of a stream needs a restart: set " + p +
                                "codec in the web UI or the configuration file",
                            "ter:ConfigModify");
    return out;
  }
  const auto res = child(conf, "Resolution");
  bool bad = false;
  const long long w = number_of(child(res, "Width"), now.width, bad);
  const long long h = number_of(child(res, "Height"), now.height, bad);
  const auto rc = child(conf, "RateControl");
  long long fps = number_of(child(rc, "FrameRateLimit"), now.fps, bad);
  long long kbps = number_of(child(rc, "BitrateLimit"), now.kbps, bad);
  long long gop = number_of(child(child(conf, "H264"), "GovLength"), now.gop, bad);
  if (auto a = conf.attribute("GovLength")) {  // Media2
    char* end = nullptr;
    const long long g = std::strtoll(a.value(), &end, 10);
    if (*end != '\0' || g < 0 || g > 1000000000) bad = true;
    gop = g;
  }
  if (bad) {
    out.fault = invalid_arg("Width, Height, FrameRateLimit, BitrateLimit and GovLength must be integers",
                            "ter:ConfigModify");
    return out;
  }
  if (auto cbr = rc.attribute("ConstantBitRate")) {
    out.values.emplace_back(p + "rate_control", Value{std::string(cbr.as_bool() ? "cbr" : "vbr")});
  }
  if (w != now.width) out.values.emplace_back(p + "width", Value{static_cast<std::int64_t>(w)});
  if (h != now.height) out.values.emplace_back(p + "height", Value{static_cast<std::int64_t>(h)});
  if (fps != now.fps) out.values.emplace_back(p + "fps", Value{static_cast<std::int64_t>(fps)});
  if (kbps != now.kbps && now.h264) out.values.emplace_back(p + "bitrate_kbps", Value{static_cast<std::int64_t>(kbps)});
  if (gop != now.gop && now.h264) out.values.emplace_back(p + "gop", Value{static_cast<std::int64_t>(gop)});
  return out;
}

OpResult set_encoder_config_into(Call& c, std::string_view response) {
  const auto conf = child(c.req, "Configuration");
  const std::string token = conf.attribute("token").value();
  const auto stream = stream_of_token(token, "VideoEncoder_");
  if (!stream) return no_config(token);
  auto change = encoder_change(c, conf, *stream);
  if (change.fault) return change.fault;
  if (!change.values.empty()) {
    if (auto f = apply_settings(c, change.values)) return f;
  }
  c.reply.add(response);
  return std::nullopt;
}

OpResult set_encoder_config(Call& c) { return set_encoder_config_into(c, "trt:SetVideoEncoderConfigurationResponse"); }

OpResult guaranteed_instances(Call& c) {
  const std::string token = text_of(child(c.req, "ConfigurationToken"));
  if (token != kSourceConfigToken && !stream_of_token(token, "VideoEncoder_")) return no_config(token);
  auto r = c.reply.add("trt:GetGuaranteedNumberOfVideoEncoderInstancesResponse");
  add(r, "trt:TotalNumber", static_cast<long long>(kStreams.size()));
  add(r, "trt:H264", static_cast<long long>(kStreams.size()));
  return std::nullopt;
}

// The RTSP URL of a stream as this client reached us.
std::variant<std::string, Fault> rtsp_uri(const Call& c, const std::string& stream) {
  if (c.deps.rtsp_port == 0) return receiver_fault("ter:Action", "RTSP is switched off (rtsp.enabled)");
  if (!c.deps.model.config().get_bool("stream." + stream + ".enabled")) {
    return invalid_arg("the " + stream + " stream is switched off (stream." + stream + ".enabled)",
                       "ter:StreamConflict");
  }
  const bool default_port = c.deps.rtsp_port == 554;
  return "rtsp://" + c.host + (default_port ? "" : ":" + std::to_string(c.deps.rtsp_port)) + "/" + stream;
}

std::string snapshot_uri(const Call& c, const std::string& stream) {
  std::string base = service_url(c, "snapshot");
  return base + "?profile=" + stream;
}

void write_media_uri(pugi::xml_node n, const std::string& uri) {
  add(n, "tt:Uri", uri);
  add(n, "tt:InvalidAfterConnect", "false");
  add(n, "tt:InvalidAfterReboot", "false");
  add(n, "tt:Timeout", "PT0S");
}

OpResult get_stream_uri(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  const auto setup = child(c.req, "StreamSetup");
  const std::string stream_type = text_of(child(setup, "Stream"));
  const std::string protocol = text_of(child(child(setup, "Transport"), "Protocol"));
  if (!stream_type.empty() && stream_type != "RTP-Unicast") {
    return invalid_arg("only RTP-Unicast is served (no multicast)", "ter:InvalidStreamSetup");
  }
  if (!protocol.empty() && protocol != "UDP" && protocol != "TCP" && protocol != "RTSP") {
    return invalid_arg("transport " + protocol.substr(0, 16) + " is not served; use RTSP (UDP or TCP interleaved)",
                       "ter:InvalidStreamSetup");
  }
  auto uri = rtsp_uri(c, std::get<std::string>(p));
  if (auto* f = std::get_if<Fault>(&uri)) return *f;
  write_media_uri(add(c.reply.add("trt:GetStreamUriResponse"), "trt:MediaUri"), std::get<std::string>(uri));
  return std::nullopt;
}

OpResult get_snapshot_uri(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  write_media_uri(add(c.reply.add("trt:GetSnapshotUriResponse"), "trt:MediaUri"),
                  snapshot_uri(c, std::get<std::string>(p)));
  return std::nullopt;
}

OpResult sync_point_into(Call& c, std::string_view response) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  if (c.deps.request_keyframe) c.deps.request_keyframe(std::get<std::string>(p));
  c.reply.add(response);
  return std::nullopt;
}

OpResult set_sync_point(Call& c) { return sync_point_into(c, "trt:SetSynchronizationPointResponse"); }

OpResult create_profile(Call&) {
  return receiver_fault("ter:Action", "the device has its two fixed profiles, Profile_main and Profile_sub",
                        "ter:MaxNVTProfiles");
}

OpResult delete_profile(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  return sender_fault("ter:Action", "fixed profiles cannot be deleted", "ter:DeletionOfFixedProfile");
}

// Adding the configuration a fixed profile already has succeeds; anything else would change a fixed profile.
OpResult add_config_into(Call& c, std::string_view prefix_or_token, std::string_view response) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  const std::string token = text_of(child(c.req, "ConfigurationToken"));
  const bool same = prefix_or_token == kSourceConfigToken
                        ? token == kSourceConfigToken
                        : token == std::string(prefix_or_token) + std::get<std::string>(p);
  if (!same) {
    return sender_fault("ter:Action", "profiles are fixed: " + profile_token(std::get<std::string>(p)) +
                                          " keeps its own configuration", "ter:ConfigurationConflict");
  }
  c.reply.add(response);
  return std::nullopt;
}

OpResult add_encoder(Call& c) {
  return add_config_into(c, "VideoEncoder_", "trt:AddVideoEncoderConfigurationResponse");
}
OpResult add_source(Call& c) {
  return add_config_into(c, kSourceConfigToken, "trt:AddVideoSourceConfigurationResponse");
}
OpResult remove_config(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  return sender_fault("ter:Action", "profiles are fixed; their configurations cannot be removed",
                      "ter:ConfigurationConflict");
}

OpResult empty_list(Call& c) {
  c.reply.add(std::string("trt:") + std::string(local_name(c.req)) + "Response");
  return std::nullopt;
}

OpResult get_metadata_config_options(Call& c) {
  auto o = add(c.reply.add("trt:GetMetadataConfigurationOptionsResponse"), "trt:Options");
  add(o, "tt:PTZStatusFilterOptions");
  auto f = o.first_child();
  add(f, "tt:PanTiltStatusSupported", "false");
  add(f, "tt:ZoomStatusSupported", "false");
  return std::nullopt;
}

// ---- Media2 (ver20) ---------------------------------------------------------------------------------------

OpResult media2_capabilities(Call& c) {
  auto caps = add(c.reply.add("tr2:GetServiceCapabilitiesResponse"), "tr2:Capabilities");
  attr(caps, "SnapshotUri", "true");
  attr(caps, "Rotation", "false");
  attr(caps, "VideoSourceMode", "false");
  attr(caps, "OSD", "false");
  auto pc = add(caps, "tr2:ProfileCapabilities");
  attr(pc, "MaximumNumberOfProfiles", std::to_string(kStreams.size()));
  attr(pc, "ConfigurationsSupported", has_ptz(c) ? "VideoSource VideoEncoder PTZ" : "VideoSource VideoEncoder");
  auto sc = add(caps, "tr2:StreamingCapabilities");
  attr(sc, "RTSPStreaming", "true");
  attr(sc, "RTPMulticast", "false");
  attr(sc, "RTP_RTSP_TCP", "true");
  attr(sc, "NonAggregateControl", "false");
  attr(sc, "AutoStartMulticast", "false");
  return std::nullopt;
}

void write_encoder2_config(const Stream& s, pugi::xml_node n) {
  attr(n, "token", encoder_token(s.name));
  if (s.h264) {
    attr(n, "GovLength", std::to_string(s.gop));
    attr(n, "Profile", "Main");
  }
  add(n, "tt:Name", s.name);
  add(n, "tt:UseCount", 1);
  add(n, "tt:Encoding", s.h264 ? "H264" : "JPEG");
  auto res = add(n, "tt:Resolution");
  add(res, "tt:Width", s.width);
  add(res, "tt:Height", s.height);
  auto rc = add(n, "tt:RateControl");
  attr(rc, "ConstantBitRate", xs_bool(s.cbr));
  add(rc, "tt:FrameRateLimit", s.fps);
  add(rc, "tt:BitrateLimit", s.kbps);
  add(n, "tt:Quality", 5);
}

OpResult media2_get_profiles(Call& c) {
  const std::string token = text_of(child(c.req, "Token"));
  std::vector<std::string_view> types;
  bool all = false;
  for (auto n = c.req.first_child(); n; n = n.next_sibling()) {
    if (local_name(n) == "Type") {
      const std::string t = text_of(n);
      all = all || t == "All";
      if (t == "VideoSource" || t == "VideoEncoder") types.push_back(t == "VideoSource" ? "VideoSource" : "VideoEncoder");
      if (t == "PTZ") types.push_back("PTZ");
    }
  }
  const auto want = [&](std::string_view t) { return all || std::find(types.begin(), types.end(), t) != types.end(); };
  auto r = c.reply.add("tr2:GetProfilesResponse");
  bool found = token.empty();
  for (auto s : kStreams) {
    if (!token.empty() && token != profile_token(s)) continue;
    found = true;
    auto p = add(r, "tr2:Profiles");
    attr(p, "token", profile_token(s));
    attr(p, "fixed", "true");
    add(p, "tr2:Name", s);
    if (want("VideoSource") || want("VideoEncoder") || (want("PTZ") && has_ptz(c))) {
      auto confs = add(p, "tr2:Configurations");
      if (want("VideoSource")) write_source_config(c, add(confs, "tr2:VideoSource"));
      if (want("VideoEncoder")) write_encoder2_config(stream_of(c, s), add(confs, "tr2:VideoEncoder"));
      if (want("PTZ") && has_ptz(c)) write_ptz_config(c, add(confs, "tr2:PTZ"));
    }
  }
  if (!found) return no_profile(token);
  return std::nullopt;
}

OpResult media2_source_configs(Call& c) {
  write_source_config(c, add(c.reply.add("tr2:GetVideoSourceConfigurationsResponse"), "tr2:Configurations"));
  return std::nullopt;
}

OpResult media2_encoder_configs(Call& c) {
  auto r = c.reply.add("tr2:GetVideoEncoderConfigurationsResponse");
  std::optional<std::string> only;
  if (child(c.req, "ConfigurationToken")) {
    auto s = encoder_param(c);
    if (auto* f = std::get_if<Fault>(&s)) return *f;
    only = std::get<std::string>(s);
  } else if (child(c.req, "ProfileToken")) {
    auto p = profile_param(c);
    if (auto* f = std::get_if<Fault>(&p)) return *f;
    only = std::get<std::string>(p);
  }
  for (auto s : kStreams) {
    if (!only || *only == s) write_encoder2_config(stream_of(c, s), add(r, "tr2:Configurations"));
  }
  return std::nullopt;
}

OpResult media2_encoder_options(Call& c) {
  auto r = c.reply.add("tr2:GetVideoEncoderConfigurationOptionsResponse");
  std::optional<std::string> only;
  if (child(c.req, "ConfigurationToken")) {
    auto s = encoder_param(c);
    if (auto* f = std::get_if<Fault>(&s)) return *f;
    only = std::get<std::string>(s);
  }
  bool h264 = !only || stream_of(c, *only).h264;
  auto o = add(r, "tr2:Options");
  if (h264) {
    attr(o, "GovLengthRange", "1 600");
    attr(o, "FrameRatesSupported", "60 50 30 25 20 15 12 10 8 5 2 1");
    attr(o, "ProfilesSupported", "Main");
    attr(o, "ConstantBitRateSupported", "true");
  } else {
    attr(o, "FrameRatesSupported", "30 25 20 15 10 5 1");
  }
  add(o, "tt:Encoding", h264 ? "H264" : "JPEG");
  range(o, "tt:QualityRange", 0, 10);
  resolutions(c, o, h264);
  range(o, "tt:BitrateRange", 64, 20000);
  return std::nullopt;
}

OpResult media2_set_encoder(Call& c) {
  return set_encoder_config_into(c, "tr2:SetVideoEncoderConfigurationResponse");
}

OpResult media2_stream_uri(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  const std::string protocol = text_of(child(c.req, "Protocol"));
  if (protocol != "RtspUnicast" && protocol != "RTSP" && protocol != "RtspOverHttp" && !protocol.empty()) {
    return invalid_arg("protocol " + protocol.substr(0, 24) + " is not served; use RtspUnicast",
                       "ter:InvalidStreamSetup");
  }
  if (protocol == "RtspOverHttp") {
    return invalid_arg("RTSP over HTTP tunnelling is not served; use RtspUnicast", "ter:InvalidStreamSetup");
  }
  auto uri = rtsp_uri(c, std::get<std::string>(p));
  if (auto* f = std::get_if<Fault>(&uri)) return *f;
  add(c.reply.add("tr2:GetStreamUriResponse"), "tr2:Uri", std::get<std::string>(uri));
  return std::nullopt;
}

OpResult media2_snapshot_uri(Call& c) {
  auto p = profile_param(c);
  if (auto* f = std::get_if<Fault>(&p)) return *f;
  add(c.reply.add("tr2:GetSnapshotUriResponse"), "tr2:Uri", snapshot_uri(c, std::get<std::string>(p)));
  return std::nullopt;
}

OpResult media2_sync_point(Call& c) { return sync_point_into(c, "tr2:SetSynchronizationPointResponse"); }

// ---- DeviceIO ---------------------------------------------------------------------------------------------

OpResult deviceio_capabilities(Call& c) {
  auto caps = add(c.reply.add("tmd:GetServiceCapabilitiesResponse"), "tmd:Capabilities");
  for (auto [name, value] : {std::pair{"VideoSources", "1"}, std::pair{"VideoOutputs", "0"},
                             std::pair{"AudioSources", "0"}, std::pair{"AudioOutputs", "0"},
                             std::pair{"RelayOutputs", "0"}, std::pair{"SerialPorts", "0"},
                             std::pair{"DigitalInputs", "0"}, std::pair{"DigitalInputOptions", "false"}}) {
    attr(caps, name, value);
  }
  return std::nullopt;
}

OpResult deviceio_video_sources(Call& c) {
  add(c.reply.add("tmd:GetVideoSourcesResponse"), "tmd:Token", kSourceToken);
  return std::nullopt;
}

}  // namespace

const std::vector<Op>& media_ops() {
  const auto v = Role::viewer, o = Role::operator_;
  static const std::vector<Op> ops = {
      {ns::trt, "GetServiceCapabilities", std::nullopt, &media_capabilities},
      {ns::trt, "GetProfiles", v, &get_profiles},
      {ns::trt, "GetProfile", v, &get_profile},
      {ns::trt, "GetVideoSources", v, &get_video_sources},
      {ns::trt, "GetVideoSourceConfigurations", v, &get_source_configs},
      {ns::trt, "GetVideoSourceConfiguration", v, &get_source_config},
      {ns::trt, "GetCompatibleVideoSourceConfigurations", v, &get_compatible_source_configs},
      {ns::trt, "GetVideoSourceConfigurationOptions", v, &get_source_config_options},
      {ns::trt, "SetVideoSourceConfiguration", o, &set_source_config},
      {ns::trt, "GetVideoEncoderConfigurations", v, &get_encoder_configs},
      {ns::trt, "GetVideoEncoderConfiguration", v, &get_encoder_config},
      {ns::trt, "GetCompatibleVideoEncoderConfigurations", v, &get_compatible_encoder_configs},
      {ns::trt, "GetVideoEncoderConfigurationOptions", v, &get_encoder_config_options},
      {ns::trt, "SetVideoEncoderConfiguration", o, &set_encoder_config},
      {ns::trt, "GetGuaranteedNumberOfVideoEncoderInstances", v, &guaranteed_instances},
      {ns::trt, "GetStreamUri", v, &get_stream_uri},
      {ns::trt, "GetSnapshotUri", v, &get_snapshot_uri},
      {ns::trt, "SetSynchronizationPoint", v, &set_sync_point},
      {ns::trt, "CreateProfile", o, &create_profile},
      {ns::trt, "DeleteProfile", o, &delete_profile},
      {ns::trt, "AddVideoEncoderConfiguration", o, &add_encoder},
      {ns::trt, "AddVideoSourceConfiguration", o, &add_source},
      {ns::trt, "RemoveVideoEncoderConfiguration", o, &remove_config},
      {ns::trt, "RemoveVideoSourceConfiguration", o, &remove_config},
      {ns::trt, "GetMetadataConfigurations", v, &empty_list},
      {ns::trt, "GetCompatibleMetadataConfigurations", v, &empty_list},
      {ns::trt, "GetMetadataConfigurationOptions", v, &get_metadata_config_options},
      {ns::trt, "GetAudioSources", v, &empty_list},
      {ns::trt, "GetAudioSourceConfigurations", v, &empty_list},
      {ns::trt, "GetAudioEncoderConfigurations", v, &empty_list},
      {ns::trt, "GetAudioOutputs", v, &empty_list},
      {ns::tr2, "GetServiceCapabilities", std::nullopt, &media2_capabilities},
      {ns::tr2, "GetProfiles", v, &media2_get_profiles},
      {ns::tr2, "GetVideoSourceConfigurations", v, &media2_source_configs},
      {ns::tr2, "GetVideoEncoderConfigurations", v, &media2_encoder_configs},
      {ns::tr2, "GetVideoEncoderConfigurationOptions", v, &media2_encoder_options},
      {ns::tr2, "SetVideoEncoderConfiguration", o, &media2_set_encoder},
      {ns::tr2, "GetStreamUri", v, &media2_stream_uri},
      {ns::tr2, "GetSnapshotUri", v, &media2_snapshot_uri},
      {ns::tr2, "SetSynchronizationPoint", v, &media2_sync_point},
      {ns::tmd, "GetServiceCapabilities", std::nullopt, &deviceio_capabilities},
      {ns::tmd, "GetVideoSources", v, &deviceio_video_sources},
  };
  return ops;
}

}  // namespace freehold::onvif
