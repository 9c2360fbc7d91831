// Which log entries an audit query selects (log.proto, LogFilter) and which
// an auditor may see (audit.proto, "Scope"), statistics over entries and
// the export formats: pure functions over records, shared by the Audit
// rpcs that take a filter.
//
// Thread safety: free functions are reentrant; a StatsTable is not safe
// for concurrent use.
#ifndef SCHAKEL_GATEWAY_LOG_FILTER_H_
#define SCHAKEL_GATEWAY_LOG_FILTER_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/policy.h"
#include "schakel/v1/audit.pb.h"
#include "schakel/v1/errors.pb.h"
#include "schakel/v1/log.pb.h"

namespace schakel::gateway {

// Appends a FieldProblem (paths under `prefix`, e.g. "filter") for every
// malformed part of `filter`: an inverted time or sequence range, a time
// that is not whole milliseconds, an unspecified kind, outcome or reason, an
// exchange id that is not 16 bytes, a TagSet without tags, with more than
// 10,000, with a tag that is not 16 bytes, or naming another organisation
// than `caller_org` when the caller is no supervisor.
void CheckLogFilter(const v1::LogFilter& filter, std::string_view prefix,
                    std::string_view caller_org, bool caller_is_supervisor,
                    std::vector<v1::FieldProblem>& problems);

// Whether `entry` matches `filter` (fields AND, values within a field OR;
// the sequence range included, to_sequence 0 meaning no bound).
bool MatchesLogFilter(const v1::LogEntry& entry, const v1::LogFilter& filter);

// Whether an auditor of `org` may read `record`: always for a supervisor
// organisation of `policy`; otherwise when `org` took part (requester,
// answerer, partner, notified, tag owner, case director, disclosing party).
bool InAuditScope(const v1::LogRecord& record, const Policy& policy, std::string_view org);

// Statistics over log entries (audit.proto, GetStats). What each record
// adds to the row(s) its dimensions place it in:
//   EXCHANGE_REQUESTED  granted: exchanges 1, subjects counts.subjects;
//                       refused: refusals 1 and its reasons.
//   EXCHANGE_EVALUATED  partner_failures: partners not OK.
//   EXCHANGE_RESOLVED   hits: counts.subject_partner_hits (per answerer:
//                       that partner's subjects_hit); refused: refusals.
//   DISCLOSURE_REQUESTED  accepted: disclosures_requested 1; refused:
//                       refusals 1 and its reasons.
//   DISCLOSURE_DECIDED  by state: delivered, denied (with its reasons) or
//                       expired.
// Other kinds add nothing. By ANSWERER a record counts once for each
// organisation in answering_org_ids (an exchange once per partner asked;
// partner failures and hits only for that partner).
class StatsTable {
 public:
  // `group_by` holds distinct, specified dimensions; `tz` the zone of the
  // period boundaries.
  StatsTable(std::vector<v1::StatsDimension> group_by, v1::StatsPeriod period, absl::TimeZone tz);
  void Add(const v1::LogRecord& record);
  // Rows with any count, ordered by the dimensions in the order given.
  std::vector<v1::StatsRow> Rows() const;

 private:
  struct Cell {
    v1::StatsRow row;
    std::map<int, uint64_t> reasons;
  };
  Cell& CellFor(const v1::LogRecord& record, std::string_view answerer);

  std::vector<v1::StatsDimension> group_by_;
  v1::StatsPeriod period_;
  absl::TimeZone tz_;
  std::map<std::vector<std::string>, Cell> cells_;
};

// The start of the period (a calendar day, ISO week from Monday, month or
// year in `tz`) that `t` falls in; UNSPECIFIED means MONTH.
absl::Time PeriodStart(absl::Time t, v1::StatsPeriod period, absl::TimeZone tz);

// Export (audit.proto, ExportFormat). The CSV header line and one entry's
// line (RFC 4180, "\r\n"-terminated); `policy_text` is added as the last
// column when `with_policy_text`. The JSON line is the proto3 JSON of the
// entry plus "policyText" when `with_policy_text`, "\n"-terminated.
std::string ExportCsvHeader(bool with_policy_text);
std::string ExportCsvLine(const v1::LogEntry& entry, bool with_policy_text,
                          std::string_view policy_text);
absl::StatusOr<std::string> ExportJsonLine(const v1::LogEntry& entry, bool with_policy_text,
                                           std::string_view policy_text);

// The section of a policy's canonical text (JSON) for `purpose_id`: the
// purpose object as JSON; empty when the purpose is not in it or the id
// is empty.
std::string PurposeSection(std::string_view canonical_text, std::string_view purpose_id);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_LOG_FILTER_H_
