#include "core/config.h"

namespace usher::core {

bool MatcherSet::empty() const {
  return paths.empty() && hosts.empty() && methods.empty() && headers.empty() && query.empty() &&
         remote_ip.empty() && client_ip.empty() && protocol.empty() && nots.empty();
}

// Route and SubrouteHandler refer to each other, so their comparisons are
// written out here where both types are complete.
bool SubrouteHandler::operator==(const SubrouteHandler& other) const {
  return routes == other.routes;
}

bool Route::operator==(const Route& other) const {
  return directive == other.directive && matcher_name == other.matcher_name &&
         match == other.match && group == other.group && handler == other.handler &&
         origin == other.origin;
}

}  // namespace usher::core
