#include "gateway/log_filter.h"

#include <algorithm>

#include "common/strings.h"
#include "gateway/service_records.h"

namespace schakel::gateway {
namespace {

constexpr size_t kTagSize = 16;
constexpr size_t kExchangeIdSize = 16;
constexpr int kMaxTagsPerSet = 10'000;

template <typename List, typename Value>
bool Has(const List& list, const Value& v) {
  return std::find(list.begin(), list.end(), v) != list.end();
}

// An empty list does not restrict.
template <typename List, typename Value>
bool Allows(const List& list, const Value& v) {
  return list.empty() || Has(list, v);
}

bool WholeMillis(const google::protobuf::Timestamp& t) {
  return t.nanos() >= 0 && t.nanos() % 1'000'000 == 0;
}

int64_t Millis(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1000 + t.nanos() / 1'000'000;
}

bool TookPart(const v1::LogRecord& r, std::string_view org) {
  return r.requester().org_id() == org || Has(r.answering_org_ids(), org);
}

}  // namespace

void CheckLogFilter(const v1::LogFilter& filter, std::string_view prefix,
                    std::string_view caller_org, bool caller_is_supervisor,
                    std::vector<v1::FieldProblem>& problems) {
  auto path = [&](std::string_view rest) { return StrCat(prefix, ".", rest); };
  const v1::TimeRange& time = filter.time();
  if (time.has_from() && !WholeMillis(time.from())) {
    problems.push_back(
        Problem(path("time.from"), "not a whole number of milliseconds", "whole milliseconds"));
  }
  if (time.has_to() && !WholeMillis(time.to())) {
    problems.push_back(
        Problem(path("time.to"), "not a whole number of milliseconds", "whole milliseconds"));
  }
  if (time.has_from() && time.has_to() && Millis(time.to()) < Millis(time.from())) {
    problems.push_back(Problem(path("time.to"), "before time.from", "at or after time.from"));
  }
  if (filter.to_sequence() != 0 &&
      filter.to_sequence() < std::max<uint64_t>(filter.from_sequence(), 1)) {
    problems.push_back(Problem(path("to_sequence"),
                               StrCat(filter.to_sequence(), " is before from_sequence"),
                               "0 (the head) or at least from_sequence"));
  }
  for (int i = 0; i < filter.kinds_size(); ++i) {
    if (filter.kinds(i) == v1::RECORD_KIND_UNSPECIFIED ||
        !v1::RecordKind_IsValid(filter.kinds(i))) {
      problems.push_back(Problem(path(StrCat("kinds[", i, "]")), "not a record kind",
                                 "a RecordKind other than UNSPECIFIED"));
    }
  }
  for (int i = 0; i < filter.outcomes_size(); ++i) {
    if (filter.outcomes(i) == v1::OUTCOME_UNSPECIFIED || !v1::Outcome_IsValid(filter.outcomes(i))) {
      problems.push_back(Problem(path(StrCat("outcomes[", i, "]")), "not an outcome",
                                 "an Outcome other than UNSPECIFIED"));
    }
  }
  for (int i = 0; i < filter.denial_reasons_size(); ++i) {
    if (filter.denial_reasons(i) == v1::DENIAL_REASON_UNSPECIFIED ||
        !v1::DenialReason_IsValid(filter.denial_reasons(i))) {
      problems.push_back(Problem(path(StrCat("denial_reasons[", i, "]")), "not a denial reason",
                                 "a DenialReason other than UNSPECIFIED"));
    }
  }
  for (int i = 0; i < filter.exchange_ids_size(); ++i) {
    if (filter.exchange_ids(i).size() != kExchangeIdSize) {
      problems.push_back(Problem(path(StrCat("exchange_ids[", i, "]")),
                                 StrCat(filter.exchange_ids(i).size(), " bytes"),
                                 "exactly 16 bytes"));
    }
  }
  for (int i = 0; i < filter.tag_sets_size(); ++i) {
    const v1::TagSet& set = filter.tag_sets(i);
    const std::string at = path(StrCat("tag_sets[", i, "]"));
    if (!caller_is_supervisor && set.org_id() != caller_org) {
      problems.push_back(Problem(StrCat(at, ".org_id"), "another organisation's tags",
                                 "the caller's own organisation (tags are per node)"));
    }
    if (set.tags().empty() || set.tags_size() > kMaxTagsPerSet) {
      problems.push_back(
          Problem(StrCat(at, ".tags"), StrCat(set.tags_size(), " tags"), "1 to 10,000 tags"));
    }
    for (int t = 0; t < set.tags_size(); ++t) {
      if (set.tags(t).size() != kTagSize) {
        problems.push_back(Problem(StrCat(at, ".tags[", t, "]"),
                                   StrCat(set.tags(t).size(), " bytes"), "exactly 16 bytes"));
        break;  // one is enough to name
      }
    }
  }
}

bool MatchesLogFilter(const v1::LogEntry& entry, const v1::LogFilter& filter) {
  const v1::LogRecord& r = entry.record();
  if (entry.sequence() < filter.from_sequence()) return false;
  if (filter.to_sequence() != 0 && entry.sequence() > filter.to_sequence()) return false;
  const int64_t at = Millis(r.recorded_at());
  if (filter.time().has_from() && at < Millis(filter.time().from())) return false;
  if (filter.time().has_to() && at >= Millis(filter.time().to())) return false;
  if (!Allows(filter.kinds(), r.kind())) return false;
  if (!Allows(filter.purpose_ids(), r.purpose_id())) return false;
  if (!filter.org_ids().empty() &&
      std::none_of(filter.org_ids().begin(), filter.org_ids().end(),
                   [&](const std::string& org) { return TookPart(r, org); })) {
    return false;
  }
  if (!Allows(filter.requester_org_ids(), r.requester().org_id())) return false;
  if (!filter.requester_user_id().empty() &&
      r.requester().user_id() != filter.requester_user_id()) {
    return false;
  }
  if (!filter.answering_org_ids().empty() &&
      std::none_of(filter.answering_org_ids().begin(), filter.answering_org_ids().end(),
                   [&](const std::string& org) { return Has(r.answering_org_ids(), org); })) {
    return false;
  }
  if (!Allows(filter.case_ids(), r.case_id())) return false;
  if (!Allows(filter.outcomes(), r.outcome())) return false;
  if (!filter.denial_reasons().empty() &&
      std::none_of(r.denial_reasons().begin(), r.denial_reasons().end(),
                   [&](int reason) { return Has(filter.denial_reasons(), reason); })) {
    return false;
  }
  if (!Allows(filter.exchange_ids(), r.exchange_id())) return false;
  if (!filter.tag_sets().empty()) {
    bool any = false;
    for (const v1::TagSet& set : filter.tag_sets()) {
      for (const v1::OrgTags& tags : r.tags()) {
        if (tags.org_id() != set.org_id() || tags.purpose_id() != set.purpose_id()) continue;
        for (const std::string& tag : tags.tags()) {
          if (Has(set.tags(), tag)) {
            any = true;
            break;
          }
        }
        if (any) break;
      }
      if (any) break;
    }
    if (!any) return false;
  }
  return true;
}

bool InAuditScope(const v1::LogRecord& record, const Policy& policy, std::string_view org) {
  if (policy.IsSupervisor(org)) return true;
  if (TookPart(record, org)) return true;
  if (Has(record.notified_org_ids(), org)) return true;
  if (record.case_info().director_org_id() == org) return true;
  if (record.disclosure().responder_org_id() == org) return true;
  for (const v1::PartnerOutcome& p : record.partners()) {
    if (p.org_id() == org) return true;
  }
  for (const v1::OrgTags& t : record.tags()) {
    if (t.org_id() == org) return true;
  }
  return false;
}

}  // namespace schakel::gateway
