#pragma once

#include <string_view>

namespace usher::proxy {

/// The current time as an IMF-fixdate (RFC 9110 §5.6.7), e.g.
/// "Sun, 06 Nov 1994 08:49:37 GMT". Formatted at most once per second per
/// thread; the view stays valid until the next call on the same thread.
std::string_view http_date_now();

}  // namespace usher::proxy
