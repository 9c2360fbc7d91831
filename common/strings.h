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
#include <string_view>
#include <type_traits>

#include "absl/strings/string_view.h"

namespace schakel {
namespace strings_internal {
// absl::string_view (what absl::Status::message() returns) as std::string_view.
template <typename T>
decltype(auto) Formattable(const T& v) {
  if constexpr (std::is_same_v<T, absl::string_view>) {
    return std::string_view(v.data(), v.size());
  } else {
    return (v);
  }
}
}  // namespace strings_internal

template <typename... Args>
std::string StrCat(const Args&... args) {
  std::string out;
  (fmt::format_to(std::back_inserter(out), "{}", strings_internal::Formattable(args)), ...);
  return out;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_STRINGS_H_
