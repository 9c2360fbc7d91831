#include "nodes/local_policy.h"

#include <algorithm>
#include <charconv>
#include <fstream>
#include <iterator>
#include <sstream>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/org_id.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/match_keys.h"
#include "crypto/pseudonym.h"
#include "proto/names.h"

namespace schakel::nodes {
namespace {

using json = nlohmann::json;

struct Problem {
  std::string path;
  std::string problem;
};

class Problems {
 public:
  void Add(std::string path, std::string problem) {
    list_.push_back({std::move(path), std::move(problem)});
  }
  bool empty() const { return list_.empty(); }
  size_t size() const { return list_.size(); }

  absl::Status Refusal(std::string_view source_name) const {
    std::string message = StrCat(source_name, ": local policy refused, ", list_.size(),
                                 list_.size() == 1 ? " problem:" : " problems:");
    for (const Problem& p : list_) {
      message += p.path.empty() ? StrCat("\n  ", p.problem) : StrCat("\n  ", p.path, ": ", p.problem);
    }
    return absl::InvalidArgumentError(message);
  }

 private:
  std::vector<Problem> list_;
};

std::string Child(std::string_view path, std::string_view key) {
  return path.empty() ? std::string(key) : StrCat(path, ".", key);
}
std::string Index(std::string_view path, size_t i) { return StrCat(path, "[", i, "]"); }

std::string_view TypeName(const json& value) {
  if (value.is_string()) return "a string";
  if (value.is_number_integer() || value.is_number_unsigned()) return "an integer";
  if (value.is_number()) return "a number";
  if (value.is_boolean()) return "a boolean";
  if (value.is_array()) return "an array";
  if (value.is_object()) return "an object";
  return "null";
}

// Reports fields of `object` not in `allowed`.
void CheckKeys(const json& object, const std::string& path,
               std::initializer_list<std::string_view> allowed, Problems& problems) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (std::find(allowed.begin(), allowed.end(), it.key()) == allowed.end()) {
      std::string hint;
      for (std::string_view a : allowed) hint += StrCat(hint.empty() ? "" : ", ", a);
      problems.Add(Child(path, it.key()), StrCat("unknown field; allowed: ", hint));
    }
  }
}

// A required (or optional) string field; nullopt when absent or wrong.
std::optional<std::string> GetString(const json& object, const std::string& path,
                                     std::string_view key, bool required, Problems& problems) {
  const auto it = object.find(key);
  if (it == object.end()) {
    if (required) problems.Add(Child(path, key), "missing");
    return std::nullopt;
  }
  if (!it->is_string()) {
    problems.Add(Child(path, key), StrCat("must be a string, not ", TypeName(*it)));
    return std::nullopt;
  }
  return it->get<std::string>();
}

const json* GetArray(const json& object, const std::string& path, std::string_view key,
                     bool required, Problems& problems) {
  const auto it = object.find(key);
  if (it == object.end()) {
    if (required) problems.Add(Child(path, key), "missing");
    return nullptr;
  }
  if (!it->is_array()) {
    problems.Add(Child(path, key), StrCat("must be an array, not ", TypeName(*it)));
    return nullptr;
  }
  return &*it;
}

std::optional<uint32_t> GetUint32(const json& object, const std::string& path,
                                  std::string_view key, uint32_t max, Problems& problems) {
  const auto it = object.find(key);
  if (it == object.end()) return std::nullopt;
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > max) {
    problems.Add(Child(path, key), StrCat("must be an integer from 0 to ", max));
    return std::nullopt;
  }
  return static_cast<uint32_t>(it->get<int64_t>());
}

// "<days>d", e.g. "730d".
std::optional<absl::Duration> ParseDays(std::string_view text) {
  if (text.size() < 2 || text.back() != 'd') return std::nullopt;
  const std::string_view digits = text.substr(0, text.size() - 1);
  int64_t days = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), days);
  if (ec != std::errc() || end != digits.data() + digits.size() || days > 100000) {
    return std::nullopt;
  }
  return absl::Hours(24 * days);
}

