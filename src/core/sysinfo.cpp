// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/sysinfo.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <string>

namespace freehold {
namespace {

double cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto s = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return s(u.ru_utime) + s(u.ru_stime);
}

}  // namespace

CpuMeter::CpuMeter() : last_wall_(std::chrono::steady_clock::now()), last_cpu_s_(cpu_seconds()) {}

double CpuMeter::sample() {
  const auto now = std::chrono::steady_clock::now();
  const double cpu = cpu_seconds();
  const double wall = std::chrono::duration<double>(now - last_wall_).count();
  const double share = wall > 0 ? 100.0 * (cpu - last_cpu_s_) / wall : 0;
  last_wall_ = now;
  last_cpu_s_ = cpu;
  return share;
}

std::optional<std::int64_t> process_rss_bytes() {
  std::ifstream f("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(f >> size >> resident)) return std::nullopt;
  return resident * sysconf(_SC_PAGESIZE);
}

std::optional<std::int64_t> memory_available_bytes() {
  std::ifstream f("/proc/meminfo");
  std::string key, unit;
  std::int64_t value = 0;
  while (f >> key >> value >> unit) {
    if (key == "MemAvailable:") return value * 1024;
  }
  return std::nullopt;
}

std::optional<double> temperature_c() {
  std::ifstream f("/sys/class/thermal/thermal_zone0/temp");
  std::int64_t milli = 0;
  if (!(f >> milli)) return std::nullopt;
  return static_cast<double>(milli) / 1000.0;
}

}  // namespace freehold
