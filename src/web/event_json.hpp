// SPDX-License-Identifier: GPL-3.0-or-later
// Events as the REST API shows them (docs/rest-api.md, "Events"): one JSON form for the server-sent events stream
// and the history, and the parser of the history's query parameters (untrusted: fuzzed by event_query_fuzz).
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/event_store.hpp"
#include "web/http.hpp"

namespace freehold::web {

// 2026-11-24T10:00:00.250Z
[[nodiscard]] std::string format_utc_ms(std::chrono::system_clock::time_point t);

// An ISO-8601 UTC time (YYYY-MM-DDTHH:MM:SS, an optional fraction, then Z) or Unix milliseconds; nullopt with
// `error` saying what is wrong otherwise. Accepted: 1970 to the end of 2261 (the clock's 64-bit nanoseconds).
[[nodiscard]] std::optional<std::chrono::system_clock::time_point> parse_time(std::string_view text,
                                                                              std::string* error);

// `has_snapshot`: the snapshot URL is given (else null).
[[nodiscard]] nlohmann::json event_json(const Event& e, bool has_snapshot);

inline constexpr int kMaxHistoryPage = 500;

// ?since=&type=&limit=&before= of GET /api/v1/events; nullopt with `error` naming the bad parameter.
[[nodiscard]] std::optional<EventStore::Query> parse_history_query(const Request& req, std::string* error);

// An event id in a path or a Last-Event-ID header: 1..18 decimal digits.
[[nodiscard]] std::optional<std::int64_t> parse_event_id(std::string_view text);

}  // namespace freehold::web
