#include "core/ip_range.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace usher::core {
namespace {

// What `private_ranges` expands to: RFC 1918, loopback and IPv6 unique local
// and loopback addresses, the same list Caddy uses so configs behave alike.
constexpr std::string_view kPrivateRanges[] = {
    "192.168.0.0/16", "172.16.0.0/12", "10.0.0.0/8", "127.0.0.1/8", "fd00::/8", "::1",
};

// Longest text inet_pton may be handed: a full IPv6 address with an embedded
// IPv4 suffix is 45 characters; anything longer is not an address.
constexpr size_t kMaxAddressText = 45;

// The first 12 bytes of an IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2).
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool pton(int family, std::string_view text, uint8_t* out) {
  if (text.empty() || text.size() > kMaxAddressText) return false;
  char buffer[kMaxAddressText + 1];
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  return inet_pton(family, buffer, out) == 1;
}

std::optional<int> parse_prefix_len(std::string_view text, int max) {
  if (text.empty() || text.size() > 3) return std::nullopt;
  int value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < 0 || value > max)
    return std::nullopt;
  // "08" is not a prefix length Go would accept; leading zeros are refused.
  if (text.size() > 1 && text[0] == '0') return std::nullopt;
  return value;
}

}  // namespace

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  IpAddress address;
  if (pton(AF_INET, text, address.bytes.data())) {
    address.v4 = true;
    return address;
  }
  // A zone (`%eth0`) only qualifies link-local IPv6 addresses; it is not part
  // of the address and plays no role in range matching.
  if (auto zone = text.find('%'); zone != std::string_view::npos) {
    if (zone + 1 == text.size()) return std::nullopt;
    text = text.substr(0, zone);
  }
  if (pton(AF_INET6, text, address.bytes.data())) return address;
  return std::nullopt;
}

IpAddress IpAddress::unmapped() const {
  if (v4 || std::memcmp(bytes.data(), kV4MappedPrefix.data(), kV4MappedPrefix.size()) != 0)
    return *this;
  IpAddress out;
  out.v4 = true;
  std::memcpy(out.bytes.data(), bytes.data() + kV4MappedPrefix.size(), 4);
  return out;
}

std::optional<IpRange> IpRange::parse(std::string_view text) {
  auto slash = text.find('/');
  auto address_text = text.substr(0, slash);
  // Zones are meaningless in a CIDR; Go's ParsePrefix refuses them too.
  if (slash != std::string_view::npos && address_text.find('%') != std::string_view::npos)
    return std::nullopt;
  auto address = IpAddress::parse(address_text);
  if (!address) return std::nullopt;
  int max = address->v4 ? 32 : 128;
  IpRange range{*address, max};
  if (slash == std::string_view::npos) return range;
  auto len = parse_prefix_len(text.substr(slash + 1), max);
  if (!len) return std::nullopt;
  range.prefix_len = *len;
  return range;
}

bool IpRange::contains(const IpAddress& address) const {
  IpAddress candidate = base.v4 ? address.unmapped() : address;
  if (candidate.v4 != base.v4) return false;
  int full_bytes = prefix_len / 8;
  if (std::memcmp(candidate.bytes.data(), base.bytes.data(), static_cast<size_t>(full_bytes)) != 0)
    return false;
  int rest_bits = prefix_len % 8;
  if (rest_bits == 0) return true;
  auto mask = static_cast<uint8_t>(0xff << (8 - rest_bits));
  auto index = static_cast<size_t>(full_bytes);
  return (candidate.bytes[index] & mask) == (base.bytes[index] & mask);
}

std::span<const std::string_view> private_ranges() {
  return kPrivateRanges;
}

std::vector<std::string> expand_private_ranges(const std::vector<std::string>& specs) {
  std::vector<std::string> out;
  for (const auto& spec : specs) {
    if (spec != kPrivateRangesKeyword) {
      out.push_back(spec);
      continue;
    }
    for (auto range : kPrivateRanges)
      out.emplace_back(range);
  }
  return out;
}

bool is_valid_ip_range(std::string_view spec) {
  return spec == kPrivateRangesKeyword || IpRange::parse(spec).has_value();
}

}  // namespace usher::core
