// SPDX-License-Identifier: GPL-3.0-or-later
#include "hal/v4l2_device.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace freehold::hal {
namespace {

class KernelV4l2Device final : public V4l2Device {
 public:
  int open(const std::string& path) override { return ::open(path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC); }
  int close(int fd) override { return ::close(fd); }
  int ioctl(int fd, unsigned long request, void* arg) override {
    int r;
    do {
      r = ::ioctl(fd, request, arg);
    } while (r == -1 && errno == EINTR);
    return r;
  }
  void* mmap(int fd, std::size_t length, std::int64_t offset) override {
    void* p = ::mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
    return p == MAP_FAILED ? nullptr : p;
  }
  int munmap(void* address, std::size_t length) override { return ::munmap(address, length); }
  int poll(int fd, int timeout_ms) override {
    pollfd p{fd, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    if (r <= 0) return r;  // EINTR surfaces as -1: the caller recomputes its deadline and polls again
    return p.revents;
  }
};

}  // namespace

std::shared_ptr<V4l2Device> real_v4l2_device() {
  return std::make_shared<KernelV4l2Device>();
}

}  // namespace freehold::hal
