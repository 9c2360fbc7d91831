// Which log entries an audit query selects (log.proto, LogFilter) and which
// an auditor may see (audit.proto, "Scope"): pure functions over records,
// shared by the Audit rpcs that take a filter.
//
// Thread safety: free functions; reentrant.
#ifndef SCHAKEL_GATEWAY_LOG_FILTER_H_
#define SCHAKEL_GATEWAY_LOG_FILTER_H_

#include <string>
#include <string_view>
#include <vector>

#include "gateway/policy.h"
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

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_LOG_FILTER_H_