std::optional<v1::Domain> ParseDomain(std::string_view name) {
  if (name == "safety") return v1::DOMAIN_SAFETY;
  if (name == "care") return v1::DOMAIN_CARE;
  if (name == "social") return v1::DOMAIN_SOCIAL;
  if (name == "housing") return v1::DOMAIN_HOUSING;
  return std::nullopt;
}

// The objects of array field `key` with their paths; reports a missing or
// non-array field, elements that are not objects, and unknown fields.
std::vector<std::pair<const json*, std::string>> Objects(
    const json& root, std::string_view key, bool required,
    std::initializer_list<std::string_view> allowed, Problems& problems) {
  std::vector<std::pair<const json*, std::string>> out;
  const json* array = GetArray(root, "", key, required, problems);
  if (array == nullptr) return out;
  for (size_t i = 0; i < array->size(); ++i) {
    const json& entry = (*array)[i];
    std::string path = Index(key, i);
    if (!entry.is_object()) {
      problems.Add(path, StrCat("must be an object, not ", TypeName(entry)));
      continue;
    }
    CheckKeys(entry, path, allowed, problems);
    out.emplace_back(&entry, std::move(path));
  }
  return out;
}

// A required id (a category or purpose id: 2 to 63 characters of
// [a-z0-9._-], starting with a letter) that must be unique among `seen`.
std::optional<std::string> GetId(const json& object, const std::string& path,
                                 std::string_view key, std::set<std::string>& seen,
                                 std::string_view twice, Problems& problems) {
  auto id = GetString(object, path, key, true, problems);
  if (!id) return std::nullopt;
  if (!crypto::ValidatePurposeId(*id).ok()) {
    problems.Add(Child(path, key),
                 "must be 2 to 63 characters of a-z, 0-9, '.', '_', '-', starting with a letter");
    return std::nullopt;
  }
  if (!seen.insert(*id).second) {
    problems.Add(Child(path, key), StrCat("\"", *id, "\" ", twice));
    return std::nullopt;
  }
  return id;
}

// The first problem of a "; "-separated crypto error, without values.
std::string AddressProblem(const absl::Status& status) {
  return std::string(status.message().data(), status.message().size());
}

