// SPDX-License-Identifier: GPL-3.0-or-later
#include "web/live.hpp"

#include <boost/asio/post.hpp>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>

#include "core/log.hpp"
#include "media/fmp4.hpp"
#include "media/frame_ring.hpp"
#include "media/stream_tap.hpp"

namespace freehold::web {

namespace asio = boost::asio;
using json = nlohmann::json;

namespace {

constexpr std::size_t kBatch = 16;  // fragments pulled at a time: a slow viewer gets to its writes between batches
constexpr auto kStatsEvery = std::chrono::seconds(1);

std::string mjpeg_hint(const std::string& stream) {
  return "the " + stream + " stream is MJPEG: watch it as /api/v1/live/" + stream + ".mjpeg";
}

std::int64_t now_us(auto clock_now) {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_now.time_since_epoch()).count();
}

// What a viewer needs before the fragments of one encoder: the announcement (text) and the init segment.
struct InitSegment {
  std::string announce;
  std::shared_ptr<const std::vector<std::uint8_t>> segment;
  std::vector<std::uint8_t> sps, pps;
};

struct Fragment {
  bool keyframe = false;
  std::uint64_t sequence = 0;  // stamped by the ring
  std::shared_ptr<const std::vector<std::uint8_t>> data;
  std::shared_ptr<const InitSegment> init;
  std::int64_t capture_ms = 0;  // UTC
};

}  // namespace

// One stream's fragments, shared by its viewers.
struct LiveStream : media::StreamTap<Fragment> {
  std::string name;
  std::shared_ptr<const InitSegment> init;
  std::uint64_t init_generation = 0;
  std::int64_t origin_us = 0;  // capture time of the first frame wrapped: decode time 0
  std::uint32_t next_fragment = 1;
  std::optional<std::string> refused;
  std::string unsupported;  // why this stream's frames cannot be carried ("" if they can)

  explicit LiveStream(media::VideoStream* s) : StreamTap(s), name(s->name()) {}

  // A first viewer: the hub's open() has just checked the refusal and the codec, so what the last spell saw no
  // longer holds.
  void add_viewer() {
    if (users == 0) {
      refused.reset();
      unsupported.clear();
    }
    acquire();
  }

  void pump(const LiveHub::Refusal& refusal) {
    if (!stream || users == 0) return;
    refused = refusal(name);
    std::vector<media::FramePtr> frames;
    take(frames);
    const std::int64_t wall_offset = now_us(std::chrono::system_clock::now()) - now_us(std::chrono::steady_clock::now());
    bool published = false;
    for (const auto& f : frames) {
      if (f->codec != media::Codec::h264) {
        unsupported = mjpeg_hint(name);
        continue;
      }
      unsupported.clear();
      if (f->keyframe) renew_init(*f);
      if (!init || f->generation != init_generation) continue;  // no parameter sets of this encoder yet
      const int fps = stream->fps();
      media::Fmp4Sample sample{f->data, static_cast<std::uint64_t>(std::max<std::int64_t>(0, f->capture_us - origin_us)) * 9 / 100,
                               static_cast<std::uint32_t>(90000 / (fps > 0 ? fps : 25)), f->keyframe};
      Fragment fr;
      fr.keyframe = f->keyframe;
      fr.data = std::make_shared<const std::vector<std::uint8_t>>(media::fmp4_fragment(next_fragment++, sample));
      fr.init = init;
      fr.capture_ms = (f->capture_us + wall_offset) / 1000;
      ring.publish(std::move(fr));
      published = true;
    }
    if (published || refused || !unsupported.empty()) wake_all();
  }

  // A keyframe of a new encoder, or with parameter sets other than the announced ones, starts a new init segment.
  void renew_init(const media::EncodedFrame& f) {
    auto track = media::track_from_access_unit(f.data);
    if (!track) return;  // an IDR that relies on parameter sets sent before
    if (init && f.generation == init_generation && init->sps == track->sps && init->pps == track->pps) return;
    track->width = stream->width();
    track->height = stream->height();
    auto seg = std::make_shared<InitSegment>();
    const std::string codec = media::avc1_codec(track->sps);
    seg->announce = json{{"type", "init"},
                         {"stream", name},
                         {"codec", codec},
                         {"mime", "video/mp4; codecs=\"" + codec + "\""},
                         {"width", track->width},
                         {"height", track->height},
                         {"fps", stream->fps()}}
                        .dump();
    seg->segment = std::make_shared<const std::vector<std::uint8_t>>(media::fmp4_init_segment(*track));
    seg->sps = std::move(track->sps);
    seg->pps = std::move(track->pps);
    // Decode times run on one clock for the stream's life: a player may keep its buffer across a new init.
    if (!init) origin_us = f.capture_us;
    init = std::move(seg);
    init_generation = f.generation;
  }
};

struct LiveHub::Impl {
  Refusal refusal;
  std::vector<std::shared_ptr<LiveStream>> streams;

  std::shared_ptr<LiveStream> find(std::string_view name) const {
    for (const auto& s : streams) {
      if (s->name == name) return s;
    }
    return nullptr;
  }
};

