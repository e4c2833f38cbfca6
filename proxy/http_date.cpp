#include "proxy/http_date.h"

#include <ctime>

namespace usher::proxy {

std::string_view http_date_now() {
  thread_local std::time_t cached_second = 0;
  thread_local char text[32];
  thread_local size_t length = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm utc{};
    gmtime_r(&now, &utc);
    length = std::strftime(text, sizeof text, "%a, %d %b %Y %H:%M:%S GMT", &utc);
    cached_second = now;
  }
  return {text, length};
}

}  // namespace usher::proxy
