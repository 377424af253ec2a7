// SPDX-License-Identifier: GPL-3.0-or-later
// Fragmented MP4 (ISO/IEC 14496-12 and -15) for H.264: the form Media Source Extensions play. An init segment
// (ftyp + moov) describes the track from its parameter sets; each access unit then becomes one fragment
// (moof + mdat) that a browser can append as soon as the frame is encoded. No B-frames: composition = decode time.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace freehold::media {

struct Fmp4Track {
  std::vector<std::uint8_t> sps;  // one NAL unit each, without start code
  std::vector<std::uint8_t> pps;
  int width = 0;
  int height = 0;
  std::uint32_t timescale = 90000;
};

// The parameter sets of an Annex-B access unit (an IDR carries them in front); nullopt if either is missing.
[[nodiscard]] std::optional<Fmp4Track> track_from_access_unit(std::span<const std::uint8_t> annexb);

// RFC 6381 codec string for MSE's isTypeSupported, e.g. "avc1.64001f" (profile, constraints, level of the SPS).
[[nodiscard]] std::string avc1_codec(std::span<const std::uint8_t> sps);

[[nodiscard]] std::vector<std::uint8_t> fmp4_init_segment(const Fmp4Track& track);

struct Fmp4Sample {
  std::span<const std::uint8_t> annexb;  // one access unit; parameter sets and delimiters are left out
  std::uint64_t decode_time = 0;         // in the track's timescale
  std::uint32_t duration = 0;
  bool keyframe = false;
};

// One fragment holding one sample; `sequence` counts fragments from 1.
[[nodiscard]] std::vector<std::uint8_t> fmp4_fragment(std::uint32_t sequence, const Fmp4Sample& sample);

}  // namespace freehold::media
