// Free text that leaves a node (a disclosure's reason, an approver's
// reason) goes to the gateway in clear and into its exchange log, where no
// identifier may ever be. People do not always remember that, so such text
// is checked for what identifiers look like before it leaves:
//
//   if (auto kind = IdentifierShapeIn(reason)) {
//     return InvalidArgument(StrCat("reason: seems to hold ", *kind, "; ..."));
//   }
//
// Found: a run of 8 or more digits, possibly grouped by spaces or dots (a
// BSN, a phone number, a date written without separators; "2025-0041", a
// case number, is two runs); a
// Dutch postcode (1234 AB); a date (12-03-1984, 12/3/84, 1984-03-12). Names
// cannot be told from other words, so they are not found: the message to the
// user says so. The answer names the kind, never the text found.
//
// Thread safety: a pure function.
#ifndef SCHAKEL_COMMON_FREE_TEXT_H_
#define SCHAKEL_COMMON_FREE_TEXT_H_

#include <optional>
#include <regex>
#include <string_view>

namespace schakel {

inline std::optional<std::string_view> IdentifierShapeIn(std::string_view text) {
  static const std::regex kDate(
      R"((^|[^0-9])([0-9]{1,2}[-/.][0-9]{1,2}[-/.][0-9]{2,4}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})([^0-9]|$))");
  static const std::regex kPostcode(R"((^|[^0-9A-Za-z])[1-9][0-9]{3} ?[A-Za-z]{2}([^A-Za-z]|$))");
  if (std::regex_search(text.begin(), text.end(), kDate)) return "a date";
  if (std::regex_search(text.begin(), text.end(), kPostcode)) return "a postcode";
  size_t digits = 0;
  char previous = ' ';
  for (const char c : text) {
    if (c >= '0' && c <= '9') {
      if (++digits >= 8) return "a number of 8 or more digits";
    } else if (!((c == ' ' || c == '.') && previous >= '0' && previous <= '9')) {
      digits = 0;
    }
    previous = c;
  }
  return std::nullopt;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_FREE_TEXT_H_
