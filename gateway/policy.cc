#include "gateway/policy.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/oprf.h"
#include "crypto/pseudonym.h"
#include "proto/names.h"

namespace schakel::gateway {
namespace {

using nlohmann::json;
namespace v1 = schakel::v1;

// ---------------------------------------------------------------------------
// Names used in the file.

using names::kKeyTypes;
using names::kRoles;
using names::kSignalFields;
using names::NamedValue;
using names::NameList;
using names::NameOf;

// Format limits that are not worth a public constant.
constexpr size_t kMaxNestingDepth = 32;
constexpr size_t kMaxVersionChars = 64;
constexpr size_t kMaxTitleChars = 200;
constexpr size_t kMaxNameChars = 200;
constexpr size_t kMaxDescriptionChars = 10'000;
constexpr size_t kMaxReferenceChars = 200;
constexpr size_t kMaxBasisTextChars = 10'000;
constexpr size_t kMaxCategoryChars = 64;
constexpr absl::Duration kDefaultApprovalTimeout = absl::Hours(72);
constexpr absl::Duration kDefaultDisclosureWindow = absl::Hours(24 * 30);

// ---------------------------------------------------------------------------
// Problems and paths.

class Problems {
 public:
  void Add(std::string path, std::string problem) {
    list_.push_back(PolicyProblem{std::move(path), std::move(problem)});
  }
  bool empty() const { return list_.empty(); }
  size_t size() const { return list_.size(); }
  std::vector<PolicyProblem>& list() { return list_; }

 private:
  std::vector<PolicyProblem> list_;
};

std::string Child(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : StrCat(path, ".", key);
}

std::string Index(std::string_view path, size_t index) { return StrCat(path, "[", index, "]"); }

// A value from the file as a message shows it: JSON-quoted, at most 64
// characters.
std::string Quote(std::string_view value) {
  constexpr size_t kMaxShown = 64;
  std::string shown(value);
  bool cut = false;
  if (shown.size() > kMaxShown) {
    size_t end = kMaxShown;
    while (end > 0 && (static_cast<unsigned char>(shown[end]) & 0xC0) == 0x80) --end;
    shown.resize(end);
    cut = true;
  }
  std::string quoted = json(shown).dump(-1, ' ', false, json::error_handler_t::replace);
  if (cut) quoted.insert(quoted.size() - 1, "...");
  return quoted;
}

std::string Describe(const json& value) {
  switch (value.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return "a whole number";
    case json::value_t::number_float:
      return "a number with a fraction";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "an unexpected value";
  }
}

// Levenshtein distance, for "did you mean" suggestions on short names.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      const bool same = std::tolower(static_cast<unsigned char>(a[i - 1])) ==
                        std::tolower(static_cast<unsigned char>(b[j - 1]));
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

template <typename Names>
std::string Suggestion(std::string_view value, const Names& names) {
  if (value.size() > 64) return "";
  std::string_view best;
  size_t best_distance = 3;  // suggest only within 2 edits
  for (std::string_view name : names) {
    const size_t distance = EditDistance(value, name);
    if (distance < best_distance && distance < name.size()) {
      best = name;
      best_distance = distance;
    }
  }
  return best.empty() ? "" : StrCat(" (did you mean ", best, "?)");
}

// The line (from 1) of the first byte that is not part of valid UTF-8, or 0.
size_t FirstBadUtf8Line(std::string_view text) {
  size_t line = 1;
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c == '\n') ++line;
    size_t length = 0;
    uint32_t min = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      length = 2, min = 0x80, code = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      length = 3, min = 0x800, code = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      length = 4, min = 0x10000, code = c & 0x07;
    } else {
      return line;
    }
    if (i + length > text.size()) return line;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xC0) != 0x80) return line;
      code = (code << 6) | (next & 0x3F);
    }
    if (code < min || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return line;
    i += length;
  }
  return 0;
}

// ---------------------------------------------------------------------------
// Reading typed values, recording every problem.

enum class Need { kRequired, kOptional };

// One JSON object of the file with the fields it may have. Unknown fields
// are reported when it is opened.
class Object {
 public:
  Object(const json* value, std::string path, Problems& problems,
         std::initializer_list<std::string_view> known)
      : path_(std::move(path)), problems_(problems) {
    if (value == nullptr) return;
    if (!value->is_object()) {
      problems_.Add(
          path_, StrCat(path_.empty() ? "the policy must be a JSON object" : "expected an object",
                        ", got ", Describe(*value)));
      return;
    }
    value_ = value;
    for (const auto& item : value->items()) {
      const std::string& key = item.key();
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        problems_.Add(Child(path_, key), StrCat("unknown field", Suggestion(key, known)));
      }
    }
  }

  bool valid() const { return value_ != nullptr; }
  const std::string& path() const { return path_; }
  std::string PathOf(std::string_view key) const { return Child(path_, key); }
  Problems& problems() const { return problems_; }

  // The field's value, or nullptr when absent (a problem when required).
  const json* Field(std::string_view key, Need need) const {
    if (value_ == nullptr) return nullptr;
    const auto it = value_->find(key);
    if (it == value_->end()) {
      if (need == Need::kRequired) problems_.Add(PathOf(key), "missing");
      return nullptr;
    }
    return &*it;
  }

 private:
  const json* value_ = nullptr;
  std::string path_;
  Problems& problems_;
};

enum class Lines { kSingle, kMulti };

