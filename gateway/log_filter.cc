#include "gateway/log_filter.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <utility>

#include "absl/time/civil_time.h"
#include "common/csv_field.h"
#include "common/strings.h"
#include "crypto/bytes.h"
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

namespace {

// A period start as a key that sorts like the time.
std::string SortableSeconds(int64_t seconds) {
  std::string digits = StrCat(static_cast<uint64_t>(seconds) + (uint64_t{1} << 63));
  return std::string(20 - std::min<size_t>(digits.size(), 20), '0') + digits;
}

void AddReasons(std::map<int, uint64_t>& to, const v1::LogRecord& record) {
  for (int r : record.denial_reasons()) ++to[r];
}


template <typename List, typename Name>
std::string Joined(const List& list, Name name) {
  std::string out;
  for (const auto& v : list) {
    if (!out.empty()) out += ';';
    out += name(v);
  }
  return out;
}

std::string HexOf(const std::string& bytes) { return crypto::ToHex(crypto::AsBytes(bytes)); }

}  // namespace

absl::Time PeriodStart(absl::Time t, v1::StatsPeriod period, absl::TimeZone tz) {
  const absl::CivilDay day = absl::ToCivilDay(t, tz);
  switch (period) {
    case v1::STATS_PERIOD_DAY:
      return absl::FromCivil(day, tz);
    case v1::STATS_PERIOD_WEEK: {
      // absl::Weekday counts from Monday (0).
      const int from_monday = static_cast<int>(absl::GetWeekday(day));
      return absl::FromCivil(day - from_monday, tz);
    }
    case v1::STATS_PERIOD_YEAR:
      return absl::FromCivil(absl::CivilYear(day), tz);
    default:
      return absl::FromCivil(absl::CivilMonth(day), tz);
  }
}

StatsTable::StatsTable(std::vector<v1::StatsDimension> group_by, v1::StatsPeriod period,
                       absl::TimeZone tz)
    : group_by_(std::move(group_by)), period_(period), tz_(tz) {}

StatsTable::Cell& StatsTable::CellFor(const v1::LogRecord& record, std::string_view answerer) {
  std::vector<std::string> key;
  v1::StatsRow row;
  for (v1::StatsDimension d : group_by_) {
    switch (d) {
      case v1::STATS_DIMENSION_PURPOSE:
        key.push_back(record.purpose_id());
        row.set_purpose_id(record.purpose_id());
        break;
      case v1::STATS_DIMENSION_REQUESTER:
        key.push_back(record.requester().org_id());
        row.set_requester_org_id(record.requester().org_id());
        break;
      case v1::STATS_DIMENSION_ANSWERER:
        key.emplace_back(answerer);
        row.set_answerer_org_id(std::string(answerer));
        break;
      case v1::STATS_DIMENSION_PERIOD: {
        const absl::Time at = absl::FromUnixSeconds(record.recorded_at().seconds()) +
                              absl::Nanoseconds(record.recorded_at().nanos());
        const int64_t start = absl::ToUnixSeconds(PeriodStart(at, period_, tz_));
        key.push_back(SortableSeconds(start));
        row.mutable_period_start()->set_seconds(start);
        break;
      }
      default:
        break;
    }
  }
  auto [it, added] = cells_.try_emplace(std::move(key));
  if (added) it->second.row = std::move(row);
  return it->second;
}

