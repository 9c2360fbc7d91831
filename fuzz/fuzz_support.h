// What the fuzz targets share: reading the fuzzer's bytes as a choice (the
// first byte) and the rest, and checks that abort on a broken promise (an
// abort is a finding: libFuzzer keeps the input as crash-*).
//
// Thread safety: plain functions over the caller's bytes.
#ifndef SCHAKEL_FUZZ_FUZZ_SUPPORT_H_
#define SCHAKEL_FUZZ_FUZZ_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <initializer_list>
#include <string>
#include <string_view>

namespace schakel::fuzz {

// The first byte modulo `choices`, and the bytes after it.
struct Choice {
  unsigned which = 0;
  std::string_view rest;
};
inline Choice Choose(const uint8_t* data, size_t size, unsigned choices) {
  if (size == 0) return {0, {}};
  return {static_cast<unsigned>(data[0] % choices),
          std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1)};
}

// Aborts with `what` when `ok` is false.
inline void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz check failed: %s\n", what);
    std::abort();
  }
}

// `s` with every ASCII digit and letter replaced by the next one (9 -> 0,
// z -> a): text of the same shape with other values.
inline std::string Rotate(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= '0' && c <= '9') c = c == '9' ? '0' : static_cast<char>(c + 1);
    if (c >= 'a' && c <= 'z') c = c == 'z' ? 'a' : static_cast<char>(c + 1);
    if (c >= 'A' && c <= 'Z') c = c == 'Z' ? 'A' : static_cast<char>(c + 1);
  }
  return out;
}

// Error messages never repeat what was given (identifiers end up in logs).
// `message_of(v)` is the message for the input with `value` replaced by v.
// Aborts when the message for `value` contains it and the message for
// Rotate(value) contains that too: a message that happens to contain the
// value (the fuzzer copies text from messages) does not also contain
// another value. Short values are skipped: they occur in any text.
template <typename MessageOf>
void CheckNotRepeated(MessageOf message_of, std::string_view value, const char* what) {
  if (value.size() < 8 || Rotate(value) == value) return;
  if (message_of(value).find(value) == std::string::npos) return;
  const std::string other = Rotate(value);
  if (message_of(other).find(other) == std::string::npos) return;
  std::fprintf(stderr, "fuzz check failed: %s: the message repeats the input\n", what);
  std::abort();
}

// The one T of this process, made on first use and destroyed at exit
// (fixtures: a server with its temporary directory).
template <typename T>
T& Fixture() {
  static T* fixture = [] {
    T* made = new T();
    std::atexit([] { delete fixture; });
    return made;
  }();
  return *fixture;
}

// A fixture's fatal set-up problem.
inline void SetupFailed(std::string_view what) {
  std::fprintf(stderr, "fuzz set-up failed: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

// A test PKI in `dir` made by deploy/pki.sh: its CA and one key and
// certificate per organisation (DIR/ORG.pem, DIR/ORG.key).
inline void MakePki(const std::filesystem::path& dir, std::initializer_list<std::string_view> orgs) {
  const std::string script = (std::filesystem::path(SCHAKEL_SOURCE_DIR) / "deploy/pki.sh").string();
  auto run = [&](const std::string& args) {
    const std::string command = "'" + script + "' '" + dir.string() + "' " + args + " >/dev/null 2>&1";
    if (std::system(command.c_str()) != 0) SetupFailed("deploy/pki.sh " + args);
  };
  run("ca");
  for (std::string_view org : orgs) run("org " + std::string(org));
}

}  // namespace schakel::fuzz

#endif  // SCHAKEL_FUZZ_FUZZ_SUPPORT_H_
