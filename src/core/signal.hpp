// SPDX-License-Identifier: GPL-3.0-or-later
// A minimal single-threaded publish/subscribe list. A Subscription unsubscribes when destroyed, so an adapter that
// goes away can never be called again. Subscribing or unsubscribing during emit() is allowed.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>

namespace freehold {

template <typename Event>
class Signal final {
 public:
  using Handler = std::function<void(const Event&)>;

  class Subscription final {
   public:
    Subscription() = default;
    Subscription(Subscription&& o) noexcept : list_(std::move(o.list_)), id_(o.id_) {}
    Subscription& operator=(Subscription&& o) noexcept {
      reset();
      list_ = std::move(o.list_);
      id_ = o.id_;
      return *this;
    }
    Subscription(const Subscription&) = delete;
    Subscription& operator=(const Subscription&) = delete;
    ~Subscription() { reset(); }
    void reset() {
      if (auto l = list_.lock()) l->erase(id_);
      list_.reset();
    }

   private:
    friend class Signal;
    Subscription(std::weak_ptr<std::map<std::uint64_t, Handler>> l, std::uint64_t id) : list_(std::move(l)), id_(id) {}
    std::weak_ptr<std::map<std::uint64_t, Handler>> list_;
    std::uint64_t id_ = 0;
  };

  [[nodiscard]] Subscription subscribe(Handler h) {
    auto id = next_id_++;
    handlers_->emplace(id, std::move(h));
    return Subscription(handlers_, id);
  }

  void emit(const Event& e) const {
    // Handlers may unsubscribe (themselves or others) while we iterate: walk by id, re-finding each time.
    std::uint64_t id = 0;
    for (;;) {
      auto it = handlers_->upper_bound(id);
      if (it == handlers_->end()) break;
      id = it->first;
      Handler h = it->second;  // copy: the entry may be erased by the call
      h(e);
    }
  }

  [[nodiscard]] size_t size() const { return handlers_->size(); }

 private:
  std::shared_ptr<std::map<std::uint64_t, Handler>> handlers_ = std::make_shared<std::map<std::uint64_t, Handler>>();
  std::uint64_t next_id_ = 1;
};

}  // namespace freehold
