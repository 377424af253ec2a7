// SPDX-License-Identifier: GPL-3.0-or-later
// Runs a blocking function (argon2id hashing) on a worker executor and resumes the awaiting coroutine on its own
// executor. Deliberately not a coroutine itself: GCC 12 destroys the captures of lambda coroutines passed to
// co_spawn twice, so the work travels as a plain function object through async_initiate instead.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <exception>
#include <functional>
#include <utility>

namespace freehold::web {

template <typename R>
auto offload(boost::asio::any_io_executor worker, std::function<R()> work) {
  namespace asio = boost::asio;
  return asio::async_initiate<const asio::use_awaitable_t<>&, void(std::exception_ptr, R)>(
      [worker](auto handler, std::function<R()> w) {
        auto home = asio::get_associated_executor(handler);
        asio::post(worker, [handler = std::move(handler), home, w = std::move(w)]() mutable {
          std::exception_ptr error;
          R result{};
          try {
            result = w();
          } catch (...) {
            error = std::current_exception();
          }
          asio::post(home, [handler = std::move(handler), error, result = std::move(result)]() mutable {
            std::move(handler)(error, std::move(result));
          });
        });
      },
      asio::use_awaitable, std::move(work));
}

}  // namespace freehold::web
