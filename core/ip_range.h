#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace usher::core {

/// The keyword that trusted_proxies, remote_ip and client_ip accept in place
/// of a CIDR, standing for every private and loopback range (as in Caddy).
inline constexpr std::string_view kPrivateRangesKeyword = "private_ranges";

/// An IPv4 or IPv6 address. IPv4 addresses are kept in the first four bytes.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool v4 = false;

  /// Parses `192.0.2.1`, `2001:db8::1` or `fe80::1%eth0` (the zone is
  /// accepted and dropped); nullopt when it is not an address.
  static std::optional<IpAddress> parse(std::string_view text);

  /// The IPv4 address inside an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`),
  /// which dual-stack sockets report for IPv4 peers; otherwise itself.
  IpAddress unmapped() const;

  bool operator==(const IpAddress&) const = default;
};

/// An address range: `10.0.0.0/8`, `2001:db8::/32`, or a single address
/// (`192.0.2.1` is `192.0.2.1/32`). Host bits may be set (`127.0.0.1/8`), as
/// Go's netip.ParsePrefix and so Caddy allow.
struct IpRange {
  IpAddress base;
  int prefix_len = 0;

  /// Parses a CIDR or a single address; nullopt when invalid.
  static std::optional<IpRange> parse(std::string_view text);

  /// True when `address` is inside the range; IPv4-mapped IPv6 addresses
  /// match IPv4 ranges.
  bool contains(const IpAddress& address) const;
};

/// The ranges `private_ranges` stands for.
std::span<const std::string_view> private_ranges();

/// Replaces every `private_ranges` keyword in `specs` with the ranges it
/// stands for; other entries are copied unchanged.
std::vector<std::string> expand_private_ranges(const std::vector<std::string>& specs);

/// True when `spec` is a valid CIDR, a single address or `private_ranges`.
bool is_valid_ip_range(std::string_view spec);

}  // namespace usher::core
