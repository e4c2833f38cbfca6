#pragma once

// The rule by which a worker frees what it keeps for reuse (idle upstream
// connections, relay buffers, HTTP/2 streams, nghttp2 blocks; decisions
// 0012 and 0019): what stayed in a list for a whole period went unused and
// goes; what was taken and given back meanwhile stays warm for a steady load.

#include <algorithm>
#include <cstddef>

namespace usher::proxy {

/// The fewest entries a free list held since the period began. Lists hand
/// out and take back at one end, so that many entries at the other end were
/// not touched in between. Taking costs one compare.
class LowWaterMark {
 public:
  /// The list holds `held` after an entry was taken (or removed).
  void note(size_t held) { fewest_ = std::min(fewest_, held); }
  /// Entries that stayed in the list the whole period.
  size_t unused() const { return fewest_; }
  /// Starts a period with `held` entries in the list.
  void restart(size_t held) { fewest_ = held; }

 private:
  size_t fewest_ = 0;  // the first period frees nothing
};

}  // namespace usher::proxy
