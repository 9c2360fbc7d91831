#include "nodes/subject_keys.h"

#include <map>
#include <optional>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/strings.h"

namespace schakel::nodes {

crypto::SubjectIdentifiers SubjectIdentifiersOf(const v1::Subject& subject) {
  crypto::SubjectIdentifiers ids;
  auto given = [](const std::string& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    return s;
  };
  ids.bsn = given(subject.bsn());
  ids.given_names = given(subject.given_names());
  if (!subject.surname().empty()) {
    ids.surname = subject.surname_prefix().empty()
                      ? subject.surname()
                      : StrCat(subject.surname_prefix(), " ", subject.surname());
  }
  ids.birth_date = given(subject.birth_date());
  const v1::Address& address = subject.address();
  if (!address.postcode().empty() || address.house_number() != 0) {
    ids.postcode = address.postcode();
    ids.house_number = address.house_number() == 0
                           ? std::string()
                           : StrCat(address.house_number(), address.house_number_suffix());
  }
  return ids;
}

std::vector<SubjectFieldProblem> SubjectKeyProblems(absl::string_view message) {
  // The names crypto/match_keys.h puts before its problems, and the subject
  // field each stands for ("" for the subject as a whole).
  static const std::map<std::string, std::string, std::less<>> kFields = {
      {"bsn", "bsn"},
      {"given_names", "given_names"},
      {"surname", "surname"},
      {"birth_date", "birth_date"},
      {"postcode", "address.postcode"},
      {"house_number", "address.house_number"},
      {"address", "address"},
      {"name_dob", ""},
      {"no identifiers", ""},
  };
  std::vector<SubjectFieldProblem> found;
  for (absl::string_view part : absl::StrSplit(message, "; ")) {
    const std::string text(part.data(), part.size());
    const size_t colon = text.find(": ");
    const auto field =
        colon == std::string::npos ? kFields.end() : kFields.find(text.substr(0, colon));
    if (field == kFields.end() && !found.empty()) {
      found.back().problem += StrCat("; ", text);
    } else if (field == kFields.end() || field->first == "no identifiers") {
      found.push_back({"", text});
    } else {
      found.push_back({field->second, text.substr(colon + 2)});
    }
  }
  return found;
}

std::string SubjectFieldPath(const std::string& path, const SubjectFieldProblem& problem) {
  return problem.field.empty() ? path : StrCat(path, ".", problem.field);
}

v1::MatchKeyType MatchKeyTypeToProto(crypto::MatchKeyType type) {
  switch (type) {
    case crypto::MatchKeyType::kBsn:
      return v1::MATCH_KEY_TYPE_BSN;
    case crypto::MatchKeyType::kNameDob:
      return v1::MATCH_KEY_TYPE_NAME_DOB;
    case crypto::MatchKeyType::kAddress:
      return v1::MATCH_KEY_TYPE_ADDRESS;
  }
  return v1::MATCH_KEY_TYPE_UNSPECIFIED;
}

std::chrono::year_month_day UtcDay(absl::Time t) {
  const absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  return std::chrono::year_month_day{std::chrono::year(static_cast<int>(day.year())),
                                     std::chrono::month(static_cast<unsigned>(day.month())),
                                     std::chrono::day(static_cast<unsigned>(day.day()))};
}

}  // namespace schakel::nodes
