// Helpers shared by the crypto unit tests.
#ifndef SCHAKEL_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
#define SCHAKEL_TESTS_UNIT_CRYPTO_TEST_UTIL_H_

#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/bytes.h"

namespace schakel::crypto::testing {

inline Bytes HexOrDie(std::string_view hex) {
  auto b = FromHex(hex);
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *b : Bytes{};
}

// Reads a file of hex strings, one per line, skipping blanks and '#' lines.
inline std::vector<Bytes> ReadHexLines(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::vector<Bytes> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    out.push_back(HexOrDie(line));
  }
  return out;
}

inline std::string DataPath(const std::string& name) {
  return std::string(SCHAKEL_TEST_DATA_DIR) + "/" + name;
}

// Matches an absl::Status(Or) with the given code whose message contains
// `fragment`.
MATCHER_P2(StatusIs, code, fragment, "") {
  const absl::Status& s = [&]() -> const absl::Status& {
    if constexpr (requires { arg.status(); }) {
      return arg.status();
    } else {
      return arg;
    }
  }();
  if (s.code() != code) {
    *result_listener << "code is " << absl::StatusCodeToString(s.code()) << ": " << s.message();
    return false;
  }
  if (std::string(s.message()).find(fragment) == std::string::npos) {
    *result_listener << "message is \"" << s.message() << "\"";
    return false;
  }
  return true;
}

}  // namespace schakel::crypto::testing

#endif  // SCHAKEL_TESTS_UNIT_CRYPTO_TEST_UTIL_H_