void StatsTable::Add(const v1::LogRecord& record) {
  const bool by_answerer = std::find(group_by_.begin(), group_by_.end(),
                                     v1::STATS_DIMENSION_ANSWERER) != group_by_.end();
  std::vector<std::string_view> answerers;
  if (by_answerer) {
    for (const std::string& org : record.answering_org_ids()) answerers.push_back(org);
  }
  if (answerers.empty()) answerers.push_back("");
  const bool refused = record.outcome() == v1::OUTCOME_REFUSED;
  for (std::string_view answerer : answerers) {
    // For a record not grouped by answerer, every partner counts.
    auto concerns = [&](std::string_view org) { return !by_answerer || org == answerer; };
    switch (record.kind()) {
      case v1::RECORD_KIND_EXCHANGE_REQUESTED: {
        Cell& c = CellFor(record, answerer);
        if (refused) {
          c.row.set_refusals(c.row.refusals() + 1);
          AddReasons(c.reasons, record);
        } else if (record.outcome() == v1::OUTCOME_GRANTED) {
          c.row.set_exchanges(c.row.exchanges() + 1);
          c.row.set_subjects(c.row.subjects() + record.counts().subjects());
        }
        break;
      }
      case v1::RECORD_KIND_EXCHANGE_EVALUATED: {
        Cell& c = CellFor(record, answerer);
        for (const v1::PartnerOutcome& p : record.partners()) {
          if (p.status() != v1::PARTNER_STATUS_OK && concerns(p.org_id())) {
            c.row.set_partner_failures(c.row.partner_failures() + 1);
          }
        }
        break;
      }
      case v1::RECORD_KIND_EXCHANGE_RESOLVED: {
        Cell& c = CellFor(record, answerer);
        if (refused) {
          c.row.set_refusals(c.row.refusals() + 1);
          AddReasons(c.reasons, record);
        } else if (!by_answerer) {
          c.row.set_hits(c.row.hits() + record.counts().subject_partner_hits());
        } else {
          for (const v1::PartnerOutcome& p : record.partners()) {
            if (p.org_id() == answerer) c.row.set_hits(c.row.hits() + p.subjects_hit());
          }
        }
        break;
      }
      case v1::RECORD_KIND_DISCLOSURE_REQUESTED: {
        Cell& c = CellFor(record, answerer);
        if (refused) {
          c.row.set_refusals(c.row.refusals() + 1);
          AddReasons(c.reasons, record);
        } else {
          c.row.set_disclosures_requested(c.row.disclosures_requested() + 1);
        }
        break;
      }
      case v1::RECORD_KIND_DISCLOSURE_DECIDED: {
        Cell& c = CellFor(record, answerer);
        const v1::DisclosureState state = record.disclosure().state();
        if (state == v1::DISCLOSURE_STATE_DELIVERED ||
            (state == v1::DISCLOSURE_STATE_UNSPECIFIED && record.outcome() == v1::OUTCOME_GRANTED)) {
          c.row.set_disclosures_delivered(c.row.disclosures_delivered() + 1);
        } else if (state == v1::DISCLOSURE_STATE_DENIED ||
                   (state == v1::DISCLOSURE_STATE_UNSPECIFIED &&
                    record.outcome() == v1::OUTCOME_DENIED)) {
          c.row.set_disclosures_denied(c.row.disclosures_denied() + 1);
          AddReasons(c.reasons, record);
        } else if (state == v1::DISCLOSURE_STATE_EXPIRED ||
                   (state == v1::DISCLOSURE_STATE_UNSPECIFIED &&
                    record.outcome() == v1::OUTCOME_EXPIRED)) {
          c.row.set_disclosures_expired(c.row.disclosures_expired() + 1);
        }
        break;
      }
      default:
        return;
    }
  }
}

