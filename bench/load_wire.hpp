// SPDX-License-Identifier: GPL-3.0-or-later
// What the benchmark's RTSP load client reads on one connection once RTP is interleaved (RFC 2326 §10.12): '$'
// frames and responses, in any order. Only the first 12 bytes of each frame (the RTP header) are kept, so a
// reader costs a few dozen bytes however large the frames are and nothing is allocated per packet; a response is
// bounded to 64 KiB. Plus the client side of a Digest challenge (RFC 2617).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "rtsp/message.hpp"

namespace freehold::bench {

struct FrameHeader {
  std::uint8_t channel = 0;
  std::uint16_t length = 0;    // of the payload after the 4-byte '$' header
  bool rtp = false;            // at least 12 bytes, RTP version 2 (seq/timestamp are meaningful)
  std::uint16_t sequence = 0;
  std::uint32_t timestamp = 0;
};

struct StreamSink {
  virtual ~StreamSink() = default;
  virtual void on_frame(const FrameHeader& frame) = 0;
  // A response (status line, headers, body); only its first header of a name is looked at by callers.
  virtual void on_response(rtsp::Response&& response) = 0;
};

class InterleavedStream final {
 public:
  static constexpr std::size_t kMaxResponse = 64 * 1024;

  // Feeds bytes as read; calls the sink for every complete frame and response. False once the stream cannot be
  // read any further (error() says why); later calls do nothing.
  bool feed(const std::uint8_t* data, std::size_t size, StreamSink& sink);
  [[nodiscard]] const std::string& error() const { return error_; }

 private:
  enum class State : std::uint8_t { start, frame_head, frame_body, text, failed };
  bool fail(std::string why);
  // Takes response bytes; returns how many were used, or nullopt on failure.
  std::optional<std::size_t> take_text(const std::uint8_t* data, std::size_t size, StreamSink& sink);

  State state_ = State::start;
  std::uint8_t head_[4] = {};
  std::uint8_t head_have_ = 0;
  std::uint8_t rtp_[12] = {};
  std::uint8_t rtp_have_ = 0;
  std::uint16_t remaining_ = 0;
  std::string text_;
  std::size_t head_end_ = std::string::npos;  // where the response's head ends in text_, once seen
  std::string error_;
};

// The first header of that name (without regard to case).
[[nodiscard]] std::optional<std::string_view> find_header(const rtsp::Response& response, std::string_view name);

// A parameter of a WWW-Authenticate value: `name=token` or `name="quoted"` (backslash escapes kept simple).
[[nodiscard]] std::optional<std::string> auth_param(std::string_view challenge, std::string_view name);

// The track's control URL from an SDP: the first a=control of the first m= section, resolved against `base`.
[[nodiscard]] std::string track_url(std::string_view sdp, std::string_view base);

}  // namespace freehold::bench