namespace {

// One browser watching one stream.
class Viewer final : public WebSocketFeed {
 public:
  explicit Viewer(std::shared_ptr<LiveStream> ls) : ls_(std::move(ls)) {
    ls_->add_viewer();
    cursor_ = ls_->join();
    waker_ = ls_->add_waker([this] {
      if (wake) wake();
    });
    last_stats_ = std::chrono::steady_clock::now();
  }
  ~Viewer() override {
    ls_->remove_waker(waker_);
    ls_->release();
  }
  Viewer(const Viewer&) = delete;
  Viewer& operator=(const Viewer&) = delete;

  void pull(std::vector<WsMessage>& out) override {
    if (ended_) return;
    if (!ls_->stream) return end(out, "ended", "the stream has stopped");
    if (ls_->refused) return end(out, "refused", *ls_->refused);
    if (!ls_->unsupported.empty()) return end(out, "unsupported_codec", ls_->unsupported);
    frames_.clear();
    const auto dropped_before = cursor_.dropped;
    ls_->ring.read(cursor_, frames_, media::reader_max_lag(ls_->stream->fps()), kBatch);
    if (cursor_.dropped != dropped_before) {
      log::info("live.viewer_behind", {{"stream", ls_->name}, {"dropped_frames", cursor_.dropped - dropped_before},
                                       {"dropped_total", cursor_.dropped}});
    }
    for (const auto& f : frames_) {
      if (f->init != sent_init_) {
        out.push_back({nullptr, f->init->announce});
        out.push_back({f->init->segment, {}});
        sent_init_ = f->init;
      }
      out.push_back({f->data, {}});
      newest_capture_ms_ = f->capture_ms;
      ++frames_since_;
      bytes_since_ += f->data->size();
    }
    const auto now = std::chrono::steady_clock::now();
    if (!frames_.empty() && now - last_stats_ >= kStatsEvery) {
      const double s = std::chrono::duration<double>(now - last_stats_).count();
      out.push_back({nullptr, json{{"type", "stats"},
                                   {"fps", std::round(frames_since_ / s * 10) / 10},
                                   {"bitrate_kbps", static_cast<std::int64_t>(bytes_since_ * 8 / s / 1000)},
                                   {"dropped", cursor_.dropped},
                                   {"server_time_ms", now_us(std::chrono::system_clock::now()) / 1000},
                                   {"capture_time_ms", newest_capture_ms_}}
                                  .dump()});
      last_stats_ = now;
      frames_since_ = 0;
      bytes_since_ = 0;
    }
  }

  [[nodiscard]] bool ended() const override { return ended_; }

 private:
  void end(std::vector<WsMessage>& out, std::string_view code, std::string_view message) {
    out.push_back({nullptr, json{{"type", "error"}, {"code", code}, {"message", message}}.dump()});
    ended_ = true;
  }

  std::shared_ptr<LiveStream> ls_;
  media::RingCursor cursor_;
  std::uint64_t waker_ = 0;
  std::shared_ptr<const InitSegment> sent_init_;
  std::vector<std::shared_ptr<const Fragment>> frames_;
  bool ended_ = false;
  std::chrono::steady_clock::time_point last_stats_;
  std::int64_t newest_capture_ms_ = 0;
  std::uint64_t frames_since_ = 0, bytes_since_ = 0;
};

}  // namespace

LiveHub::LiveHub(asio::io_context& io, std::vector<media::VideoStream*> streams, Refusal refusal)
    : impl_(std::make_shared<Impl>(Impl{std::move(refusal), {}})) {
  for (auto* s : streams) {
    auto ls = std::make_shared<LiveStream>(s);
    std::weak_ptr<LiveStream> weak = ls;
    std::weak_ptr<Impl> hub = impl_;
    // Runs on the stream's thread: the work is the I/O thread's.
    ls->listener = s->add_on_frame([&io, weak, hub] {
      asio::post(io, [weak, hub] {
        auto l = weak.lock();
        auto h = hub.lock();
        if (l && h) l->pump(h->refusal);
      });
    });
    impl_->streams.push_back(std::move(ls));
  }
}

LiveHub::~LiveHub() {
  for (auto& ls : impl_->streams) {
    ls->detach();
    ls->wake_all();  // their viewers hear that the stream has stopped
  }
}

FeedOrError LiveHub::open(std::string_view name) {
  auto ls = impl_->find(name);
  if (!ls) return {nullptr, 404, "not_found", "no such stream; try main or sub"};
  if (auto why = impl_->refusal(ls->name)) return {nullptr, 503, "stream_off", *why};
  if (ls->stream->codec() != media::Codec::h264) {
    return {nullptr, 415, "unsupported_codec", mjpeg_hint(ls->name)};
  }
  return {std::make_shared<Viewer>(std::move(ls)), 101, {}, {}};
}

int LiveHub::viewers(std::string_view name) const {
  auto ls = impl_->find(name);
  return ls ? ls->users : 0;
}

}  // namespace freehold::web