std::vector<v1::StatsRow> StatsTable::Rows() const {
  std::vector<v1::StatsRow> rows;
  for (const auto& [key, cell] : cells_) {
    const v1::StatsRow& r = cell.row;
    if (r.exchanges() == 0 && r.subjects() == 0 && r.hits() == 0 &&
        r.disclosures_requested() == 0 && r.disclosures_delivered() == 0 &&
        r.disclosures_denied() == 0 && r.disclosures_expired() == 0 && r.refusals() == 0 &&
        r.partner_failures() == 0 && cell.reasons.empty()) {
      continue;
    }
    v1::StatsRow row = r;
    for (const auto& [reason, count] : cell.reasons) {
      v1::ReasonCount& rc = *row.add_by_reason();
      rc.set_reason(static_cast<v1::DenialReason>(reason));
      rc.set_count(count);
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

std::string ExportCsvHeader(bool with_policy_text) {
  return StrCat(
      "sequence,recorded_at,kind,policy_version,purpose_id,lawful_basis_reference,"
      "lawful_basis_text,case_id,exchange_id,requester_org_id,requester_user_id,requester_role,"
      "answering_org_ids,outcome,denial_reasons,subjects,subjects_hit,disclosure_id,"
      "fields_disclosed,payload_hash,decided_by_user_id,previous_hash,entry_hash",
      with_policy_text ? ",policy_text" : "", "\r\n");
}

std::string ExportCsvLine(const v1::LogEntry& entry, bool with_policy_text,
                          std::string_view policy_text) {
  const v1::LogRecord& r = entry.record();
  const v1::DisclosureStatement& statement = r.disclosure().statement();
  const std::vector<std::string> fields = {
      StrCat(entry.sequence()),
      google::protobuf::util::TimeUtil::ToString(r.recorded_at()),
      v1::RecordKind_Name(r.kind()),
      r.policy_version(),
      r.purpose_id(),
      r.lawful_basis().reference(),
      r.lawful_basis().text(),
      r.case_id(),
      HexOf(r.exchange_id()),
      r.requester().org_id(),
      r.requester().user_id(),
      r.requester().role() == v1::ROLE_UNSPECIFIED ? "" : v1::Role_Name(r.requester().role()),
      Joined(r.answering_org_ids(), [](const std::string& s) { return s; }),
      v1::Outcome_Name(r.outcome()),
      Joined(r.denial_reasons(),
             [](int reason) { return v1::DenialReason_Name(static_cast<v1::DenialReason>(reason)); }),
      StrCat(r.counts().subjects()),
      StrCat(r.counts().subjects_hit()),
      HexOf(r.disclosure().disclosure_id()),
      Joined(statement.fields_disclosed(),
             [](int f) { return v1::SignalField_Name(static_cast<v1::SignalField>(f)); }),
      HexOf(statement.payload_hash()),
      statement.decided_by_user_id(),
      HexOf(entry.previous_hash()),
      HexOf(entry.entry_hash()),
  };
  std::string line;
  for (const std::string& f : fields) {
    if (!line.empty()) line += ',';
    line += CsvField(f);
  }
  if (with_policy_text) {
    line += ',';
    line += CsvField(policy_text);
  }
  line += "\r\n";
  return line;
}

absl::StatusOr<std::string> ExportJsonLine(const v1::LogEntry& entry, bool with_policy_text,
                                           std::string_view policy_text) {
  std::string json;
  auto status = google::protobuf::util::MessageToJsonString(entry, &json);
  if (!status.ok()) {
    return absl::InternalError(StrCat("entry ", entry.sequence(), " cannot be written as JSON"));
  }
  if (with_policy_text && !json.empty() && json.back() == '}') {
    google::protobuf::Value text;
    text.set_string_value(std::string(policy_text));
    std::string quoted;
    if (!google::protobuf::util::MessageToJsonString(text, &quoted).ok()) {
      return absl::InternalError(StrCat("entry ", entry.sequence(), ": policy text as JSON"));
    }
    json.pop_back();
    json += StrCat(json.size() > 1 ? "," : "", "\"policyText\":", quoted, "}");
  }
  json += '\n';
  return json;
}

std::string PurposeSection(std::string_view canonical_text, std::string_view purpose_id) {
  if (purpose_id.empty()) return "";
  const nlohmann::json doc = nlohmann::json::parse(canonical_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("purposes") ||
      !doc["purposes"].is_array()) {
    return "";
  }
  for (const nlohmann::json& p : doc["purposes"]) {
    if (p.is_object() && p.contains("purpose_id") && p["purpose_id"].is_string() &&
        p["purpose_id"].get<std::string>() == purpose_id) {
      return p.dump();
    }
  }
  return "";
}

}  // namespace schakel::gateway
