// Match-key normalisation (crypto/match_keys.h) on any text: never crashes,
// refuses with INVALID_ARGUMENT only, never repeats the value in an error,
// and a canonical value is a fixed point (normalising it again gives it
// back), so the two sides of a match cannot drift apart.
//
// Input: a first byte choosing the function, then the fields separated by
// '\n' (SubjectIdentifiers for DeriveMatchKeys: bsn, given names, surname,
// birth date, postcode, house number; an empty field is absent).
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "crypto/match_keys.h"
#include "fuzz/fuzz_support.h"

using namespace schakel::crypto;
using schakel::fuzz::Check;
using schakel::fuzz::CheckNotRepeated;

namespace {

constexpr std::chrono::year_month_day kToday{std::chrono::year{2026}, std::chrono::month{11},
                                             std::chrono::day{24}};

std::vector<std::string_view> Fields(std::string_view text, size_t n) {
  std::vector<std::string_view> fields;
  while (fields.size() + 1 < n) {
    const size_t nl = text.find('\n');
    if (nl == std::string_view::npos) break;
    fields.push_back(text.substr(0, nl));
    text.remove_prefix(nl + 1);
  }
  fields.push_back(text);
  fields.resize(n);
  return fields;
}

template <typename T>
std::string MessageOf(const absl::StatusOr<T>& result) {
  if (result.ok()) return "";
  const auto message = result.status().message();
  return std::string(message.data(), message.size());
}

// f refuses only with INVALID_ARGUMENT and never repeats the value; f's
// canonical form is a fixed point: f(f(x)) == f(x).
template <typename F>
void CheckOne(F f, std::string_view input, const char* what, bool fixed_point) {
  auto once = f(input);
  if (!once.ok()) {
    Check(once.status().code() == absl::StatusCode::kInvalidArgument, what);
    CheckNotRepeated([&](std::string_view v) { return MessageOf(f(v)); }, input, what);
    return;
  }
  if constexpr (std::is_same_v<std::decay_t<decltype(*once)>, std::string>) {
    if (!fixed_point) return;
    auto twice = f(*once);
    Check(twice.ok() && *twice == *once, what);
  }
}

// A function of several fields: the code of a refusal, and no field
// repeated in its message.
template <typename F>
void CheckFields(F f, const std::vector<std::string_view>& fields, const char* what) {
  auto result = f(fields);
  if (result.ok()) return;
  Check(result.status().code() == absl::StatusCode::kInvalidArgument, what);
  for (size_t i = 0; i < fields.size(); ++i) {
    CheckNotRepeated(
        [&](std::string_view v) {
          std::vector<std::string_view> changed = fields;
          changed[i] = v;
          return MessageOf(f(changed));
        },
        fields[i], what);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [which, rest] = schakel::fuzz::Choose(data, size, 7);
  switch (which) {
    case 0:
      CheckOne([](std::string_view s) { return CanonicalBsn(s); }, rest, "CanonicalBsn", true);
      break;
    case 1:
      CheckOne([](std::string_view s) { return CanonicalBirthDate(s, kToday); }, rest, "CanonicalBirthDate",
               true);
      break;
    case 2:
      CheckOne([](std::string_view s) { return CanonicalPostcode(s); }, rest, "CanonicalPostcode", true);
      break;
    case 3:
      CheckOne([](std::string_view s) { return CanonicalHouseNumber(s); }, rest, "CanonicalHouseNumber", true);
      break;
    case 4: {
      auto parsed = ParseSurname(rest);
      if (parsed.ok()) Check(!parsed->cores.empty(), "ParseSurname: no core");
      CheckOne([](std::string_view s) { return ParseSurname(s); }, rest, "ParseSurname", false);
      CheckOne([](std::string_view s) { return FirstInitial(s); }, rest, "FirstInitial", false);
      break;
    }
    case 5:
      CheckFields([](const std::vector<std::string_view>& f) { return CanonicalNameDob(f[0], f[1], f[2], kToday); },
                  Fields(rest, 3), "CanonicalNameDob");
      break;
    default: {
      auto derive = [](const std::vector<std::string_view>& f) {
        SubjectIdentifiers subject;
        std::optional<std::string>* slots[] = {&subject.bsn,        &subject.given_names, &subject.surname,
                                               &subject.birth_date, &subject.postcode,    &subject.house_number};
        for (size_t i = 0; i < f.size(); ++i) {
          if (!f[i].empty()) *slots[i] = std::string(f[i]);
        }
        return DeriveMatchKeys(subject, kToday);
      };
      const auto fields = Fields(rest, 6);
      CheckFields(derive, fields, "DeriveMatchKeys");
      auto keys = derive(fields);
      if (keys.ok()) {
        Check(!keys->empty(), "DeriveMatchKeys: no keys");
        auto again = derive(fields);
        Check(again.ok() && *again == *keys, "DeriveMatchKeys: not deterministic");
      }
      break;
    }
  }
  return 0;
}
