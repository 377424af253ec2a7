// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>
#include <utility>

namespace freehold {
namespace {

std::string errno_text(std::string_view step, const std::filesystem::path& p) {
  return std::string(step) + " " + p.string() + ": " + std::strerror(errno);
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  [[nodiscard]] int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

std::optional<std::string> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                                             unsigned mode) {
  const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  std::random_device rd;
  const auto tmp = dir / ("." + path.filename().string() + ".tmp" + std::to_string(rd()));

  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return errno_text("cannot create", tmp);
  // The umask may have narrowed the mode; never widen beyond `mode`.
  if (::fchmod(fd.get(), mode) != 0) {
    auto err = errno_text("cannot chmod", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  const char* p = content.data();
  size_t left = content.size();
  while (left > 0) {
    ssize_t n = ::write(fd.get(), p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto err = errno_text("cannot write", tmp);
      ::unlink(tmp.c_str());
      return err;
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) {
    auto err = errno_text("cannot fsync", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::close(fd.release()) != 0) {
    auto err = errno_text("cannot close", tmp);
    ::unlink(tmp.c_str());
    return err;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    auto err = errno_text("cannot rename onto", path);
    ::unlink(tmp.c_str());
    return err;
  }
  // Make the rename itself durable.
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0 || ::fsync(dfd.get()) != 0) return errno_text("cannot fsync directory", dir);
  return std::nullopt;
}

std::optional<std::string> read_file(const std::filesystem::path& path, std::string* error, size_t max_bytes) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (error) *error = errno_text("cannot open", path);
    return std::nullopt;
  }
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      if (error) *error = errno_text("cannot read", path);
      return std::nullopt;
    }
    if (n == 0) break;
    if (out.size() + static_cast<size_t>(n) > max_bytes) {
      if (error) *error = path.string() + ": file is larger than " + std::to_string(max_bytes) + " bytes";
      return std::nullopt;
    }
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

}  // namespace freehold
