// SPDX-License-Identifier: GPL-3.0-or-later
// One video stream (a profile such as "main" or "sub"): a capture feed, an encoder and a frame ring, on a thread of
// its own. The encoder idles while nobody reads (a passthrough stream keeps its GOP cache warm instead: that costs
// nothing); the first reader gets a keyframe at once. Settings change live: the stream swaps its encoder between
// two frames, and its readers carry on with the new pictures.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "media/capture.hpp"
#include "media/encoder.hpp"
#include "media/frame_ring.hpp"

namespace freehold::media {

struct StreamStats {
  std::uint64_t frames_encoded = 0;
  std::uint64_t bytes_encoded = 0;
  std::uint64_t frames_skipped_idle = 0;  // captured while nobody was reading
  std::uint64_t frames_lost_busy = 0;     // captured while the encoder was too far behind
  std::uint64_t frames_dropped_resize = 0;  // queued at the old size when the size changed
  std::uint64_t encode_failures = 0;        // pictures the encoder refused (logged as stream.encode_failed)
};

class VideoStream final {
 public:
  // `settings` must already be accepted by `make` (the caller built its first encoder to check); `ring_frames`
  // should hold at least one GOP.
  VideoStream(std::string name, std::shared_ptr<Feed> feed, EncoderFactory make, const EncoderSettings& settings,
              std::size_t ring_frames);
  ~VideoStream();
  VideoStream(const VideoStream&) = delete;
  VideoStream& operator=(const VideoStream&) = delete;

  // `f` is called on the stream thread after each published frame (the listener hands the work to its own
  // thread: post). Any number of listeners (the RTSP server, web viewers); the id removes one.
  std::uint64_t add_on_frame(std::function<void()> f);
  void remove_on_frame(std::uint64_t id);
  void start();
  void stop();

  [[nodiscard]] FrameRing& ring() { return ring_; }
  [[nodiscard]] const std::string& name() const { return name_; }
  [[nodiscard]] EncoderSettings settings() const;  // those of the running encoder
  // The settings last asked for: the constructor's or the latest reconfigure()'s, applied or not yet.
  [[nodiscard]] EncoderSettings requested_settings() const;
  [[nodiscard]] int width() const { return settings().width; }
  [[nodiscard]] int height() const { return settings().height; }
  [[nodiscard]] int fps() const { return settings().fps; }
  [[nodiscard]] Codec codec() const { return codec_; }
  [[nodiscard]] StreamStats stats() const;
  // Applies new settings from the next frame on (the same codec). An encoder that refuses them is logged and the
  // old one keeps running.
  void reconfigure(const EncoderSettings& settings);
  // Counts the encoder swaps of live changes; every frame carries the generation of the encoder that made it, so
  // a consumer can tell that what it learnt from earlier frames (H.264 parameter sets) is out of date.
  [[nodiscard]] std::uint64_t generation() const { return generation_.load(); }
  // Whether a change asked for has not been applied yet (its generation is still to come).
  [[nodiscard]] bool reconfiguring() const;

  // Readers register so the encoder works only while someone watches. The cursor starts at the cached GOP of a
  // running stream; after an idle spell the ring holds old frames, so it waits for the keyframe requested now.
  [[nodiscard]] FrameRing::Cursor add_reader();
  void remove_reader();
  [[nodiscard]] int readers() const { return readers_.load(); }
  // The next frame encoded is a keyframe (ONVIF SetSynchronizationPoint). Any thread.
  void request_keyframe() { keyframe_wanted_ = true; }

 private:
  void run();

  void apply_pending();

  std::string name_;
  std::shared_ptr<Feed> feed_;
  EncoderFactory make_;
  std::unique_ptr<Encoder> encoder_;  // stream thread only
  Codec codec_;
  bool idles_;
  mutable std::mutex settings_mutex_;
  EncoderSettings settings_;
  EncoderSettings requested_;
  std::optional<EncoderSettings> pending_;
  FrameRing ring_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<int> readers_{0};
  std::atomic<bool> keyframe_wanted_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> fresh_from_{0};  // first ring sequence since the encoder last woke up
  std::mutex on_frame_mutex_;
  std::map<std::uint64_t, std::function<void()>> on_frame_;
  std::uint64_t next_listener_ = 1;
  std::atomic<std::uint64_t> frames_{0}, bytes_{0}, skipped_{0}, resized_away_{0}, failures_{0};
};

}  // namespace freehold::media
