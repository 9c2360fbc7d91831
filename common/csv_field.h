// One field of a CSV line (RFC 4180) as written: in double quotes, with '"'
// doubled, when it holds a comma, a quote or a line break; as it is
// otherwise. Shared by the gateway's audit export and the demo's generator.
//
// Thread safety: a pure function.
#ifndef SCHAKEL_COMMON_CSV_FIELD_H_
#define SCHAKEL_COMMON_CSV_FIELD_H_

#include <string>
#include <string_view>

namespace schakel {

inline std::string CsvField(std::string_view value) {
  if (value.find_first_of(",\"\r\n") == std::string_view::npos) return std::string(value);
  std::string out = "\"";
  for (char c : value) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_CSV_FIELD_H_
