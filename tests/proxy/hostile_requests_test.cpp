// The differential corpus: requests that some server somewhere reads
// differently from another (CL.TE, TE.CL, TE.TE obfuscations, line-ending and
// whitespace tricks, chunk framing abuse). Each must be rejected, with the
// error and status its line in testdata/hostile/EXPECTED names.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "proxy/chunked_decoder.h"
#include "proxy/http1_parser.h"
#include "proxy/http_error.h"
#include "tests/test_files.h"

namespace usher::proxy {
namespace {

using ::usher::test_support::read_file;

const std::filesystem::path kCorpusDir = std::filesystem::path(USHER_TESTDATA_DIR) / "hostile";

/// One manifest line: `<file> <http_errc name> <status>`.
struct Expectation {
  std::string file;
  std::string error;
  int status = 0;
};

/// Lets gtest print a case by its line rather than its bytes.
void PrintTo(const Expectation& e, std::ostream* os) {
  *os << e.file << " " << e.error << " " << e.status;
}

std::vector<Expectation> read_manifest() {
  std::vector<Expectation> expectations;
  std::ifstream in(kCorpusDir / "EXPECTED");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line.front() == '#') continue;
    std::istringstream fields(line);
    Expectation e;
    fields >> e.file >> e.error >> e.status;
    expectations.push_back(e);
  }
  return expectations;
}

/// How the proxy's front end ends a request: the head parser's error, or for
/// a chunked body the decoder's; empty if the request was accepted.
std::error_code reject_reason(const std::string& request) {
  Http1RequestParser parser;
  const ParseResult result = parser.parse({request.data(), request.size()});
  if (result.status == ParseStatus::kError) return result.error;
  if (result.status == ParseStatus::kNeedMore) return {};
  if (parser.head().body_kind != BodyKind::kChunked) return {};
  ChunkedDecoder decoder;
  std::span<const char> body(request.data() + parser.head().head_bytes,
                             request.size() - parser.head().head_bytes);
  while (!body.empty()) {
    const ChunkedDecoder::Step step = decoder.decode(body);
    if (step.error || step.done || step.consumed == 0) return step.error;
    body = body.subspan(step.consumed);
  }
  return {};
}

TEST(HostileRequests, ManifestAndCorpusListTheSameFiles) {
  std::set<std::string> listed;
  for (const Expectation& e : read_manifest()) {
    EXPECT_TRUE(listed.insert(e.file).second) << e.file << " is listed twice";
    EXPECT_TRUE(std::filesystem::exists(kCorpusDir / e.file)) << e.file << " has no file";
  }
  std::size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kCorpusDir)) {
    const std::string name = entry.path().filename().string();
    if (name == "EXPECTED") continue;
    ++files;
    EXPECT_TRUE(listed.contains(name)) << name << " is not in EXPECTED";
  }
  EXPECT_GE(files, 100u);
}

class HostileRequest : public testing::TestWithParam<Expectation> {};

TEST_P(HostileRequest, IsRejectedAsListed) {
  const Expectation& e = GetParam();
  const std::filesystem::path path = kCorpusDir / e.file;
  ASSERT_TRUE(std::filesystem::exists(path)) << e.file;
  const std::error_code ec = reject_reason(read_file(path));
  ASSERT_TRUE(ec) << e.file << " was accepted";
  ASSERT_EQ(ec.category(), http_category());
  EXPECT_EQ(http_errc_name(static_cast<http_errc>(ec.value())), e.error) << ec.message();
  EXPECT_EQ(http_status(ec), e.status);
}

INSTANTIATE_TEST_SUITE_P(Corpus, HostileRequest, testing::ValuesIn(read_manifest()),
                         [](const testing::TestParamInfo<Expectation>& param) {
                           std::string name = param.param.file;
                           name = name.substr(0, name.find('.'));
                           return name;
                         });

}  // namespace
}  // namespace usher::proxy
