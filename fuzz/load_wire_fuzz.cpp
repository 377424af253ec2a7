// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes what the benchmark's RTSP load client (bench/rtsp_load) reads from a server: interleaved '$' frames and
// responses in any order, plus the WWW-Authenticate and SDP helpers on every response it yields.
// Oracle: never crash; a response stays within 64 KiB; the same bytes in one piece and split in two at an
// input-chosen point give the same frames, responses and failure.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "load_wire.hpp"

using namespace freehold::bench;

namespace {

struct Record final : StreamSink {
  std::vector<std::string> events;
  void on_frame(const FrameHeader& f) override {
    events.push_back("F" + std::to_string(f.channel) + "/" + std::to_string(f.length) + "/" +
                     std::to_string(f.rtp) + "/" + std::to_string(f.sequence) + "/" + std::to_string(f.timestamp));
  }
  void on_response(freehold::rtsp::Response&& r) override {
    std::size_t size = r.body.size();
    for (const auto& h : r.headers) size += h.name.size() + h.value.size();
    if (size > InterleavedStream::kMaxResponse) std::abort();
    if (auto c = find_header(r, "WWW-Authenticate")) {
      (void)auth_param(*c, "realm");
      (void)auth_param(*c, "nonce");
    }
    (void)track_url(r.body, "rtsp://127.0.0.1/main");
    events.push_back("R" + std::to_string(r.status) + "/" + std::to_string(r.headers.size()) + "/" + r.body);
  }
};

std::pair<std::vector<std::string>, std::string> run(const std::uint8_t* data, std::size_t size, std::size_t split) {
  InterleavedStream s;
  Record rec;
  if (s.feed(data, split, rec)) (void)s.feed(data + split, size - split, rec);
  return {rec.events, s.error()};
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = data[0] % (size + 1);
  const auto whole = run(data + 1, size - 1, 0);
  const auto parts = run(data + 1, size - 1, split > size - 1 ? size - 1 : split);
  if (whole != parts) std::abort();
  return 0;
}
