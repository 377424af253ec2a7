// SPDX-License-Identifier: GPL-3.0-or-later
// Boost.Asio and Beast are compiled once here (BOOST_ASIO_SEPARATE_COMPILATION) instead of in every translation
// unit that includes them: this halves build time on a 2-core machine.
#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
