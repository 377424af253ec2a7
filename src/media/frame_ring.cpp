// SPDX-License-Identifier: GPL-3.0-or-later
#include "media/frame_ring.hpp"

#include <algorithm>
#include <stdexcept>

namespace freehold::media {

FrameRing::FrameRing(std::size_t capacity) : slots_(capacity) {
  if (capacity < 2) throw std::invalid_argument("FrameRing needs room for at least 2 frames");
}

FramePtr FrameRing::publish(EncodedFrame frame) {
  // Build the immutable frame outside the lock; only the pointer swap is inside.
  std::lock_guard lock(mutex_);
  frame.sequence = end_;
  auto ptr = std::make_shared<const EncodedFrame>(std::move(frame));
  FramePtr evicted = std::move(slots_[end_ % slots_.size()]);
  slots_[end_ % slots_.size()] = ptr;
  if (ptr->keyframe) {
    last_keyframe_ = end_;
    have_keyframe_ = true;
    pinned_keyframe_.reset();
  } else if (have_keyframe_ && evicted && evicted->sequence == last_keyframe_) {
    pinned_keyframe_ = std::move(evicted);  // the GOP outgrew the ring: keep its keyframe for new readers
  }
  ++end_;
  return ptr;
}

std::uint64_t FrameRing::begin_locked() const { return end_ > slots_.size() ? end_ - slots_.size() : 0; }

std::uint64_t FrameRing::end() const {
  std::lock_guard lock(mutex_);
  return end_;
}

FrameRing::Cursor FrameRing::join() const {
  std::lock_guard lock(mutex_);
  Cursor c;
  if (have_keyframe_) {
    c.next = last_keyframe_;
    c.need_keyframe = true;  // the frame at `next` is one, so nothing is skipped
  } else {
    c.next = end_;
  }
  return c;
}

void FrameRing::read(Cursor& cursor, std::vector<FramePtr>& out, std::size_t max_lag, std::size_t max_frames) const {
  // Frames skipped before a reader's first frame were never its to lose.
  auto skip_to = [&cursor](std::uint64_t seq) {
    if (cursor.delivered > 0) cursor.dropped += seq - cursor.next;
    cursor.next = seq;
  };
  auto deliver = [&cursor, &out](const FramePtr& f) {
    out.push_back(f);
    cursor.next = f->sequence + 1;
    cursor.need_keyframe = false;
    ++cursor.delivered;
  };
  std::lock_guard lock(mutex_);
  const std::uint64_t begin = begin_locked();
  const bool too_far = cursor.next < end_ && end_ - cursor.next > max_lag;
  const bool overwritten = cursor.next < begin;
  if ((too_far || overwritten) && !cursor.need_keyframe) {
    cursor.need_keyframe = true;
    ++cursor.drops;
  }
  if (cursor.need_keyframe && too_far) {
    // Jump to the newest keyframe: older frames would only deepen the lag.
    if (have_keyframe_ && last_keyframe_ > cursor.next) skip_to(last_keyframe_);
  }
  // The pinned keyframe of an over-long GOP is still deliverable after its slot was reused.
  size_t taken = 0;
  if (cursor.need_keyframe && pinned_keyframe_ && cursor.next <= last_keyframe_ && last_keyframe_ < begin &&
      max_frames > 0) {
    skip_to(last_keyframe_);
    deliver(pinned_keyframe_);
    ++taken;
  }
  if (cursor.next < begin) skip_to(begin);  // what the reader wanted is gone
  while (cursor.next < end_ && taken < max_frames) {
    const FramePtr& f = slots_[cursor.next % slots_.size()];
    if (cursor.need_keyframe && !f->keyframe) {
      skip_to(cursor.next + 1);
      continue;
    }
    deliver(f);
    ++taken;
  }
}

}  // namespace freehold::media