std::optional<std::string> StringValue(const json& value, const std::string& path,
                                       Problems& problems, size_t min_chars, size_t max_chars,
                                       Lines lines = Lines::kSingle) {
  if (!value.is_string()) {
    problems.Add(path, StrCat("expected a string, got ", Describe(value)));
    return std::nullopt;
  }
  const auto& text = value.get_ref<const std::string&>();
  const size_t chars = Utf8Chars(text);
  if (chars < min_chars) {
    problems.Add(path, min_chars == 1 ? "must not be empty"
                                      : StrCat("must have at least ", min_chars, " characters"));
    return std::nullopt;
  }
  if (chars > max_chars) {
    problems.Add(path, StrCat("has ", chars, " characters; at most ", max_chars, " are allowed"));
    return std::nullopt;
  }
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    const bool control = u < 0x20 || u == 0x7F;
    const bool allowed_in_text = c == '\n' || c == '\t' || c == '\r';
    if (control && (lines == Lines::kSingle || !allowed_in_text)) {
      problems.Add(path, lines == Lines::kSingle
                             ? "contains a line break or control character"
                             : "contains a control character other than a line break or tab");
      return std::nullopt;
    }
  }
  return text;
}

std::optional<std::string> GetString(const Object& object, std::string_view key, Need need,
                                     size_t min_chars, size_t max_chars,
                                     Lines lines = Lines::kSingle) {
  const json* value = object.Field(key, need);
  if (value == nullptr) return std::nullopt;
  return StringValue(*value, object.PathOf(key), object.problems(), min_chars, max_chars, lines);
}

