// String building for messages.
//
// Debian's Abseil is built with its own absl::string_view, so absl::StrCat
// does not take std::string_view. StrCat here accepts anything fmt can format
// (strings, string_views, numbers) and is what the project uses to build
// error messages.
//
// Thread safety: reentrant.
#ifndef SCHAKEL_COMMON_STRINGS_H_
#define SCHAKEL_COMMON_STRINGS_H_

#include <fmt/format.h>

#include <iterator>
#include <string>

namespace schakel {

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", args), ...);
  return out;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_STRINGS_H_
