// SPDX-License-Identifier: GPL-3.0-or-later
#include "load_wire.hpp"

#include <algorithm>
#include <charconv>
#include <cstring>

namespace freehold::bench {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return (x | 0x20) == (y | 0x20);  // ASCII header names only
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// Parses "RTSP/1.0 200 OK" and the header lines of `head` (without the blank line).
std::optional<rtsp::Response> parse_head(std::string_view head, std::string* error) {
  rtsp::Response r;
  auto eol = head.find('\n');
  const auto status_line = trim(head.substr(0, eol));
  if (!status_line.starts_with("RTSP/1.0 ") || status_line.size() < 12) {
    *error = "expected an RTSP/1.0 status line or a '$' frame, got \"" + std::string(status_line.substr(0, 40)) + "\"";
    return std::nullopt;
  }
  const auto code = status_line.substr(9, 3);
  if (std::from_chars(code.data(), code.data() + 3, r.status).ec != std::errc{} || r.status < 100 || r.status > 999) {
    *error = "bad status code \"" + std::string(code) + "\"";
    return std::nullopt;
  }
  while (eol != std::string_view::npos) {
    head.remove_prefix(eol + 1);
    eol = head.find('\n');
    const auto line = trim(head.substr(0, eol));
    if (line.empty()) continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "header line without a name: \"" + std::string(line.substr(0, 40)) + "\"";
      return std::nullopt;
    }
    if (r.headers.size() >= 64) {
      *error = "more than 64 headers";
      return std::nullopt;
    }
    r.header(std::string(trim(line.substr(0, colon))), std::string(trim(line.substr(colon + 1))));
  }
  return r;
}

}  // namespace

bool InterleavedStream::fail(std::string why) {
  error_ = std::move(why);
  state_ = State::failed;
  text_.clear();
  text_.shrink_to_fit();
  return false;
}

std::optional<std::size_t> InterleavedStream::take_text(const std::uint8_t* data, std::size_t size,
                                                        StreamSink& sink) {
  const std::size_t before = text_.size();
  const std::size_t take = std::min(size, kMaxResponse - before);
  text_.append(reinterpret_cast<const char*>(data), take);
  if (head_end_ == std::string::npos) {  // once found, the body may hold blank lines of its own
    head_end_ = text_.find("\r\n\r\n", before >= 3 ? before - 3 : 0);
  }
  const auto end = head_end_;
  if (end == std::string::npos) {
    if (text_.size() >= kMaxResponse) {
      fail("a response head over 64 KiB");
      return std::nullopt;
    }
    return take;
  }
  std::string why;
  auto response = parse_head(std::string_view(text_).substr(0, end), &why);
  if (!response) {
    fail(why);
    return std::nullopt;
  }
  std::size_t body = 0;
  if (auto cl = find_header(*response, "Content-Length")) {
    if (std::from_chars(cl->data(), cl->data() + cl->size(), body).ec != std::errc{} ||
        body > kMaxResponse - (end + 4)) {
      fail("bad or too large Content-Length \"" + std::string(cl->substr(0, 20)) + "\"");
      return std::nullopt;
    }
  }
  const std::size_t total = end + 4 + body;
  if (text_.size() < total) {
    if (take < size || text_.size() >= kMaxResponse) {  // cannot happen given the bound above; kept for safety
      fail("a response over 64 KiB");
      return std::nullopt;
    }
    return take;
  }
  response->body = text_.substr(end + 4, body);
  const std::size_t used = take - (text_.size() - total);  // bytes past the response belong to what follows
  text_.clear();
  head_end_ = std::string::npos;
  state_ = State::start;
  sink.on_response(std::move(*response));
  return used;
}

