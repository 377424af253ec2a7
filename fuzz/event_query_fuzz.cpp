// SPDX-License-Identifier: GPL-3.0-or-later
// Fuzzes what a client sends to the event history: the query string of GET /api/v1/events (since, type, limit,
// before), the time parser on its own and the event ids of paths and Last-Event-ID. A parse either succeeds with
// values in range or fails with a printable message; an accepted time formats back without overflow.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "web/event_json.hpp"

using namespace freehold;

namespace {

void check_message(const std::string& error) {
  if (error.empty()) std::abort();
  for (unsigned char c : error) {
    if (c < 0x20 || c >= 0x7f) std::abort();  // goes into JSON: must be valid UTF-8 (ASCII here)
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  if (size > 4096) return -1;
  const std::string input(reinterpret_cast<const char*>(data), size);

  web::Request req;
  req.query = input;
  std::string error;
  if (auto q = web::parse_history_query(req, &error)) {
    if (q->limit < 1 || q->limit > web::kMaxHistoryPage || q->before_id < 0 || q->types.size() > 4) std::abort();
    if (q->since) (void)web::format_utc_ms(*q->since);
  } else {
    check_message(error);
  }

  error.clear();
  if (auto t = web::parse_time(input, &error)) {
    const std::string shown = web::format_utc_ms(*t);
    // A time it shows, it reads back to the same millisecond.
    std::string again;
    auto back = web::parse_time(shown, &again);
    if (!back || web::format_utc_ms(*back) != shown) std::abort();
  } else {
    check_message(error);
  }

  if (auto id = web::parse_event_id(input); id && *id <= 0) std::abort();
  return 0;
}
