// Counting characters in UTF-8 text (length limits in the API are in
// characters, not bytes). Kept apart from strings.h so that a change here
// does not rebuild every file.
//
// Thread safety: reentrant. Errors: none; Utf8Chars counts invalid UTF-8 as
// if well-formed (callers check validity with Utf8Valid where it matters, or
// repair it with ValidUtf8).
#ifndef SCHAKEL_COMMON_UTF8_H_
#define SCHAKEL_COMMON_UTF8_H_

#include <utf8proc.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace schakel {

// Characters (UTF-8 code points) in `text`: the bytes that do not continue
// a sequence.
inline size_t Utf8Chars(std::string_view text) {
  size_t n = 0;
  for (char c : text) n += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return n;
}

// Whether `text` is well-formed UTF-8 (utf8proc's decoder: no overlong
// forms, surrogates or code points above U+10FFFF).
inline bool Utf8Valid(std::string_view text) {
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t code_point = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, left, &code_point);
    if (n <= 0) return false;
    p += n;
    left -= n;
  }
  return true;
}

// `text` with every byte that does not begin a well-formed sequence (by
// Utf8Valid's rule) replaced by U+FFFD, so that text from outside (a peer's
// gRPC status message) can go into a protobuf string field, which must be
// valid UTF-8 to be read back. Well-formed text comes back unchanged.
inline std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  const auto* p = reinterpret_cast<const utf8proc_uint8_t*>(text.data());
  utf8proc_ssize_t left = static_cast<utf8proc_ssize_t>(text.size());
  while (left > 0) {
    utf8proc_int32_t code_point = 0;
    utf8proc_ssize_t n = utf8proc_iterate(p, left, &code_point);
    if (n <= 0) {
      out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER
      n = 1;
    } else {
      out.append(reinterpret_cast<const char*>(p), static_cast<size_t>(n));
    }
    p += n;
    left -= n;
  }
  return out;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_UTF8_H_