bool InterleavedStream::feed(const std::uint8_t* data, std::size_t size, StreamSink& sink) {
  while (size > 0) {
    switch (state_) {
      case State::failed:
        return false;
      case State::start:
        state_ = data[0] == '$' ? State::frame_head : State::text;
        head_have_ = 0;
        break;
      case State::frame_head: {
        const std::size_t n = std::min<std::size_t>(size, 4u - head_have_);
        std::memcpy(head_ + head_have_, data, n);
        head_have_ = static_cast<std::uint8_t>(head_have_ + n);
        data += n;
        size -= n;
        if (head_have_ == 4) {
          remaining_ = static_cast<std::uint16_t>(head_[2] << 8 | head_[3]);
          rtp_have_ = 0;
          state_ = State::frame_body;
          if (remaining_ == 0) {
            sink.on_frame(FrameHeader{head_[1], 0, false, 0, 0});
            state_ = State::start;
          }
        }
        break;
      }
      case State::frame_body: {
        std::size_t n = std::min<std::size_t>(size, remaining_);
        if (rtp_have_ < sizeof rtp_) {
          n = std::min<std::size_t>(n, sizeof rtp_ - rtp_have_);
          std::memcpy(rtp_ + rtp_have_, data, n);
          rtp_have_ = static_cast<std::uint8_t>(rtp_have_ + n);
        }
        data += n;
        size -= n;
        remaining_ = static_cast<std::uint16_t>(remaining_ - n);
        if (remaining_ == 0) {
          FrameHeader f;
          f.channel = head_[1];
          f.length = static_cast<std::uint16_t>(head_[2] << 8 | head_[3]);
          f.rtp = rtp_have_ == sizeof rtp_ && (rtp_[0] >> 6) == 2;
          f.sequence = static_cast<std::uint16_t>(rtp_[2] << 8 | rtp_[3]);
          f.timestamp = static_cast<std::uint32_t>(rtp_[4]) << 24 | static_cast<std::uint32_t>(rtp_[5]) << 16 |
                        static_cast<std::uint32_t>(rtp_[6]) << 8 | rtp_[7];
          state_ = State::start;
          sink.on_frame(f);
        }
        break;
      }
      case State::text: {
        auto used = take_text(data, size, sink);
        if (!used) return false;
        data += *used;
        size -= *used;
        break;
      }
    }
  }
  return state_ != State::failed;
}

std::optional<std::string_view> find_header(const rtsp::Response& response, std::string_view name) {
  for (const auto& h : response.headers) {
    if (iequals(h.name, name)) return std::string_view(h.value);
  }
  return std::nullopt;
}

std::optional<std::string> auth_param(std::string_view challenge, std::string_view name) {
  std::size_t pos = 0;
  while (pos < challenge.size()) {
    // Skip separators, read a name up to '='.
    while (pos < challenge.size() && (challenge[pos] == ' ' || challenge[pos] == ',')) ++pos;
    const auto eq = challenge.find('=', pos);
    if (eq == std::string_view::npos) return std::nullopt;
    auto key = trim(challenge.substr(pos, eq - pos));
    if (const auto sp = key.rfind(' '); sp != std::string_view::npos) key.remove_prefix(sp + 1);  // "Digest realm"
    pos = eq + 1;
    std::string value;
    if (pos < challenge.size() && challenge[pos] == '"') {
      ++pos;
      while (pos < challenge.size() && challenge[pos] != '"') {
        if (challenge[pos] == '\\' && pos + 1 < challenge.size()) ++pos;
        value += challenge[pos++];
      }
      ++pos;
    } else {
      const auto end = std::min(challenge.find(',', pos), challenge.size());
      value = std::string(trim(challenge.substr(pos, end - pos)));
      pos = end;
    }
    if (iequals(key, name)) return value;
  }
  return std::nullopt;
}

std::string track_url(std::string_view sdp, std::string_view base) {
  const auto media = sdp.find("\nm=");
  std::string_view rest = media == std::string_view::npos ? sdp : sdp.substr(media + 1);
  std::string control;
  for (std::size_t pos = 0; pos < rest.size();) {
    const auto eol = std::min(rest.find('\n', pos), rest.size());
    const auto line = trim(rest.substr(pos, eol - pos));
    if (line.starts_with("a=control:")) {
      control = std::string(line.substr(10));
      break;
    }
    pos = eol + 1;
  }
  if (control.empty() || control == "*") return std::string(base);
  if (control.starts_with("rtsp://") || control.starts_with("rtsps://")) return control;
  std::string url(base);
  if (!url.ends_with('/')) url += '/';
  return url + control;
}

}  // namespace freehold::bench
