#pragma once

// Where one site address is served. plan_sites (listeners, certificates) and
// the router (which site answers on which port) must agree, so both ask here.

#include <cstdint>

#include "core/config.h"

namespace usher::proxy {

/// The port and kind of listener that serves a site address.
struct ServedAddress {
  uint16_t port = 0;
  bool tls = false;
};

/// Caddy's rules: `http://` or the HTTP port means plain HTTP, an address
/// without a host name (`:8080`) too; everything else is HTTPS, on the HTTPS
/// port unless a port is given. With `auto_https off`, only `https://`
/// addresses and sites with an explicit `tls` are HTTPS.
ServedAddress serve_address(const core::SiteAddress& address, const core::Site& site,
                            const core::GlobalOptions& global);

}  // namespace usher::proxy