std::optional<bool> GetBool(const Object& object, std::string_view key, Need need) {
  const json* value = object.Field(key, need);
  if (value == nullptr) return std::nullopt;
  if (!value->is_boolean()) {
    object.problems().Add(object.PathOf(key),
                          StrCat("expected true or false, got ", Describe(*value)));
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<uint32_t> GetCount(const Object& object, std::string_view key, Need need,
                                 uint32_t min, uint32_t max, std::string_view why_max = "") {
  const json* value = object.Field(key, need);
  if (value == nullptr) return std::nullopt;
  const std::string path = object.PathOf(key);
  const std::string range = StrCat("a whole number from ", min, " to ", max);
  if (value->is_number_unsigned()) {
    const auto number = value->get<uint64_t>();
    if (number >= min && number <= max) return static_cast<uint32_t>(number);
    if (number > max && !why_max.empty()) {
      object.problems().Add(path, StrCat(number, " is above ", max, ", ", why_max));
    } else {
      object.problems().Add(path, StrCat("must be ", range, ", got ", number));
    }
  } else if (value->is_number_integer()) {
    object.problems().Add(path, StrCat("must be ", range, ", got ", value->get<int64_t>()));
  } else {
    object.problems().Add(path, StrCat("expected ", range, ", got ", Describe(*value)));
  }
  return std::nullopt;
}

// An array field; nullptr when absent, of another type, or empty when it
// must not be (each a problem).
const json* GetArray(const Object& object, std::string_view key, Need need, bool may_be_empty) {
  const json* value = object.Field(key, need);
  if (value == nullptr) return nullptr;
  if (!value->is_array()) {
    object.problems().Add(object.PathOf(key), StrCat("expected an array, got ", Describe(*value)));
    return nullptr;
  }
  if (value->empty() && !may_be_empty) {
    object.problems().Add(object.PathOf(key), "must not be empty");
    return nullptr;
  }
  return value;
}

// "YYYY-MM-DD".
std::optional<absl::CivilDay> ParseDay(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  int parts[3] = {0, 0, 0};
  const std::pair<size_t, size_t> spans[3] = {{0, 4}, {5, 2}, {8, 2}};
  for (int k = 0; k < 3; ++k) {
    const auto [start, length] = spans[k];
    for (size_t i = start; i < start + length; ++i) {
      if (text[i] < '0' || text[i] > '9') return std::nullopt;
    }
    std::from_chars(text.data() + start, text.data() + start + length, parts[k]);
  }
  const absl::CivilDay day(parts[0], parts[1], parts[2]);
  // CivilDay normalises (2025-02-30 becomes 2025-03-02): refuse that.
  if (day.year() != parts[0] || day.month() != parts[1] || day.day() != parts[2]) {
    return std::nullopt;
  }
  if (parts[0] < 1900) return std::nullopt;
  return day;
}

std::string DayString(absl::CivilDay day) { return absl::FormatCivilTime(day); }

std::optional<absl::CivilDay> GetDay(const Object& object, std::string_view key, Need need) {
  const auto text = GetString(object, key, need, 1, 64);
  if (!text) return std::nullopt;
  auto day = ParseDay(*text);
  if (!day) {
    object.problems().Add(object.PathOf(key),
                          StrCat(Quote(*text), " is not a date YYYY-MM-DD (e.g. \"2025-01-01\")"));
  }
  return day;
}

// "<n><unit>" with unit s, m, h or d, e.g. "72h", "30d".
std::optional<absl::Duration> ParseDuration(std::string_view text) {
  if (text.size() < 2 || text.size() > 8) return std::nullopt;
  int64_t number = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size() - 1, number);
  if (error != std::errc() || end != text.data() + text.size() - 1 || number <= 0 ||
      text[0] == '0' || text[0] == '+') {
    return std::nullopt;
  }
  switch (text.back()) {
    case 's':
      return absl::Seconds(number);
    case 'm':
      return absl::Minutes(number);
    case 'h':
      return absl::Hours(number);
    case 'd':
      return absl::Hours(24 * number);
    default:
      return std::nullopt;
  }
}

std::optional<absl::Duration> GetDuration(const Object& object, std::string_view key,
                                          absl::Duration min, absl::Duration max,
                                          std::string_view range_text) {
  const auto text = GetString(object, key, Need::kOptional, 1, 64);
  if (!text) return std::nullopt;
  const auto duration = ParseDuration(*text);
  if (!duration) {
    object.problems().Add(object.PathOf(key),
                          StrCat(Quote(*text),
                                 " is not a duration: a whole number followed by s, m, h or d "
                                 "(e.g. \"72h\", \"30d\")"));
    return std::nullopt;
  }
  if (*duration < min || *duration > max) {
    object.problems().Add(object.PathOf(key), StrCat(Quote(*text), " is outside ", range_text));
    return std::nullopt;
  }
  return duration;
}

// Organisation id (common.proto): 2 to 63 of [a-z0-9-], starting with a letter.
constexpr std::string_view kNotAnOrgId =
    " is not an organisation id (2 to 63 characters of a-z, 0-9 and '-', starting with a "
    "letter)";

bool IsOrgId(std::string_view id) {
  if (id.size() < 2 || id.size() > 63 || id[0] < 'a' || id[0] > 'z') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

// Purpose id: common.proto's rule (2 to 63 of [a-z0-9._-], starting with a
// letter), which is within crypto's ValidatePurposeId.
bool IsPurposeId(std::string_view id) {
  if (!crypto::ValidatePurposeId(id).ok()) return false;
  return id.size() >= 2 && id.size() <= 63 && id[0] >= 'a' && id[0] <= 'z';
}

// Policy version as declared: 1 to 64 of [A-Za-z0-9._-].
bool IsDeclaredVersion(std::string_view version) {
  if (version.empty() || version.size() > kMaxVersionChars) return false;
  return std::all_of(version.begin(), version.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

// Reads the parties; everything else refers to them.
class OrgRefs {
 public:
  explicit OrgRefs(bool known) : known_(known) {}
  void Add(std::string id) { ids_.insert(std::move(id)); }
  bool known() const { return known_; }
  bool Contains(std::string_view id) const { return ids_.contains(id); }
  std::vector<std::string_view> Names() const { return {ids_.begin(), ids_.end()}; }

 private:
  bool known_;  // false when the parties could not be read: skip the check
  std::set<std::string, std::less<>> ids_;
};

// One organisation reference: an id among the parties.
std::optional<std::string> OrgRef(const json& value, const std::string& path,
                                  const OrgRefs& parties, Problems& problems) {
  auto id = StringValue(value, path, problems, 1, 63);
  if (!id) return std::nullopt;
  if (!IsOrgId(*id)) {
    problems.Add(path, StrCat(Quote(*id), kNotAnOrgId));
    return std::nullopt;
  }
  if (parties.known() && !parties.Contains(*id)) {
    problems.Add(path, StrCat("unknown organisation ", Quote(*id), " (not among parties)",
                              Suggestion(*id, parties.Names())));
    return std::nullopt;
  }
  return id;
}

std::optional<std::string> GetOrgRef(const Object& object, std::string_view key, Need need,
                                     const OrgRefs& parties) {
  const json* value = object.Field(key, need);
  if (value == nullptr) return std::nullopt;
  return OrgRef(*value, object.PathOf(key), parties, object.problems());
}

// A list of organisation references without repeats.
std::vector<std::string> GetOrgList(const Object& object, std::string_view key, Need need,
                                    bool may_be_empty, const OrgRefs& parties) {
  std::vector<std::string> out;
  const json* array = GetArray(object, key, need, may_be_empty);
  if (array == nullptr) return out;
  const std::string path = object.PathOf(key);
  for (size_t i = 0; i < array->size(); ++i) {
    auto id = OrgRef((*array)[i], Index(path, i), parties, object.problems());
    if (!id) continue;
    if (std::find(out.begin(), out.end(), *id) != out.end()) {
      object.problems().Add(Index(path, i), StrCat(Quote(*id), " is listed twice"));
      continue;
    }
    out.push_back(std::move(*id));
  }
  return out;
}

// A list of names from `table` without repeats.
template <typename Enum, size_t N>
std::vector<Enum> GetEnumList(const Object& object, std::string_view key, Need need,
                              const std::array<NamedValue<Enum>, N>& table, std::string_view what) {
  std::vector<Enum> out;
  const json* array = GetArray(object, key, need, /*may_be_empty=*/false);
  if (array == nullptr) return out;
  const std::string path = object.PathOf(key);
  std::vector<std::string_view> names;
  for (const auto& entry : table) names.push_back(entry.name);
  for (size_t i = 0; i < array->size(); ++i) {
    const auto name = StringValue((*array)[i], Index(path, i), object.problems(), 1, 64);
    if (!name) continue;
    const auto it = std::find_if(table.begin(), table.end(),
                                 [&](const auto& entry) { return entry.name == *name; });
    if (it == table.end()) {
      std::string hint = Suggestion(*name, names);
      if (hint.empty()) hint = StrCat(" (one of: ", NameList(table), ")");
      object.problems().Add(Index(path, i), StrCat("unknown ", what, " ", Quote(*name), hint));
      continue;
    }
    if (std::find(out.begin(), out.end(), it->value) != out.end()) {
      object.problems().Add(Index(path, i), StrCat(Quote(*name), " is listed twice"));
      continue;
    }
    out.push_back(it->value);
  }
  return out;
}

template <typename T>
bool Contains(const std::vector<T>& list, const auto& value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

// ---------------------------------------------------------------------------
// The sections of the file.

// Calls read(entry, i) for every element i of the array field `key` that is
// an object with (only) the fields `known`; anything else is a problem.
template <typename Read>
void ForEachObject(const Object& parent, std::string_view key, Need need, bool may_be_empty,
                   std::initializer_list<std::string_view> known, Read read) {
  const json* array = GetArray(parent, key, need, may_be_empty);
  if (array == nullptr) return;
  const std::string path = parent.PathOf(key);
  for (size_t i = 0; i < array->size(); ++i) {
    const Object entry(&(*array)[i], Index(path, i), parent.problems(), known);
    if (entry.valid()) read(entry, i);
  }
}

std::vector<Party> ReadParties(const Object& root, OrgRefs& refs) {
  std::vector<Party> parties;
  ForEachObject(root, "parties", Need::kRequired, /*may_be_empty=*/false, {"org_id", "name"},
                [&](const Object& entry, size_t) {
                  Party party;
                  if (const json* id_value = entry.Field("org_id", Need::kRequired)) {
                    const std::string path_of_id = entry.PathOf("org_id");
                    if (auto id = StringValue(*id_value, path_of_id, root.problems(), 1, 63)) {
                      if (!IsOrgId(*id)) {
                        root.problems().Add(path_of_id, StrCat(Quote(*id), kNotAnOrgId));
                      } else if (refs.Contains(*id)) {
                        root.problems().Add(path_of_id, StrCat(Quote(*id), " is listed twice"));
                      } else {
                        refs.Add(*id);
                        party.org_id = std::move(*id);
                      }
                    }
                  }
                  if (auto name = GetString(entry, "name", Need::kRequired, 1, kMaxNameChars)) {
                    party.name = std::move(*name);
                  }
                  parties.push_back(std::move(party));
                });
  return parties;
}

std::optional<LawfulBasis> ReadLawfulBasis(const Object& purpose) {
  const json* value = purpose.Field("lawful_basis", Need::kRequired);
  if (value == nullptr) return std::nullopt;
  const Object object(value, purpose.PathOf("lawful_basis"), purpose.problems(),
                      {"reference", "text"});
  if (!object.valid()) return std::nullopt;
  LawfulBasis basis;
  const auto reference = GetString(object, "reference", Need::kRequired, 1, kMaxReferenceChars);
  const auto text =
      GetString(object, "text", Need::kOptional, 0, kMaxBasisTextChars, Lines::kMulti);
  if (reference) basis.reference = *reference;
  if (text) basis.text = *text;
  return basis;
}

std::vector<RequesterGrant> ReadMayAsk(const Object& purpose, const OrgRefs& parties) {
  std::vector<RequesterGrant> grants;
  ForEachObject(
      purpose, "may_ask", Need::kRequired, /*may_be_empty=*/false, {"org_id", "roles"},
      [&](const Object& entry, size_t) {
        RequesterGrant grant;
        auto org = GetOrgRef(entry, "org_id", Need::kRequired, parties);
        if (org) {
          const auto earlier = std::find_if(grants.begin(), grants.end(),
                                            [&](const auto& g) { return g.org_id == *org; });
          if (earlier != grants.end()) {
            purpose.problems().Add(entry.PathOf("org_id"),
                                   StrCat(Quote(*org), " already has a grant in ",
                                          Index(purpose.PathOf("may_ask"),
                                                static_cast<size_t>(earlier - grants.begin())),
                                          "; list all its roles there"));
            org.reset();
          }
        }
        grant.roles = GetEnumList(entry, "roles", Need::kRequired, kRoles, "role");
        for (const v1::Role role : grant.roles) {
          if (role == v1::ROLE_AUDITOR || role == v1::ROLE_ADMIN) {
            purpose.problems().Add(
                entry.PathOf("roles"),
                StrCat("role ", RoleName(role),
                       " may not ask: auditors review the log and admins operate "
                       "the system; neither runs matches"));
          }
        }
        if (org) {
          grant.org_id = std::move(*org);
          grants.push_back(std::move(grant));
        }
      });
  return grants;
}

std::vector<std::string> GetCategories(const Object& rule) {
  std::vector<std::string> out;
  const json* array = GetArray(rule, "categories", Need::kOptional, /*may_be_empty=*/true);
  if (array == nullptr) return out;
  const std::string path = rule.PathOf("categories");
  for (size_t k = 0; k < array->size(); ++k) {
    auto category = StringValue((*array)[k], Index(path, k), rule.problems(), 1, kMaxCategoryChars);
    if (!category) continue;
    if (Contains(out, *category)) {
      rule.problems().Add(Index(path, k), StrCat(Quote(*category), " is listed twice"));
      continue;
    }
    out.push_back(std::move(*category));
  }
  return out;
}

// `read` is the purpose as far as it has been read (may_ask, may_answer).
std::vector<DisclosureRule> ReadDisclosureRules(const Object& purpose, const Purpose& read,
                                                const OrgRefs& parties) {
  std::vector<DisclosureRule> rules;
  Problems& problems = purpose.problems();
  const std::string path = purpose.PathOf("disclosure_rules");
  // (responder, requester) -> the rule that already covers the pair.
  std::map<std::pair<std::string, std::string>, size_t> pairs;
  ForEachObject(
      purpose, "disclosure_rules", Need::kOptional, /*may_be_empty=*/true,
      {"responder_org_id", "requester_org_ids", "fields", "categories"},
      [&](const Object& entry, size_t i) {
        DisclosureRule rule;
        auto responder = GetOrgRef(entry, "responder_org_id", Need::kRequired, parties);
        if (responder && !read.may_answer_org_ids.empty() && !read.MayAnswer(*responder)) {
          problems.Add(entry.PathOf("responder_org_id"),
                       StrCat(Quote(*responder),
                              " is not in may_answer_org_ids, so it has nothing to disclose"));
          responder.reset();
        }
        rule.requester_org_ids = GetOrgList(entry, "requester_org_ids", Need::kRequired,
                                            /*may_be_empty=*/false, parties);
        for (const std::string& requester : rule.requester_org_ids) {
          if (!read.may_ask.empty() && read.GrantFor(requester) == nullptr) {
            problems.Add(entry.PathOf("requester_org_ids"),
                         StrCat(Quote(requester),
                                " is not in may_ask, so it can have no hit to ask disclosure for"));
          }
          if (!responder) continue;
          const auto [it, inserted] = pairs.try_emplace(std::pair(*responder, requester), i);
          if (!inserted) {
            problems.Add(
                entry.PathOf("requester_org_ids"),
                StrCat(Quote(*responder), " -> ", Quote(requester), " is already covered by ",
                       Index(path, it->second), "; one rule per pair"));
          }
        }
        rule.fields = GetEnumList(entry, "fields", Need::kRequired, kSignalFields, "signal field");
        rule.categories = GetCategories(entry);
        if (responder) rule.responder_org_id = std::move(*responder);
        rules.push_back(std::move(rule));
      });
  return rules;
}

std::optional<Purpose> ReadPurpose(const json& value, const std::string& path,
                                   const OrgRefs& parties, Problems& problems) {
  const Object object(
      &value, path, problems,
      {"purpose_id", "title", "description", "lawful_basis", "valid_from", "valid_until", "may_ask",
       "may_answer_org_ids", "case_director_org_ids", "case_required", "key_types",
       "max_subjects_per_exchange", "max_keys_per_subject", "daily_exchange_quota",
       "daily_subject_quota", "notify_on_hit", "disclosure_rules", "approval_timeout",
       "disclosure_window"});
  if (!object.valid()) return std::nullopt;
  Purpose purpose;

  if (const json* id = object.Field("purpose_id", Need::kRequired)) {
    if (auto text = StringValue(*id, object.PathOf("purpose_id"), problems, 1, 64)) {
      if (IsPurposeId(*text)) {
        purpose.purpose_id = std::move(*text);
      } else {
        problems.Add(object.PathOf("purpose_id"),
                     StrCat(Quote(*text),
                            " is not a purpose id (2 to 63 characters of a-z, 0-9, '.', '_' "
                            "and '-', starting with a letter)"));
      }
    }
  }
  if (auto title = GetString(object, "title", Need::kRequired, 1, kMaxTitleChars)) {
    purpose.title = std::move(*title);
  }
  if (auto description = GetString(object, "description", Need::kRequired, 1, kMaxDescriptionChars,
                                   Lines::kMulti)) {
    purpose.description = std::move(*description);
  }
  if (auto basis = ReadLawfulBasis(object)) purpose.lawful_basis = std::move(*basis);

  const auto from = GetDay(object, "valid_from", Need::kRequired);
  const auto until = GetDay(object, "valid_until", Need::kOptional);
  if (from) purpose.valid_from = *from;
  purpose.valid_until = until;
  if (from && until && *until <= *from) {
    problems.Add(object.PathOf("valid_until"),
                 StrCat(DayString(*until), " is not after valid_from ", DayString(*from),
                        " (valid_until is the first day the purpose is no longer in force)"));
  }

  purpose.may_ask = ReadMayAsk(object, parties);
  purpose.may_answer_org_ids =
      GetOrgList(object, "may_answer_org_ids", Need::kRequired, /*may_be_empty=*/false, parties);
  purpose.case_director_org_ids = GetOrgList(object, "case_director_org_ids", Need::kOptional,
                                             /*may_be_empty=*/true, parties);
  const auto case_required = GetBool(object, "case_required", Need::kRequired);
  purpose.case_required = case_required.value_or(false);
  if (purpose.case_required && purpose.case_director_org_ids.empty()) {
    const json* directors = object.Field("case_director_org_ids", Need::kOptional);
    if (directors == nullptr) {
      problems.Add(object.PathOf("case_director_org_ids"),
                   "missing: case_required is true, so some organisation must be able to open "
                   "cases");
    } else if (directors->is_array() && directors->empty()) {
      problems.Add(object.PathOf("case_director_org_ids"),
                   "must not be empty when case_required is true (no one could open a case)");
    }
  }

  purpose.key_types = GetEnumList(object, "key_types", Need::kRequired, kKeyTypes, "key type");

  const auto max_subjects =
      GetCount(object, "max_subjects_per_exchange", Need::kRequired, 1, kMaxSubjectsCeiling,
               "the ceiling of the format (docs/policy.md, \"Limits\"); split larger lists "
               "over several exchanges");
  const auto max_keys =
      GetCount(object, "max_keys_per_subject", Need::kOptional, 1, kMaxKeysPerSubjectCeiling);
  const auto exchange_quota =
      GetCount(object, "daily_exchange_quota", Need::kOptional, 1, kDailyExchangeQuotaCeiling);
  const auto subject_quota =
      GetCount(object, "daily_subject_quota", Need::kRequired, 1, kDailySubjectQuotaCeiling,
               "the ceiling that keeps enumerating all BSNs infeasible (docs/policy.md, "
               "\"Limits\")");
  purpose.max_subjects_per_exchange = max_subjects.value_or(0);
  purpose.max_keys_per_subject = max_keys.value_or(kDefaultMaxKeysPerSubject);
  purpose.daily_exchange_quota = exchange_quota.value_or(0);
  purpose.daily_subject_quota = subject_quota.value_or(0);
  if (max_subjects && (max_keys || !object.Field("max_keys_per_subject", Need::kOptional))) {
    const uint64_t elements = uint64_t{*max_subjects} * purpose.max_keys_per_subject;
    if (elements > crypto::oprf::kMaxBatch) {
      problems.Add(
          object.PathOf("max_keys_per_subject"),
          StrCat("max_subjects_per_exchange x max_keys_per_subject = ", elements,
                 " elements, more than one evaluation can carry (", crypto::oprf::kMaxBatch, ")",
                 max_keys ? "" : StrCat("; the default is ", kDefaultMaxKeysPerSubject)));
    }
  }
  if (max_subjects && subject_quota && *subject_quota < *max_subjects) {
    problems.Add(object.PathOf("daily_subject_quota"),
                 StrCat(*subject_quota, " is below max_subjects_per_exchange (", *max_subjects,
                        "): an exchange of the largest allowed size could never run"));
  }

  if (auto notify = GetBool(object, "notify_on_hit", Need::kRequired)) {
    purpose.notify_on_hit = *notify;
  }
  purpose.disclosure_rules = ReadDisclosureRules(object, purpose, parties);
  purpose.approval_timeout =
      GetDuration(object, "approval_timeout", absl::Minutes(1), absl::Hours(24 * 30), "1m to 30d")
          .value_or(kDefaultApprovalTimeout);
  purpose.disclosure_window =
      GetDuration(object, "disclosure_window", absl::Hours(1), absl::Hours(24 * 365), "1h to 365d")
          .value_or(kDefaultDisclosureWindow);
  return purpose;
}

// ---------------------------------------------------------------------------
// JSON text -> DOM, noting repeated keys (nlohmann keeps the last silently).

struct TooDeep {};

struct ParseFrame {
  bool is_object = false;
  std::string path;
  std::string key;
  size_t next_index = 0;
  absl::flat_hash_set<std::string> keys;
};

std::optional<json> ParseJson(std::string_view text, Problems& problems) {
  std::vector<ParseFrame> stack;
  auto path_of_next = [&stack]() -> std::string {
    if (stack.empty()) return "";
    ParseFrame& parent = stack.back();
    if (parent.is_object) return Child(parent.path, parent.key);
    return Index(parent.path, parent.next_index++);
  };
  json::parser_callback_t callback = [&](int /*depth*/, json::parse_event_t event,
                                         json& parsed) -> bool {
    switch (event) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start: {
        if (stack.size() >= kMaxNestingDepth) throw TooDeep{};
        std::string path = path_of_next();
        ParseFrame frame;
        frame.is_object = event == json::parse_event_t::object_start;
        frame.path = std::move(path);
        stack.push_back(std::move(frame));
        break;
      }
      case json::parse_event_t::key: {
        ParseFrame& frame = stack.back();
        frame.key = parsed.get<std::string>();
        if (!frame.keys.insert(frame.key).second) {
          problems.Add(Child(frame.path, frame.key), "appears twice in the same object; keep one");
        }
        break;
      }
      case json::parse_event_t::value:
        if (!stack.empty() && !stack.back().is_object) ++stack.back().next_index;
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        stack.pop_back();
        break;
    }
    return true;
  };
  try {
    return json::parse(text, callback, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& error) {
    // nlohmann: "[json.exception.parse_error.101] parse error at line 6,
    // column 3: syntax error while parsing value - unexpected ']'; ..."
    std::string message = error.what();
    const size_t at = message.find("at line ");
    if (at != std::string::npos) message = message.substr(at + 3);
    const size_t detail = message.find(": syntax error while parsing ");
    const size_t dash = message.find(" - ", detail == std::string::npos ? 0 : detail);
    if (detail != std::string::npos && dash != std::string::npos) {
      message = StrCat(message.substr(0, detail + 2), message.substr(dash + 3));
    }
    problems.Add("", StrCat("JSON syntax error at ", message));
  } catch (const TooDeep&) {
    problems.Add("", StrCat("nested more than ", kMaxNestingDepth, " levels deep"));
  } catch (const json::exception&) {
    // out_of_range.406: a number beyond a double ("1e400").
    problems.Add("", "JSON number out of range");
  }
  return std::nullopt;
}

absl::Status Refusal(std::string_view source_name, std::vector<PolicyProblem>& problems) {
  std::string message = StrCat(source_name, ": policy refused, ", problems.size(),
                               problems.size() == 1 ? " problem:" : " problems:");
  for (size_t i = 0; i < problems.size() && i < kMaxProblemsReported; ++i) {
    message += StrCat("\n  ", problems[i].ToString());
  }
  if (problems.size() > kMaxProblemsReported) {
    message += StrCat("\n  ... and ", problems.size() - kMaxProblemsReported, " more");
  }
  return absl::InvalidArgumentError(message);
}

}  // namespace

// ---------------------------------------------------------------------------

std::string PolicyProblem::ToString() const {
  return path.empty() ? problem : StrCat(path, ": ", problem);
}

std::string_view RoleName(v1::Role role) { return NameOf(kRoles, role); }
std::string_view KeyTypeName(v1::MatchKeyType type) { return NameOf(kKeyTypes, type); }
std::string_view SignalFieldName(v1::SignalField field) { return NameOf(kSignalFields, field); }

absl::StatusOr<Policy> ParsePolicy(std::string_view text, std::string_view source_name,
                                   std::vector<PolicyProblem>* problems_out) {
  Problems problems;
  auto finish = [&]() -> absl::Status {
    if (problems_out != nullptr) *problems_out = problems.list();
    return problems.empty() ? absl::OkStatus() : Refusal(source_name, problems.list());
  };

  if (text.size() > kMaxPolicyBytes) {
    problems.Add("", StrCat("the text has ", text.size(), " bytes; at most ", kMaxPolicyBytes,
                            " are allowed"));
    return finish();
  }
  if (const size_t line = FirstBadUtf8Line(text); line != 0) {
    problems.Add("", StrCat("line ", line, ": not valid UTF-8"));
    return finish();
  }
  const std::optional<json> root_value = ParseJson(text, problems);
  if (!root_value) return finish();

  Policy policy;
  const Object root(
      &*root_value, "", problems,
      {"version", "title", "parties", "supervisor_org_ids", "operator_org_ids", "purposes"});
  if (!root.valid()) return finish();

  if (auto version = GetString(root, "version", Need::kRequired, 1, kMaxVersionChars)) {
    if (IsDeclaredVersion(*version)) {
      policy.declared_version_ = std::move(*version);
    } else {
      problems.Add("version", StrCat(Quote(*version),
                                     " is not a version (1 to 64 characters of A-Z, a-z, 0-9, "
                                     "'.', '_' and '-', e.g. \"2025.3\")"));
    }
  }
  if (auto title = GetString(root, "title", Need::kOptional, 1, kMaxTitleChars)) {
    policy.title_ = std::move(*title);
  }
  const json* parties_value = root.Field("parties", Need::kOptional);
  OrgRefs refs(/*known=*/parties_value != nullptr && parties_value->is_array());
  policy.parties_ = ReadParties(root, refs);
  policy.supervisor_org_ids_ = GetOrgList(root, "supervisor_org_ids", Need::kOptional,
                                          /*may_be_empty=*/true, refs);
  policy.operator_org_ids_ =
      GetOrgList(root, "operator_org_ids", Need::kOptional, /*may_be_empty=*/true, refs);

  if (const json* purposes = GetArray(root, "purposes", Need::kRequired, false)) {
    for (size_t i = 0; i < purposes->size(); ++i) {
      const std::string path = Index("purposes", i);
      auto purpose = ReadPurpose((*purposes)[i], path, refs, problems);
      if (!purpose) continue;
      if (!purpose->purpose_id.empty()) {
        const auto [it, inserted] = policy.purpose_index_.try_emplace(purpose->purpose_id, i);
        if (!inserted) {
          problems.Add(Child(path, "purpose_id"),
                       StrCat(Quote(purpose->purpose_id), " is already used by ",
                              Index("purposes", it->second)));
        }
      }
      policy.purposes_.push_back(std::move(*purpose));
    }
  }
  if (!problems.empty()) return finish();

  // Every purpose was read: positions in purposes_ equal the file's.
  policy.text_ = std::string(text);
  policy.source_name_ = std::string(source_name);
  policy.canonical_text_ = root_value->dump();
  policy.digest_ = crypto::Blake2b256Hash(crypto::AsBytes(policy.canonical_text_));
  policy.version_ = StrCat(policy.declared_version_, "+",
                           crypto::ToHex(crypto::ByteView(policy.digest_).first(4)));
  if (problems_out != nullptr) problems_out->clear();
  return policy;
}

absl::StatusOr<Policy> LoadPolicy(const std::filesystem::path& path,
                                  std::vector<PolicyProblem>* problems) {
  const std::string shown = path.string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot open policy file ", shown));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    return absl::ErrnoToStatus(errno, StrCat("cannot inspect policy file ", shown));
  }
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(StrCat("policy file ", shown, " is not a regular file"));
  }
  std::string text;
  char buffer[65536];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(errno, StrCat("cannot read policy file ", shown));
    }
    if (n == 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > kMaxPolicyBytes) break;  // ParsePolicy names the problem
  }
  return ParsePolicy(text, shown, problems);
}

