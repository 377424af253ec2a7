// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes the live view's fMP4 writer on arbitrary Annex-B input (a file source passes its H.264 through as it is).
// Oracle: never crash; the fragment is exactly moof + mdat with sizes that tile it, trun's data offset points at
// mdat's payload and its sample size equals that payload, which holds every carried NAL unit with its 4-byte
// length; an init segment made from any parameter sets the input yields is ftyp + moov and tiles too.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "media/annexb.hpp"
#include "media/fmp4.hpp"

namespace {

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) | (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// The types of the top-level boxes; aborts unless they tile `b` exactly.
std::vector<std::string> boxes(const std::vector<std::uint8_t>& b) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at < b.size()) {
    if (at + 8 > b.size()) std::abort();
    const std::size_t n = be32(b, at);
    if (n < 8 || at + n > b.size()) std::abort();
    out.emplace_back(reinterpret_cast<const char*>(&b[at + 4]), 4);
    at += n;
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size < 1 || size > 256 * 1024) return -1;
  const bool key = data[0] & 1;
  std::span<const std::uint8_t> au(data + 1, size - 1);
  auto frag = freehold::media::fmp4_fragment(7, {au, 123456789, 3600, key});
  if (boxes(frag) != std::vector<std::string>{"moof", "mdat"}) std::abort();
  const std::size_t moof = be32(frag, 0);
  // trun: the only box of its name inside moof; data offset and sample size follow its header and count.
  std::size_t trun = 0;
  for (std::size_t i = 8; i + 4 <= moof; ++i) {
    if (std::memcmp(&frag[i], "trun", 4) == 0) trun = i - 4;
  }
  if (trun == 0) std::abort();
  const std::size_t payload = be32(frag, moof) - 8;
  if (be32(frag, trun + 16) != moof + 8) std::abort();  // data offset from moof's start
  if (be32(frag, trun + 24) != payload) std::abort();   // sample size
  std::size_t at = moof + 8, carried = 0;
  while (at < frag.size()) {
    if (at + 4 > frag.size()) std::abort();
    at += 4 + be32(frag, at);
    ++carried;
  }
  if (at != frag.size()) std::abort();
  std::size_t expected = 0;
  for (auto nal : freehold::media::split_annexb(au)) {
    const auto t = freehold::media::nal_type(nal);
    expected += t != freehold::media::kNalSps && t != freehold::media::kNalPps && t != freehold::media::kNalAud;
  }
  if (carried != expected) std::abort();
  if (auto track = freehold::media::track_from_access_unit(au)) {
    track->width = 640;
    track->height = 360;
    if (boxes(freehold::media::fmp4_init_segment(*track)) != std::vector<std::string>{"ftyp", "moov"}) std::abort();
    if (!freehold::media::avc1_codec(track->sps).starts_with("avc1.")) std::abort();
  }
  return 0;
}
