// SPDX-License-Identifier: GPL-3.0-or-later
#include "analytics/engine.hpp"

#include <algorithm>

#include "analytics/tamper.hpp"
#include "core/log.hpp"
#include "core/zones.hpp"
#include "media/jpeg.hpp"

namespace freehold::analytics {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kTamperHold = std::chrono::seconds(5);
constexpr std::int64_t kPersonRepeatUs = 30'000'000;  // the same people are reported again after this long
constexpr int kSnapshotQuality = 80;

std::int64_t elapsed_us(Clock::time_point since) {
  return std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - since).count();
}

std::chrono::system_clock::time_point wallclock(const hal::Picture& p, std::int64_t monotonic_us) {
  return std::chrono::system_clock::time_point(
      std::chrono::microseconds(p.wallclock_us - (p.capture_us - monotonic_us)));
}

// A rectangle outline, 2 pixels wide (on even coordinates, so the chroma lines up), in the colour (y, u, v).
void draw_box(hal::Picture& p, const Box& b, std::uint8_t yc, std::uint8_t uc, std::uint8_t vc) {
  const int w = p.width, h = p.height;
  auto px = [](double f, int size) { return std::clamp(static_cast<int>(f * size) & ~1, 0, size - 2); };
  const int x0 = px(b.x, w), y0 = px(b.y, h), x1 = px(b.x + b.w, w), y1 = px(b.y + b.h, h);
  auto fill = [&](int xa, int ya, int xb, int yb) {  // inclusive, even-aligned 2x2 blocks
    for (int y = ya; y <= yb + 1; ++y) {
      for (int x = xa; x <= xb + 1; ++x) p.y()[static_cast<std::size_t>(y) * w + x] = yc;
    }
    for (int y = ya / 2; y <= yb / 2; ++y) {
      for (int x = xa / 2; x <= xb / 2; ++x) {
        p.u()[static_cast<std::size_t>(y) * (w / 2) + x] = uc;
        p.v()[static_cast<std::size_t>(y) * (w / 2) + x] = vc;
      }
    }
  };
  fill(x0, y0, x1, y0);
  fill(x0, y1, x1, y1);
  fill(x0, y0, x0, y1);
  fill(x1, y0, x1, y1);
}

std::vector<Detection> as_detections(const std::vector<Box>& boxes) {
  std::vector<Detection> out;
  out.reserve(boxes.size());
  for (const Box& b : boxes) out.push_back({"motion", 1.0f, b});
  return out;
}

}  // namespace

AnalyticsSettings analytics_settings(const Config& c) {
  AnalyticsSettings s;
  s.enabled = c.get_bool("motion.enabled") && !c.get_bool("privacy.enabled");
  s.fps = static_cast<int>(c.get_int("motion.fps"));
  s.motion.sensitivity = static_cast<int>(c.get_int("motion.sensitivity"));
  s.motion.min_area = static_cast<double>(c.get_int("motion.min_area")) / 1000.0;
  s.motion.min_duration = std::chrono::milliseconds(c.get_int("motion.min_duration_ms"));
  s.motion.cooldown = std::chrono::milliseconds(c.get_int("motion.cooldown_ms"));
  std::string error;
  if (auto zones = parse_zones(c.get_string("motion.zones"), &error)) s.motion.zones = std::move(*zones);
  s.tamper = c.get_bool("tamper.enabled");
  s.person = c.get_bool("person.enabled");
  s.person_options.detector = c.get_string("person.detector");
  s.person_options.model_path = c.get_string("person.model");
  s.person_options.input_size = static_cast<int>(c.get_int("person.model_input"));
  s.person_options.min_confidence = static_cast<float>(c.get_int("person.min_confidence")) / 100.0f;
  s.person_interval = std::chrono::milliseconds(c.get_int("person.interval_ms"));
  s.snapshots = c.get_bool("events.snapshots");
  s.draw_boxes = c.get_bool("events.draw_boxes");
  return s;
}

