#include "acme/certs_report.h"

#include <algorithm>
#include <array>

#include "acme/certificate_state.h"
#include "acme/storage.h"
#include "acme/timestamp.h"

namespace usher::acme {

namespace {

// Errors longer than this are cut in the table; the state file has it all.
constexpr size_t kMaxErrorColumn = 80;

std::string time_or_dash(const std::optional<std::chrono::system_clock::time_point>& t) {
  return t ? format_rfc3339(*t) : "-";
}

// "https://acme-v02.api.letsencrypt.org/directory" → "acme-v02.api.letsencrypt.org"
std::string issuer_host(const std::string& url) {
  std::string_view rest = url;
  if (auto scheme = rest.find("://"); scheme != std::string_view::npos) {
    rest.remove_prefix(scheme + 3);
  }
  std::string host(rest.substr(0, rest.find('/')));
  return host.empty() ? "-" : host;
}

}  // namespace

std::vector<CertificateStatus> read_certificate_statuses(const std::string& data_dir) {
  core::SystemClock clock;  // only locks read the clock; none are taken here
  FileStorage storage(data_dir, clock);
  std::vector<CertificateStatus> out;
  for (const std::string& key : storage.list("certificates/")) {
    if (!key.ends_with(".json") || key.starts_with("certificates/local/")) continue;
    CertificateStatus status;
    try {
      CertificateState state = CertificateState::from_json(storage.get(key).value_or(""));
      status = {state.name,     state.issuer,   state.not_after, state.renew_at,
                state.next_try, state.attempts, state.last_error};
    } catch (const std::exception& e) {
      status.name = key;
      status.last_error = std::string("damaged state file: ") + e.what();
    }
    out.push_back(std::move(status));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::string format_certs_report(const std::vector<CertificateStatus>& statuses) {
  std::vector<std::array<std::string, 5>> rows{
      {"NAME", "ISSUER", "NOT AFTER", "NEXT RENEWAL", "LAST ERROR"}};
  for (const auto& s : statuses) {
    std::string next = s.attempts > 0 && s.next_try ? time_or_dash(s.next_try) + " (retry " +
                                                          std::to_string(s.attempts) + ")"
                                                    : time_or_dash(s.renew_at);
    std::string error = s.last_error.empty() ? "-" : s.last_error;
    if (error.size() > kMaxErrorColumn) error = error.substr(0, kMaxErrorColumn - 3) + "...";
    rows.push_back({s.name, issuer_host(s.issuer), time_or_dash(s.not_after), next, error});
  }
  std::array<size_t, 5> widths{};
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i)
      widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    out += line + "\n";
  }
  if (statuses.empty()) out += "(no acme certificates yet)\n";
  return out;
}

std::string certs_report(const std::string& data_dir) {
  return format_certs_report(read_certificate_statuses(data_dir));
}

}  // namespace usher::acme