// ---------------------------------------------------------------------------
// Queries.

bool Purpose::InForce(absl::CivilDay day) const {
  return day >= valid_from && (!valid_until || day < *valid_until);
}

const RequesterGrant* Purpose::GrantFor(std::string_view org_id) const {
  for (const auto& grant : may_ask) {
    if (grant.org_id == org_id) return &grant;
  }
  return nullptr;
}

bool Purpose::MayAnswer(std::string_view org_id) const {
  return Contains(may_answer_org_ids, org_id);
}

bool Purpose::MayDirectCases(std::string_view org_id) const {
  return Contains(case_director_org_ids, org_id);
}

bool Purpose::AllowsKeyType(v1::MatchKeyType type) const { return Contains(key_types, type); }

bool Purpose::TakesPart(std::string_view org_id) const {
  return GrantFor(org_id) != nullptr || MayAnswer(org_id) || MayDirectCases(org_id);
}

PartnerSelection Purpose::AnsweringOrgs(std::string_view requester_org_id,
                                        std::span<const std::string> requested) const {
  PartnerSelection selection;
  if (requested.empty()) {
    for (const auto& org : may_answer_org_ids) {
      if (org != requester_org_id) selection.permitted.push_back(org);
    }
    return selection;
  }
  for (const auto& org : requested) {
    if (Contains(selection.permitted, org) || Contains(selection.refused, org)) continue;
    if (org != requester_org_id && MayAnswer(org)) {
      selection.permitted.push_back(org);
    } else {
      selection.refused.push_back(org);
    }
  }
  return selection;
}