Engine::Engine(media::Capture& capture, AnalyticsSettings settings, AnalyticsSink sink)
    : sink_(std::move(sink)), pending_(std::move(settings)), tamper_(std::make_unique<TamperDetector>(kTamperHold)) {
  media::FeedWants wants;
  if (capture.width() > kMaxAnalysisWidth) {
    wants.width = kMaxAnalysisWidth;
    wants.height =
        static_cast<int>(static_cast<std::int64_t>(capture.height()) * kMaxAnalysisWidth / capture.width()) & ~1;
  }
  wants.fps = pending_.fps;
  feed_ = capture.subscribe(wants);
  if (const hal::Overlay o = capture.overlay(); o.w > 0 && o.h > 0) {
    overlay_ = Zone{"_overlay", true, {{o.x, o.y}, {o.x + o.w, o.y}, {o.x + o.w, o.y + o.h}, {o.x, o.y + o.h}}};
  }
  feed_->set_active(pending_.enabled);
}

Engine::~Engine() {
  stop();
}

void Engine::start() {
  if (running_.exchange(true)) return;
  thread_ = std::thread([this] { run(); });
}

void Engine::stop() {
  running_ = false;
  if (thread_.joinable()) thread_.join();
}

void Engine::configure(AnalyticsSettings settings) {
  std::lock_guard lock(mutex_);
  pending_ = std::move(settings);
  changed_ = true;
}

Engine::Stats Engine::stats() const {
  std::lock_guard lock(stats_mutex_);
  return stats_;
}

void Engine::set_state(std::string_view entity, bool on) {
  bool& current = entity == "motion" ? motion_on_ : entity == "tamper" ? tamper_on_ : person_on_;
  if (current == on) return;
  current = on;
  if (sink_.state) sink_.state(entity, on);
}

void Engine::run() {
  while (running_) {
    std::optional<AnalyticsSettings> fresh;
    {
      std::lock_guard lock(mutex_);
      if (changed_) fresh = pending_;
      changed_ = false;
    }
    // Applied outside the lock: loading a model may take a while, and configure() is called from the I/O thread.
    if (fresh) apply_settings(std::move(*fresh));
    media::PicturePtr picture = feed_->wait(std::chrono::milliseconds(200));
    if (!picture || !settings_.enabled || picture->format != hal::PixelFormat::i420) continue;
    analyse(*picture, settings_);
  }
}

void Engine::apply_settings(AnalyticsSettings fresh) {
  settings_ = std::move(fresh);
  MotionSettings motion = settings_.motion;
  if (overlay_) motion.zones.push_back(*overlay_);
  motion_.configure(std::move(motion));
  if (settings_.enabled && settings_.person) load_person_detector(settings_);
  auto wants = feed_->wants();
  wants.fps = settings_.fps;
  feed_->want(wants);
  feed_->set_active(settings_.enabled);
  // A detector switched off looks no more: what it had found is over (a covered lens would otherwise stay reported).
  if (!settings_.tamper && tamper_on_) {
    tamper_->reset();
    set_state("tamper", false);
  }
  if (!settings_.person) set_state("person", false);
  if (settings_.enabled) return;
  // Switched off (or privacy mode): whatever was going on is over, and nothing is looked at.
  if (motion_on_) {
    Event e;
    e.type = event_type::motion_end;
    e.time = std::chrono::system_clock::now();
    e.zones = motion_zones_;
    e.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(e.time - motion_since_).count();
    if (sink_.event) sink_.event(std::move(e));
  }
  motion_.reset();
  tamper_->reset();
  set_state("motion", false);
  set_state("person", false);
  set_state("tamper", false);
}

