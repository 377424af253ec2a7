// SPDX-License-Identifier: GPL-3.0-or-later
// The browser's live view: GET /api/v1/live/{stream} upgraded to a WebSocket that carries the stream's H.264 as
// fragmented MP4 for Media Source Extensions (docs/rest-api.md#live-view). Each frame is wrapped once, from the
// stream's frame ring and without transcoding, into a ring of fragments that every viewer of that stream shares;
// a viewer is a cursor into it, with the RTSP server's slow-reader policy (skip to the next keyframe).
// Lives on the I/O thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "media/video_stream.hpp"
#include "web/http.hpp"

namespace freehold::web {

class LiveHub final {
 public:
  // Why a stream may not be watched now (privacy mode, disabled), or nullopt; asked for every new viewer and once
  // per frame for those watching.
  using Refusal = std::function<std::optional<std::string>(const std::string& stream)>;

  LiveHub(boost::asio::io_context& io, std::vector<media::VideoStream*> streams, Refusal refusal);
  // Detaches from the streams; viewers still connected are told the stream ended.
  ~LiveHub();
  LiveHub(const LiveHub&) = delete;
  LiveHub& operator=(const LiveHub&) = delete;

  // A viewer of `stream`, or why not (unknown stream, refused, not H.264).
  [[nodiscard]] FeedOrError open(std::string_view stream);

  // Viewers per stream name, for GET /api/v1/streams.
  [[nodiscard]] int viewers(std::string_view stream) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace freehold::web
