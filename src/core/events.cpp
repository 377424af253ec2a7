// SPDX-License-Identifier: GPL-3.0-or-later
#include "core/events.hpp"

namespace freehold {

std::int64_t EventBus::publish(Event e) {
  e.id = next_id_++;
  signal_.emit(e);
  return e.id;
}

}  // namespace freehold
