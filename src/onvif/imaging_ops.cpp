// SPDX-License-Identifier: GPL-3.0-or-later
// Imaging (ver20) and PTZ (ver20).
#include "onvif/ops.hpp"

namespace freehold::onvif {

const std::vector<Op>& imaging_ops() {
  static const std::vector<Op> ops = {};
  return ops;
}

}  // namespace freehold::onvif
