// Names of the API's enum values as configuration files, messages and the
// CLI spell them ("analyst", "bsn", "contact_phone"): one table per enum,
// shared by the gateway's policy, the node's local policy and the
// disclosure code, so that a file valid for one is spelled the same for
// the other.
//
// Thread safety: constant data and pure functions.
#ifndef SCHAKEL_PROTO_NAMES_H_
#define SCHAKEL_PROTO_NAMES_H_

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "schakel/v1/common.pb.h"

namespace schakel::names {

template <typename Enum>
struct NamedValue {
  std::string_view name;
  Enum value;
};

inline constexpr std::array<NamedValue<v1::Role>, 6> kRoles{{
    {"professional", v1::ROLE_PROFESSIONAL},
    {"analyst", v1::ROLE_ANALYST},
    {"approver", v1::ROLE_APPROVER},
    {"director", v1::ROLE_DIRECTOR},
    {"auditor", v1::ROLE_AUDITOR},
    {"admin", v1::ROLE_ADMIN},
}};

inline constexpr std::array<NamedValue<v1::MatchKeyType>, 3> kKeyTypes{{
    {"bsn", v1::MATCH_KEY_TYPE_BSN},
    {"name_dob", v1::MATCH_KEY_TYPE_NAME_DOB},
    {"address", v1::MATCH_KEY_TYPE_ADDRESS},
}};

inline constexpr std::array<NamedValue<v1::SignalField>, 8> kSignalFields{{
    {"category", v1::SIGNAL_FIELD_CATEGORY},
    {"domain", v1::SIGNAL_FIELD_DOMAIN},
    {"registered_at", v1::SIGNAL_FIELD_REGISTERED_AT},
    {"expires_at", v1::SIGNAL_FIELD_EXPIRES_AT},
    {"contact_name", v1::SIGNAL_FIELD_CONTACT_NAME},
    {"contact_phone", v1::SIGNAL_FIELD_CONTACT_PHONE},
    {"contact_email", v1::SIGNAL_FIELD_CONTACT_EMAIL},
    {"free_text", v1::SIGNAL_FIELD_FREE_TEXT},
}};

// The name of `value`; "unspecified" for a value the table does not name.
template <typename Enum, size_t N>
std::string_view NameOf(const std::array<NamedValue<Enum>, N>& table, Enum value) {
  for (const auto& entry : table) {
    if (entry.value == value) return entry.name;
  }
  return "unspecified";
}

// The value named `name`, or nullopt.
template <typename Enum, size_t N>
std::optional<Enum> ValueOf(const std::array<NamedValue<Enum>, N>& table, std::string_view name) {
  for (const auto& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return std::nullopt;
}

// "a, b, c": every name, for messages that list what is accepted.
template <typename Enum, size_t N>
std::string NameList(const std::array<NamedValue<Enum>, N>& table) {
  std::string out;
  for (const auto& entry : table) {
    if (!out.empty()) out += ", ";
    out += entry.name;
  }
  return out;
}

}  // namespace schakel::names

#endif  // SCHAKEL_PROTO_NAMES_H_
