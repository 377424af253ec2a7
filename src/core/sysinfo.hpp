// SPDX-License-Identifier: GPL-3.0-or-later
// The host's own figures for telemetry and the diagnostic sensors: this process's CPU share and memory, the
// system's free memory and temperature. Read from /proc and /sys; a figure the host does not have is nullopt.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>

namespace freehold {

class CpuMeter final {
 public:
  CpuMeter();
  // This process's CPU time since the previous call (or construction) over the wall time, in percent of one core.
  [[nodiscard]] double sample();

 private:
  std::chrono::steady_clock::time_point last_wall_;
  double last_cpu_s_ = 0;
};

[[nodiscard]] std::optional<std::int64_t> process_rss_bytes();
[[nodiscard]] std::optional<std::int64_t> memory_available_bytes();
// The first thermal zone, in degrees Celsius.
[[nodiscard]] std::optional<double> temperature_c();

}  // namespace freehold