void Engine::analyse(const hal::Picture& picture, const AnalyticsSettings& s) {
  const auto t0 = Clock::now();
  const MotionResult& m =
      motion_.process(picture.y(), picture.width, picture.height, picture.width, picture.capture_us);
  const TamperResult* t = s.tamper ? &tamper_->process(motion_.work(), picture.capture_us) : nullptr;
  {
    std::lock_guard lock(stats_mutex_);
    ++stats_.pictures;
    stats_.motion_us += static_cast<std::uint64_t>(elapsed_us(t0));
  }

  if (m.started) {
    Event e;
    e.type = event_type::motion_start;
    e.time = wallclock(picture, m.start_us);
    e.zones = m.zones;
    e.objects = as_detections(m.boxes);
    e.snapshot = snapshot(picture, e.objects, s);
    people_reported_ = 0;
    motion_since_ = e.time;
    motion_zones_ = e.zones;
    set_state("motion", true);
    if (sink_.event) sink_.event(std::move(e));
  }
  if (m.active && s.person && !m.boxes.empty()) look_for_people(picture, m, s);
  if (m.ended) {
    Event e;
    e.type = event_type::motion_end;
    e.time = wallclock(picture, picture.capture_us);
    e.zones = m.zones;
    e.duration_ms = (picture.capture_us - m.start_us) / 1000;
    set_state("motion", false);
    set_state("person", false);
    if (sink_.event) sink_.event(std::move(e));
  }
  if (t && t->started) {
    Event e;
    e.type = event_type::tamper;
    e.time = wallclock(picture, t->start_us);
    e.detail = t->reason;
    e.snapshot = snapshot(picture, {}, s);
    log::warn("analytics.tamper", {{"reason", t->reason}});
    if (t->active) set_state("tamper", true);
    if (sink_.event) sink_.event(std::move(e));
  }
  if (t && t->ended) set_state("tamper", false);
}

// (Re)made when its options change: a model that cannot be used is reported once, when the settings are applied.
void Engine::load_person_detector(const AnalyticsSettings& s) {
  if (person_loaded_ && *person_loaded_ == s.person_options) return;
  person_loaded_ = s.person_options;
  std::string error;
  person_ = make_person_detector(s.person_options, &error);
  if (!person_) {
    log::error("analytics.person_unavailable", {{"detector", s.person_options.detector}, {"error", error}});
  } else {
    log::info("analytics.person_ready", {{"detector", s.person_options.detector}});
  }
}

void Engine::look_for_people(const hal::Picture& picture, const MotionResult& m, const AnalyticsSettings& s) {
  const std::int64_t now = picture.capture_us;
  if (last_person_call_us_ >= 0 && now - last_person_call_us_ < s.person_interval.count() * 1000) return;
  load_person_detector(s);
  if (!person_) return;
  last_person_call_us_ = now;
  const auto t0 = Clock::now();
  std::vector<Detection> people = person_->detect(picture, m.boxes);
  {
    std::lock_guard lock(stats_mutex_);
    ++stats_.person_calls;
    stats_.person_us += static_cast<std::uint64_t>(elapsed_us(t0));
  }
  if (people.empty()) return;
  set_state("person", true);
  // One event when people first appear in a motion, again when more appear, and every 30 s while they stay.
  const bool more = people.size() > people_reported_;
  const bool stale = last_person_event_us_ < 0 || now - last_person_event_us_ >= kPersonRepeatUs;
  if (!more && !stale) return;
  people_reported_ = std::max(people_reported_, people.size());
  last_person_event_us_ = now;
  Event e;
  e.type = event_type::person;
  e.time = wallclock(picture, now);
  e.zones = m.zones;
  e.objects = std::move(people);
  e.snapshot = snapshot(picture, e.objects, s);
  if (sink_.event) sink_.event(std::move(e));
}

std::shared_ptr<const std::vector<std::uint8_t>> Engine::snapshot(const hal::Picture& picture,
                                                                  const std::vector<Detection>& objects,
                                                                  const AnalyticsSettings& s) const {
  if (!s.snapshots) return nullptr;
  auto jpeg = std::make_shared<std::vector<std::uint8_t>>();
  std::optional<std::string> error;
  if (s.draw_boxes && !objects.empty()) {
    hal::Picture marked = picture;
    for (const Detection& d : objects) {
      if (d.label == "motion") {
        draw_box(marked, d.box, 210, 16, 146);  // yellow
      } else {
        draw_box(marked, d.box, 145, 54, 34);  // green
      }
    }
    error = media::encode_jpeg(marked, kSnapshotQuality, *jpeg);
  } else {
    error = media::encode_jpeg(picture, kSnapshotQuality, *jpeg);
  }
  if (error) {
    log::warn("analytics.snapshot_failed", {{"error", *error}});
    return nullptr;
  }
  return jpeg;
}

}  // namespace freehold::analytics
