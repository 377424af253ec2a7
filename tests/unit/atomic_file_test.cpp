// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/atomic_file.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <random>
#include <thread>

namespace freehold {
namespace {

class TempDir {
 public:
  TempDir() {
    char t[] = "/tmp/freehold-test-XXXXXX";
    path_ = mkdtemp(t);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

TEST(AtomicFile, WritesContentWithMode0600) {
  TempDir dir;
  const auto file = dir.path() / "a.toml";
  ASSERT_EQ(write_file_atomic(file, "hello"), std::nullopt);
  std::string err;
  EXPECT_EQ(read_file(file, &err), "hello");
  struct stat st {};
  ASSERT_EQ(stat(file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(write_file_atomic(file, "second"), std::nullopt);
  EXPECT_EQ(read_file(file, &err), "second");
  // No temporary files are left behind.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(AtomicFile, ErrorNamesTheFailedStep) {
  auto e = write_file_atomic("/nonexistent-dir/x.toml", "x");
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->find("cannot create"), std::string::npos) << *e;
  EXPECT_NE(e->find("/nonexistent-dir"), std::string::npos) << *e;
}

TEST(AtomicFile, ReadRefusesOversizedFiles) {
  TempDir dir;
  const auto file = dir.path() / "big";
  ASSERT_EQ(write_file_atomic(file, std::string(2000, 'x')), std::nullopt);
  std::string err;
  EXPECT_EQ(read_file(file, &err, 1000), std::nullopt);
  EXPECT_NE(err.find("larger than 1000 bytes"), std::string::npos) << err;
}

// A writer killed with SIGKILL at a random instant leaves the old or the new file, never a mix or nothing.
TEST(AtomicFile, SurvivesKillNineDuringSave) {
  TempDir dir;
  const auto file = dir.path() / "config.toml";
  const std::string a(64 * 1024, 'a'), b(96 * 1024, 'b');
  ASSERT_EQ(write_file_atomic(file, a), std::nullopt);
  std::mt19937 rng(12345);
  int saw_a = 0, saw_b = 0;
  constexpr int kIterations = 200;
  for (int i = 0; i < kIterations; ++i) {
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      for (int n = 0;; ++n) (void)write_file_atomic(file, n % 2 ? a : b);
    }
    std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, 20000)(rng)));
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    std::string err;
    auto content = read_file(file, &err, 1 << 20);
    ASSERT_TRUE(content.has_value()) << "iteration " << i << ": " << err;
    ASSERT_TRUE(*content == a || *content == b) << "iteration " << i << ": torn file of " << content->size()
                                                << " bytes";
    (*content == a ? saw_a : saw_b)++;
  }
  // Both outcomes occurred, so the kill really landed at different points of the save.
  EXPECT_GT(saw_a, 0);
  EXPECT_GT(saw_b, 0);
  RecordProperty("old", saw_a);
  RecordProperty("new", saw_b);
}

}  // namespace
}  // namespace freehold