std::optional<json> ParseJson(std::string_view text, Problems& problems) {
  try {
    return json::parse(text, nullptr, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const json::parse_error& error) {
    // Only the position: nlohmann's message goes on with "last read: '...'",
    // which can quote the file (an excluded address, say).
    std::string message = error.what();
    const size_t at = message.find("at line ");
    std::string where = "an unknown position";
    if (at != std::string::npos) {
      where = message.substr(at + 3);
      where = where.substr(0, where.find(':'));
    }
    problems.Add("", StrCat("JSON syntax error at ", where, " (the text there is not shown)"));
  } catch (const json::exception&) {
    // out_of_range.406: a number beyond a double ("1e400"); its message
    // quotes the number.
    problems.Add("", "JSON number out of range (the text there is not shown)");
  }
  return std::nullopt;
}


std::optional<v1::SignalField> ParseSignalField(std::string_view name) {
  return names::ValueOf(names::kSignalFields, name);
}

std::string SignalFieldNames() { return names::NameList(names::kSignalFields); }

// One entry of "disclosure_rules"; nullopt (with the problems added) when
// it is not usable. `seen_rules` holds the names met so far.
std::optional<DisclosureRulePolicy> ReadDisclosureRule(
    const json& entry, const std::string& path,
    const std::map<std::string, AnsweredPurposePolicy, std::less<>>& purposes,
    const std::set<std::string>& seen_purposes, std::set<std::string>& seen_rules,
    Problems& problems) {
  DisclosureRulePolicy rule;
  bool ok = true;
  if (auto name = GetId(entry, path, "rule", seen_rules, "names two rules", problems)) {
    rule.rule = *std::move(name);
  } else {
    ok = false;
  }
  const AnsweredPurposePolicy* purpose = nullptr;
  if (auto id = GetString(entry, path, "purpose_id", true, problems)) {
    const auto it = purposes.find(*id);
    if (it != purposes.end()) {
      purpose = &it->second;
      rule.purpose_id = *std::move(id);
    } else {
      // A purpose with its own problems is reported there, not twice.
      if (!seen_purposes.contains(*id)) {
        problems.Add(Child(path, "purpose_id"),
                     StrCat("\"", id->substr(0, 64), "\" is not a purpose this node answers "
                                                    "(purposes[].purpose_id)"));
      }
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const json* requesters = GetArray(entry, path, "requester_org_ids", false, problems)) {
    std::set<std::string> seen;
    for (size_t j = 0; j < requesters->size(); ++j) {
      const json& o = (*requesters)[j];
      const std::string opath = Index(Child(path, "requester_org_ids"), j);
      if (!o.is_string() || !IsValidOrgId(o.get<std::string>())) {
        problems.Add(opath, "must be an organisation id (2 to 63 characters of a-z, 0-9 and '-', "
                            "starting with a letter)");
        ok = false;
      } else if (!seen.insert(o.get<std::string>()).second) {
        problems.Add(opath, StrCat("\"", o.get<std::string>(), "\" is listed twice"));
        ok = false;
      } else {
        rule.requester_org_ids.push_back(o.get<std::string>());
      }
    }
  } else if (entry.contains("requester_org_ids")) {
    ok = false;
  }
  if (const json* fields = GetArray(entry, path, "fields", true, problems)) {
    if (fields->empty()) {
      problems.Add(Child(path, "fields"),
                   "must name at least one field (leave the rule out to disclose nothing)");
      ok = false;
    }
    for (size_t j = 0; j < fields->size(); ++j) {
      const json& f = (*fields)[j];
      const std::string fpath = Index(Child(path, "fields"), j);
      const std::optional<v1::SignalField> field =
          f.is_string() ? ParseSignalField(f.get<std::string>()) : std::nullopt;
      if (!field) {
        problems.Add(fpath, StrCat(f.is_string() ? StrCat("\"", f.get<std::string>().substr(0, 64),
                                                          "\" is not a signal field")
                                                 : StrCat("must be a string, not ", TypeName(f)),
                                   "; use ", SignalFieldNames()));
        ok = false;
      } else if (std::find(rule.fields.begin(), rule.fields.end(), *field) != rule.fields.end()) {
        problems.Add(fpath, StrCat("\"", f.get<std::string>(), "\" is listed twice"));
        ok = false;
      } else {
        rule.fields.push_back(*field);
      }
    }
  } else {
    ok = false;
  }
  if (const json* categories = GetArray(entry, path, "categories", false, problems)) {
    for (size_t j = 0; j < categories->size(); ++j) {
      const json& c = (*categories)[j];
      const std::string cpath = Index(Child(path, "categories"), j);
      if (!c.is_string()) {
        problems.Add(cpath, StrCat("must be a string, not ", TypeName(c)));
        ok = false;
        continue;
      }
      const std::string name = c.get<std::string>();
      if (purpose != nullptr && !purpose->matchable_categories.contains(name)) {
        problems.Add(cpath, StrCat("\"", name.substr(0, 64), "\" is not matchable under purpose \"",
                                   purpose->purpose_id, "\", so no signal of it can be disclosed"));
        ok = false;
      } else if (!rule.categories.insert(name).second) {
        problems.Add(cpath, StrCat("\"", name, "\" is listed twice"));
        ok = false;
      }
    }
  } else if (entry.contains("categories")) {
    ok = false;
  }
  if (const auto it = entry.find("mandate"); it != entry.end()) {
    if (it->is_boolean()) {
      rule.mandate = it->get<bool>();
    } else {
      problems.Add(Child(path, "mandate"), StrCat("must be true or false, not ", TypeName(*it)));
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return rule;
}
}  // namespace

const CategoryPolicy* LocalPolicy::FindCategory(std::string_view category) const {
  const auto it = categories_.find(category);
  return it == categories_.end() ? nullptr : &it->second;
}

const AnsweredPurposePolicy* LocalPolicy::FindPurpose(std::string_view purpose_id) const {
  const auto it = purposes_.find(purpose_id);
  return it == purposes_.end() ? nullptr : &it->second;
}

std::vector<std::string> LocalPolicy::PurposesMatching(std::string_view category) const {
  std::vector<std::string> out;
  for (const auto& [id, purpose] : purposes_) {
    if (purpose.matchable_categories.contains(std::string(category))) out.push_back(id);
  }
  return out;
}

const DisclosureRulePolicy* LocalPolicy::FindDisclosureRule(
    std::string_view purpose_id, std::string_view requester_org_id) const {
  for (const DisclosureRulePolicy& rule : disclosure_rules_) {
    if (rule.purpose_id != purpose_id) continue;
    if (rule.requester_org_ids.empty() ||
        std::find(rule.requester_org_ids.begin(), rule.requester_org_ids.end(),
                  requester_org_id) != rule.requester_org_ids.end()) {
      return &rule;
    }
  }
  return nullptr;
}

std::set<std::string> LocalPolicy::DisclosableCategories(const DisclosureRulePolicy& rule) const {
  if (!rule.categories.empty()) return rule.categories;
  const AnsweredPurposePolicy* purpose = FindPurpose(rule.purpose_id);
  return purpose == nullptr ? std::set<std::string>() : purpose->matchable_categories;
}

bool LocalPolicy::IsExcludedAddress(std::string_view canonical_address) const {
  return excluded_addresses_.contains(canonical_address);
}

bool LocalPolicy::ExceedsPersonsPerAddress(uint64_t persons) const {
  return max_persons_per_address_ > 0 && persons > max_persons_per_address_;
}

v1::LocalPolicyInfo LocalPolicy::ToProto() const {
  v1::LocalPolicyInfo info;
  info.set_local_policy_version(version_);
  for (const auto& [id, category] : categories_) {
    v1::CategoryConfig* out = info.add_categories();
    out->set_category(id);
    out->mutable_retention()->set_seconds(absl::ToInt64Seconds(category.retention));
  }
  for (const auto& [id, purpose] : purposes_) {
    v1::AnsweredPurpose* out = info.add_purposes();
    out->set_purpose_id(id);
    for (const std::string& c : purpose.matchable_categories) out->add_matchable_categories(c);
    for (const std::string& o : purpose.refused_requester_org_ids) {
      out->add_refused_requester_org_ids(o);
    }
    out->set_daily_element_quota(purpose.daily_element_quota);
  }
  for (const DisclosureRulePolicy& rule : disclosure_rules_) {
    v1::LocalDisclosureRule* out = info.add_disclosure_rules();
    out->set_rule(rule.rule);
    out->set_purpose_id(rule.purpose_id);
    for (const std::string& o : rule.requester_org_ids) out->add_requester_org_ids(o);
    for (v1::SignalField f : rule.fields) out->add_fields(f);
    for (const std::string& c : rule.categories) out->add_categories(c);
    out->set_mandate(rule.mandate);
  }
  info.set_excluded_address_count(static_cast<uint32_t>(excluded_addresses_.size()));
  info.set_max_persons_per_address(max_persons_per_address_);
  return info;
}

absl::StatusOr<std::shared_ptr<const LocalPolicy>> ParseLocalPolicy(std::string_view text,
                                                                    std::string_view source_name) {
  Problems problems;
  if (text.size() > kMaxLocalPolicyBytes) {
    problems.Add("", StrCat("larger than ", kMaxLocalPolicyBytes, " bytes"));
    return problems.Refusal(source_name);
  }
  const std::optional<json> parsed = ParseJson(text, problems);
  if (!parsed) return problems.Refusal(source_name);
  const json& root = *parsed;
  if (!root.is_object()) {
    problems.Add("", StrCat("the file must hold a JSON object, not ", TypeName(root)));
    return problems.Refusal(source_name);
  }
  CheckKeys(root, "",
            {"version", "categories", "purposes", "max_persons_per_address", "excluded_addresses",
             "disclosure_rules"},
            problems);

  std::shared_ptr<LocalPolicy> policy(new LocalPolicy());

  std::string declared_version;
  if (auto version = GetString(root, "", "version", true, problems)) {
    if (version->empty() || version->size() > 64) {
      problems.Add("version", "must be 1 to 64 characters");
    }
    declared_version = *std::move(version);
  }

  // Categories.
  std::set<std::string> seen_categories, seen_purposes;  // also those with problems
  if (root.contains("categories") && root["categories"].is_array() &&
      root["categories"].empty()) {
    problems.Add("categories", "must name at least one category");
  }
  for (const auto& [entry_ptr, path] :
       Objects(root, "categories", true, {"category", "domain", "retention"}, problems)) {
    {
      const json& entry = *entry_ptr;
      CategoryPolicy category{.category = {}, .domain = v1::DOMAIN_UNSPECIFIED,
                              .retention = kDefaultRetention};
      bool ok = true;
      if (auto id = GetId(entry, path, "category", seen_categories, "is configured twice",
                          problems)) {
        category.category = *std::move(id);
      } else {
        ok = false;
      }
      if (auto domain = GetString(entry, path, "domain", true, problems)) {
        if (auto parsed_domain = ParseDomain(*domain)) {
          category.domain = *parsed_domain;
        } else {
          problems.Add(Child(path, "domain"),
                       StrCat("\"", *domain, "\" is not a domain; use safety, care, social or "
                                             "housing"));
          ok = false;
        }
      } else {
        ok = false;
      }
      if (auto retention = GetString(entry, path, "retention", false, problems)) {
        const auto days = ParseDays(*retention);
        if (!days) {
          problems.Add(Child(path, "retention"),
                       StrCat("\"", *retention, "\" is not a duration; use days, e.g. \"730d\""));
          ok = false;
        } else if (*days < kMinRetention || *days > kMaxRetention) {
          problems.Add(Child(path, "retention"), "must be from 1d to 3650d");
          ok = false;
        } else {
          category.retention = *days;
        }
      } else if (entry.contains("retention")) {
        ok = false;
      }
      if (ok) policy->categories_.emplace(category.category, std::move(category));
    }
  }

  // Purposes.
  for (const auto& [entry_ptr, path] :
       Objects(root, "purposes", true,
               {"purpose_id", "matchable_categories", "refused_requester_org_ids",
                "daily_element_quota"},
               problems)) {
    {
      const json& entry = *entry_ptr;
      AnsweredPurposePolicy purpose;
      bool ok = true;
      if (auto id = GetId(entry, path, "purpose_id", seen_purposes, "is answered twice",
                          problems)) {
        purpose.purpose_id = *std::move(id);
      } else {
        ok = false;
      }
      if (const json* matchable = GetArray(entry, path, "matchable_categories", true, problems)) {
        if (matchable->empty()) {
          problems.Add(Child(path, "matchable_categories"),
                       "must name at least one category (leave the purpose out to answer "
                       "nothing under it)");
          ok = false;
        }
        for (size_t j = 0; j < matchable->size(); ++j) {
          const json& c = (*matchable)[j];
          const std::string cpath = Index(Child(path, "matchable_categories"), j);
          if (!c.is_string()) {
            problems.Add(cpath, StrCat("must be a string, not ", TypeName(c)));
            ok = false;
            continue;
          }
          const std::string name = c.get<std::string>();
          if (!seen_categories.contains(name)) {
            problems.Add(cpath, StrCat("\"", name, "\" is not a configured category"));
            ok = false;
          } else if (!purpose.matchable_categories.insert(name).second) {
            problems.Add(cpath, StrCat("\"", name, "\" is listed twice"));
            ok = false;
          }
        }
      } else {
        ok = false;
      }
      if (const json* refused =
              GetArray(entry, path, "refused_requester_org_ids", false, problems)) {
        for (size_t j = 0; j < refused->size(); ++j) {
          const json& o = (*refused)[j];
          if (!o.is_string() || o.get<std::string>().empty()) {
            problems.Add(Index(Child(path, "refused_requester_org_ids"), j),
                         "must be a non-empty string (an organisation id)");
            ok = false;
            continue;
          }
          purpose.refused_requester_org_ids.push_back(o.get<std::string>());
        }
      }
      if (entry.contains("daily_element_quota")) {
        if (auto quota = GetUint32(entry, path, "daily_element_quota", 100'000'000, problems)) {
          purpose.daily_element_quota = *quota;
        } else {
          ok = false;
        }
      }
      if (ok) policy->purposes_.emplace(purpose.purpose_id, std::move(purpose));
    }
  }

  // Institutional addresses.
  if (root.contains("max_persons_per_address")) {
    if (auto max = GetUint32(root, "", "max_persons_per_address", 100'000, problems)) {
      policy->max_persons_per_address_ = *max;
    }
  }
  for (const auto& [entry_ptr, path] :
       Objects(root, "excluded_addresses", false, {"postcode", "house_number", "reason"},
               problems)) {
    {
      const json& entry = *entry_ptr;
      const auto postcode = GetString(entry, path, "postcode", true, problems);
      std::optional<std::string> number;
      if (const auto it = entry.find("house_number"); it == entry.end()) {
        problems.Add(Child(path, "house_number"), "missing");
      } else if (it->is_number_unsigned() || it->is_number_integer()) {
        number = std::to_string(it->get<int64_t>());
      } else if (it->is_string()) {
        number = it->get<std::string>();
      } else {
        problems.Add(Child(path, "house_number"),
                     StrCat("must be a string or an integer, not ", TypeName(*it)));
      }
      (void)GetString(entry, path, "reason", false, problems);
      if (!postcode || !number) continue;
      const auto canonical = crypto::CanonicalAddress(*postcode, *number);
      if (!canonical.ok()) {
        // The crypto messages name the field and problem, never the value.
        problems.Add(path, AddressProblem(canonical.status()));
        continue;
      }
      if (!policy->excluded_addresses_.insert(*canonical).second) {
        problems.Add(path, "the same address is listed twice");
      }
    }
  }

  // Disclosure rules (after the purposes they refer to).
  std::set<std::string> seen_rules;
  for (const auto& [entry_ptr, path] :
       Objects(root, "disclosure_rules", false,
               {"rule", "purpose_id", "requester_org_ids", "fields", "categories", "mandate"},
               problems)) {
    if (auto rule = ReadDisclosureRule(*entry_ptr, path, policy->purposes_, seen_purposes,
                                       seen_rules, problems)) {
      policy->disclosure_rules_.push_back(*std::move(rule));
    }
  }

  if (!problems.empty()) return problems.Refusal(source_name);

  const crypto::Blake2b256Digest digest = crypto::Blake2b256Hash(crypto::AsBytes(text));
  policy->version_ = StrCat(declared_version, "+", crypto::ToHex(digest).substr(0, 8));
  return std::shared_ptr<const LocalPolicy>(std::move(policy));
}

absl::StatusOr<std::shared_ptr<const LocalPolicy>> LoadLocalPolicy(
    const std::filesystem::path& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        StrCat("local policy ", path.string(), ": cannot be read: ", ec.message()));
  }
  if (size > kMaxLocalPolicyBytes) {
    return absl::FailedPreconditionError(StrCat("local policy ", path.string(), ": larger than ",
                                                kMaxLocalPolicyBytes, " bytes"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        StrCat("local policy ", path.string(), ": cannot be opened"));
  }
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    return absl::FailedPreconditionError(StrCat("local policy ", path.string(), ": read error"));
  }
  return ParseLocalPolicy(text, path.filename().string());
}

}  // namespace schakel::nodes