DisclosureDecision Purpose::MayDisclose(std::string_view from_org_id, std::string_view to_org_id,
                                        std::span<const v1::SignalField> fields,
                                        std::span<const std::string> categories) const {
  DisclosureDecision decision;
  if (fields.empty()) {
    decision.reason = v1::DENIAL_REASON_MALFORMED_REQUEST;
    decision.message = "no field asked for";
    return decision;
  }
  const DisclosureRule* rule = nullptr;
  for (const auto& candidate : disclosure_rules) {
    if (candidate.responder_org_id == from_org_id &&
        Contains(candidate.requester_org_ids, to_org_id)) {
      rule = &candidate;
      break;
    }
  }
  if (rule == nullptr) {
    decision.reason = v1::DENIAL_REASON_DISCLOSURE_NOT_ALLOWED;
    decision.message = "the purpose allows no disclosure from this partner to this requester";
    return decision;
  }
  for (const auto field : fields) {
    if (field == v1::SIGNAL_FIELD_UNSPECIFIED) {
      decision.reason = v1::DENIAL_REASON_MALFORMED_REQUEST;
      decision.message = "a field is unspecified";
      return decision;
    }
    if (!Contains(rule->fields, field)) {
      decision.reason = v1::DENIAL_REASON_FIELD_NOT_ALLOWED;
      decision.refused_field = field;
      decision.message = StrCat("the purpose does not allow this partner to disclose the field ",
                                SignalFieldName(field), " to this requester");
      return decision;
    }
  }
  if (!rule->categories.empty()) {
    for (const auto& category : categories) {
      if (!Contains(rule->categories, category)) {
        decision.reason = v1::DENIAL_REASON_FIELD_NOT_ALLOWED;
        decision.refused_category = category;
        decision.message =
            "the purpose does not allow this partner to disclose signals of a requested "
            "category to this requester";
        return decision;
      }
    }
  }
  decision.rule = rule;
  return decision;
}

