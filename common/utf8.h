// Counting characters in UTF-8 text (length limits in the API are in
// characters, not bytes). Kept apart from strings.h so that a change here
// does not rebuild every file.
//
// Thread safety: reentrant. Errors: none; invalid UTF-8 is counted as if
// well-formed (callers check validity where it matters).
#ifndef SCHAKEL_COMMON_UTF8_H_
#define SCHAKEL_COMMON_UTF8_H_

#include <cstddef>
#include <string_view>

namespace schakel {

// Characters (UTF-8 code points) in `text`: the bytes that do not continue
// a sequence.
inline size_t Utf8Chars(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_UTF8_H_
