// SPDX-License-Identifier: GPL-3.0-or-later
// Polling for what another thread (an encoder, a stream) makes true: the tests' one way to wait, bounded.
#pragma once

#include <chrono>
#include <thread>

namespace freehold::test {

// Whether `pred` holds within `limit`, polled every 10 ms.
template <typename P>
bool eventually(P pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

}  // namespace freehold::test
