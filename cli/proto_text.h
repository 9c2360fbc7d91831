// Proto values as the CLI shows them and reads them from flags and files:
// enum values by short name, times, JSON.
//
// Enum short names come from the .proto itself: the value name without the
// enum's prefix, lower case ("ROLE_ANALYST" -> "analyst",
// "LOCAL_EVENT_KIND_MATCH_RUN" -> "match_run"). Parsing accepts any case and
// '-' for '_'; the *_UNSPECIFIED value is never accepted. So the names in
// docs/cli.md and `--help` are always those of the contract.
//
// Times: the CLI reads "YYYY-MM-DD" (00:00 UTC of that day) or an RFC 3339
// time ("2025-03-01T12:00:00Z", "2025-03-01T13:00:00+01:00") and shows UTC.
//
// JSON: --json output is the proto3 JSON mapping with the .proto's field
// names (snake_case), default values included, so that scripts see
// "hit": false and not a missing key.
//
// Errors: INVALID_ARGUMENT naming the field and what is accepted; a
// message never repeats the value (it may come from a file of identifiers).
//
// Thread safety: reentrant.
#ifndef SCHAKEL_CLI_PROTO_TEXT_H_
#define SCHAKEL_CLI_PROTO_TEXT_H_

#include <google/protobuf/generated_enum_reflection.h>
#include <google/protobuf/message.h>
#include <google/protobuf/repeated_field.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace schakel::cli {

// Short name of enum value `number` of `type` ("analyst"); "unspecified"
// for the zero value; the decimal number for a value the descriptor lacks.
std::string EnumShortName(const google::protobuf::EnumDescriptor& type, int number);

// The number of the value whose short name is `text` (case-insensitive, '-'
// as '_'), never the zero value. Errors: INVALID_ARGUMENT "<field>: not one
// of: a, b, c".
absl::StatusOr<int> ParseEnumShortName(const google::protobuf::EnumDescriptor& type,
                                       std::string_view text, std::string_view field);

// "a, b, c": every short name but the zero value's, for help texts.
std::string EnumShortNames(const google::protobuf::EnumDescriptor& type);

template <typename E>
std::string EnumName(E value) {
  return EnumShortName(*google::protobuf::GetEnumDescriptor<E>(), static_cast<int>(value));
}

template <typename E>
absl::StatusOr<E> ParseEnumName(std::string_view text, std::string_view field) {
  auto number = ParseEnumShortName(*google::protobuf::GetEnumDescriptor<E>(), text, field);
  if (!number.ok()) return number.status();
  return static_cast<E>(*number);
}

template <typename E>
std::string EnumNames() {
  return EnumShortNames(*google::protobuf::GetEnumDescriptor<E>());
}

// Parses "YYYY-MM-DD" (00:00 UTC) or RFC 3339. Errors: INVALID_ARGUMENT
// "<field>: not a date (YYYY-MM-DD) or an RFC 3339 time".
absl::StatusOr<google::protobuf::Timestamp> ParseTime(std::string_view text,
                                                      std::string_view field);

// "2025-03-01T12:00:00Z" (UTC, fractions of a second left out); "-" when
// unset (seconds and nanos zero).
std::string FormatTime(const google::protobuf::Timestamp& time);
// "2025-03-01" (UTC); "-" when unset.
std::string FormatDate(const google::protobuf::Timestamp& time);

// A log record's detail with its denial reasons in front:
// "QUOTA_EXCEEDED,ROLE_NOT_ALLOWED: <detail>"; the detail alone without
// reasons.
std::string DetailWithReasons(const google::protobuf::RepeatedField<int>& denial_reasons,
                              const std::string& detail);

// The proto3 JSON of `message` (see the top of this file), on one line, or
// indented by two spaces when `pretty`.
std::string ToJson(const google::protobuf::Message& message, bool pretty = false);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_PROTO_TEXT_H_