const Purpose* Policy::Find(std::string_view purpose_id) const {
  const auto it = purpose_index_.find(purpose_id);
  return it == purpose_index_.end() ? nullptr : &purposes_[it->second];
}

bool Policy::IsParty(std::string_view org_id) const {
  return std::any_of(parties_.begin(), parties_.end(),
                     [&](const Party& party) { return party.org_id == org_id; });
}

bool Policy::IsSupervisor(std::string_view org_id) const {
  return Contains(supervisor_org_ids_, org_id);
}

bool Policy::IsOperator(std::string_view org_id) const {
  return Contains(operator_org_ids_, org_id);
}

AskDecision Policy::MayAsk(std::string_view purpose_id, std::string_view org_id, v1::Role role,
                           absl::CivilDay today) const {
  AskDecision decision;
  const Purpose* purpose = Find(purpose_id);
  if (purpose == nullptr) {
    decision.reason = v1::DENIAL_REASON_PURPOSE_UNKNOWN;
    decision.message = "no purpose with this id in the policy in force";
    return decision;
  }
  if (!purpose->InForce(today)) {
    decision.reason = v1::DENIAL_REASON_PURPOSE_NOT_IN_FORCE;
    decision.message = StrCat(
        "the purpose is not in force on ", DayString(today), " (in force from ",
        DayString(purpose->valid_from),
        purpose->valid_until ? StrCat(" until ", DayString(*purpose->valid_until), ", exclusive")
                             : std::string(", no end"),
        ")");
    return decision;
  }
  const RequesterGrant* grant = purpose->GrantFor(org_id);
  if (grant == nullptr) {
    decision.reason = v1::DENIAL_REASON_ORGANISATION_NOT_ALLOWED;
    decision.message = "the organisation may not ask under this purpose";
    return decision;
  }
  if (!Contains(grant->roles, role)) {
    std::string allowed;
    for (const auto r : grant->roles) {
      allowed += StrCat(allowed.empty() ? "" : ", ", RoleName(r));
    }
    decision.reason = v1::DENIAL_REASON_ROLE_NOT_ALLOWED;
    decision.message =
        StrCat("the role ", RoleName(role),
               " may not ask under this purpose for this organisation (allowed: ", allowed, ")");
    return decision;
  }
  return decision;
}

