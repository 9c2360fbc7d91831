#include "cli/proto_text.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <chrono>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "cli/table.h"
#include "schakel/v1/common.pb.h"

namespace schakel::cli {
namespace {

using google::protobuf::EnumDescriptor;
using google::protobuf::EnumValueDescriptor;
using google::protobuf::Timestamp;
using google::protobuf::util::TimeUtil;

// "ROLE_" for Role: the zero value's name without "UNSPECIFIED".
std::string Prefix(const EnumDescriptor& type) {
  const EnumValueDescriptor* zero = type.FindValueByNumber(0);
  if (zero == nullptr) return {};
  const std::string& name = zero->name();
  constexpr std::string_view kUnspecified = "UNSPECIFIED";
  if (name.size() >= kUnspecified.size() &&
      name.compare(name.size() - kUnspecified.size(), kUnspecified.size(), kUnspecified) == 0) {
    return name.substr(0, name.size() - kUnspecified.size());
  }
  return {};
}

std::string ShortOf(const EnumValueDescriptor& value, const std::string& prefix) {
  std::string name = value.name();
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

bool AllDigits(std::string_view s) {
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return !s.empty();
}

}  // namespace

std::string EnumShortName(const EnumDescriptor& type, int number) {
  const EnumValueDescriptor* value = type.FindValueByNumber(number);
  if (value == nullptr) return StrCat(number);
  return ShortOf(*value, Prefix(type));
}

absl::StatusOr<int> ParseEnumShortName(const EnumDescriptor& type, std::string_view text,
                                       std::string_view field) {
  std::string wanted(text);
  for (char& c : wanted) {
    c = c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  const std::string prefix = Prefix(type);
  for (int i = 0; i < type.value_count(); ++i) {
    const EnumValueDescriptor& value = *type.value(i);
    if (value.number() != 0 && ShortOf(value, prefix) == wanted) return value.number();
  }
  return absl::InvalidArgumentError(StrCat(field, ": not one of: ", EnumShortNames(type)));
}

std::string EnumShortNames(const EnumDescriptor& type) {
  const std::string prefix = Prefix(type);
  std::string list;
  for (int i = 0; i < type.value_count(); ++i) {
    if (type.value(i)->number() == 0) continue;
    list += StrCat(list.empty() ? "" : ", ", ShortOf(*type.value(i), prefix));
  }
  return list;
}

absl::StatusOr<Timestamp> ParseTime(std::string_view text, std::string_view field) {
  const auto bad = [&] {
    return absl::InvalidArgumentError(
        StrCat(field, ": not a date (YYYY-MM-DD) or an RFC 3339 time (2025-03-01T12:00:00Z)"));
  };
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && AllDigits(text.substr(0, 4)) &&
      AllDigits(text.substr(5, 2)) && AllDigits(text.substr(8, 2))) {
    const int y = std::stoi(std::string(text.substr(0, 4)));
    const unsigned m = static_cast<unsigned>(std::stoi(std::string(text.substr(5, 2))));
    const unsigned d = static_cast<unsigned>(std::stoi(std::string(text.substr(8, 2))));
    const std::chrono::year_month_day date{std::chrono::year(y), std::chrono::month(m),
                                           std::chrono::day(d)};
    if (!date.ok()) return bad();
    const std::chrono::sys_days days(date);
    Timestamp time;
    time.set_seconds(static_cast<int64_t>(days.time_since_epoch().count()) * 86400);
    return time;
  }
  Timestamp time;
  if (text.size() < 20 || !TimeUtil::FromString(std::string(text), &time)) return bad();
  return time;
}

std::string FormatTime(const Timestamp& time) {
  if (time.seconds() == 0 && time.nanos() == 0) return "-";
  Timestamp whole;
  whole.set_seconds(time.seconds());
  return TimeUtil::ToString(whole);
}

std::string FormatDate(const Timestamp& time) {
  const std::string full = FormatTime(time);
  return full == "-" ? full : full.substr(0, 10);
}

std::string ToJson(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  options.add_whitespace = pretty;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(message, &json, options).ok()) return "{}";
  if (pretty && !json.empty() && json.back() == '\n') json.pop_back();
  return json;
}

std::string DetailWithReasons(const google::protobuf::RepeatedField<int>& denial_reasons,
                              const std::string& detail) {
  std::vector<std::string> names;
  for (int r : denial_reasons) names.push_back(EnumName(static_cast<schakel::v1::DenialReason>(r)));
  if (names.empty()) return detail;
  return StrCat(JoinList(names, ","), detail.empty() ? "" : ": ", detail);
}

}  // namespace schakel::cli
