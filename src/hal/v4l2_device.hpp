// SPDX-License-Identifier: GPL-3.0-or-later
// The few syscalls V4L2 capture needs, behind an interface: the capture code talks only to this, so unit tests
// and fuzzers can plug in an emulated camera. Calls follow the syscalls' conventions (-1 and errno on failure).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace freehold::hal {

class V4l2Device {
 public:
  virtual ~V4l2Device() = default;
  // A file descriptor opened non-blocking, or -1 with errno set.
  [[nodiscard]] virtual int open(const std::string& path) = 0;
  virtual int close(int fd) = 0;
  // One VIDIOC_* request; EINTR is retried by the implementation.
  [[nodiscard]] virtual int ioctl(int fd, unsigned long request, void* arg) = 0;
  // A shared read/write mapping of a driver buffer, or nullptr with errno set.
  [[nodiscard]] virtual void* mmap(int fd, std::size_t length, std::int64_t offset) = 0;
  virtual int munmap(void* address, std::size_t length) = 0;
  // Waits up to timeout_ms for `fd` to become readable: the poll revents (POLLIN, POLLERR, ...), 0 on timeout,
  // -1 with errno set.
  [[nodiscard]] virtual int poll(int fd, int timeout_ms) = 0;
};

// The kernel's V4L2 (open(2), ioctl(2), mmap(2), poll(2)).
[[nodiscard]] std::shared_ptr<V4l2Device> real_v4l2_device();

}  // namespace freehold::hal