// ---------------------------------------------------------------------------
// To the API's view.

namespace {

void SetTimestamp(absl::CivilDay day, absl::TimeZone zone, google::protobuf::Timestamp* out) {
  const absl::Time start = absl::FromCivil(day, zone);
  out->set_seconds(absl::ToUnixSeconds(start));
  out->set_nanos(0);
}

void SetDuration(absl::Duration duration, google::protobuf::Duration* out) {
  out->set_seconds(absl::ToInt64Seconds(duration));
  out->set_nanos(0);
}

}  // namespace

v1::PolicyInfo ToProto(const Policy& policy, absl::TimeZone zone) {
  v1::PolicyInfo info;
  info.set_policy_version(policy.version());
  info.set_policy_hash(std::string(policy.digest().begin(), policy.digest().end()));
  for (const auto& org : policy.supervisor_org_ids()) info.add_supervisor_org_ids(org);
  for (const auto& org : policy.operator_org_ids()) info.add_operator_org_ids(org);
  for (const Purpose& purpose : policy.purposes()) {
    v1::Purpose* out = info.add_purposes();
    out->set_purpose_id(purpose.purpose_id);
    out->set_title(purpose.title);
    out->set_description(purpose.description);
    out->mutable_lawful_basis()->set_reference(purpose.lawful_basis.reference);
    out->mutable_lawful_basis()->set_text(purpose.lawful_basis.text);
    SetTimestamp(purpose.valid_from, zone, out->mutable_valid_from());
    if (purpose.valid_until) SetTimestamp(*purpose.valid_until, zone, out->mutable_valid_until());
    for (const auto& grant : purpose.may_ask) {
      v1::RequesterGrant* g = out->add_may_ask();
      g->set_org_id(grant.org_id);
      for (const auto role : grant.roles) g->add_roles(role);
    }
    for (const auto& org : purpose.may_answer_org_ids) out->add_may_answer_org_ids(org);
    for (const auto& org : purpose.case_director_org_ids) out->add_case_director_org_ids(org);
    out->set_case_required(purpose.case_required);
    for (const auto type : purpose.key_types) out->add_key_types(type);
    out->set_max_subjects_per_exchange(purpose.max_subjects_per_exchange);
    out->set_max_keys_per_subject(purpose.max_keys_per_subject);
    out->set_daily_exchange_quota(purpose.daily_exchange_quota);
    out->set_daily_subject_quota(purpose.daily_subject_quota);
    out->set_notify_on_hit(purpose.notify_on_hit);
    for (const auto& rule : purpose.disclosure_rules) {
      v1::DisclosureRule* r = out->add_disclosure_rules();
      r->set_responder_org_id(rule.responder_org_id);
      for (const auto& org : rule.requester_org_ids) r->add_requester_org_ids(org);
      for (const auto field : rule.fields) r->add_fields(field);
      for (const auto& category : rule.categories) r->add_categories(category);
    }
    SetDuration(purpose.approval_timeout, out->mutable_approval_timeout());
    SetDuration(purpose.disclosure_window, out->mutable_disclosure_window());
  }
  return info;
}

}  // namespace schakel::gateway
