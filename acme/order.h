#pragma once

// Orders (RFC 8555 §7.4): one per certificate; created, polled, finalized
// with a CSR, and finally the certificate downloaded.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "acme/connection.h"
#include "acme/problem.h"

namespace usher::acme {

/// An order as the CA describes it.
struct Order {
  std::string url;
  std::string status;                    // pending, ready, processing, valid, invalid
  std::vector<std::string> identifiers;  // DNS names
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // once valid
  std::optional<Problem> error;
  std::optional<std::chrono::seconds> retry_after;  // from the response that returned it

  static Order from_json(const Json& json, std::string url);
};

/// Asks for a certificate covering `names`. `replaces` is the RFC 9773
/// certificate ID of the certificate this one renews ("" for none).
Order new_order(Connection& connection, const std::vector<std::string>& names,
                const std::string& replaces);

/// The current state of an order (POST-as-GET).
Order fetch_order(Connection& connection, const std::string& url);

/// Submits the CSR (DER) once the order is ready (RFC 8555 §7.4).
Order finalize_order(Connection& connection, const Order& order, const std::string& csr_der);

/// A downloaded certificate chain, and the URLs of the alternate chains the
/// CA offers (RFC 8555 §7.4.2, Link rel="alternate").
struct CertificateChain {
  std::string pem;
  std::vector<std::string> alternates;
};

/// Downloads the PEM chain at `url`.
CertificateChain download_certificate(Connection& connection, const std::string& url);

}  // namespace usher::acme
