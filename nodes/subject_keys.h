// A subject (signals.proto) as the identifiers crypto/match_keys.h derives
// keys from, and crypto's key errors as per-field problems.
//
// Shared by the signal store ("signal.subject.<field>") and Match
// ("subjects[i].subject.<field>"), which only differ in the path they put
// before the field.
//
// Thread safety: reentrant. Errors: none (problems are returned as values).
#ifndef SCHAKEL_NODES_SUBJECT_KEYS_H_
#define SCHAKEL_NODES_SUBJECT_KEYS_H_

#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "crypto/match_keys.h"
#include "schakel/v1/signals.pb.h"

namespace schakel::nodes {

// The identifiers of `subject`: an empty field is absent; the surname
// prefix goes before the surname; the address only when it has a postcode
// or a house number.
crypto::SubjectIdentifiers SubjectIdentifiersOf(const v1::Subject& subject);

// One problem of a subject. `field` is relative to the subject: "bsn",
// "address.postcode", ..., or empty for the subject as a whole (no
// identifiers, an incomplete name_dob group).
struct SubjectFieldProblem {
  std::string field;
  std::string problem;
};

// Splits the message of a crypto::DeriveMatchKeys error ("bsn: ...;
// postcode: ...") into problems. A problem's own text may contain "; "
// ("... go together; missing birth_date"): a part that does not start with
// a known field continues the problem before it.
std::vector<SubjectFieldProblem> SubjectKeyProblems(absl::string_view message);

// `path` followed by the problem's field: "subject" + "bsn" ->
// "subject.bsn"; "subject" alone for the subject as a whole.
std::string SubjectFieldPath(const std::string& path, const SubjectFieldProblem& problem);

// The API's name for a key type.
v1::MatchKeyType MatchKeyTypeToProto(crypto::MatchKeyType type);

// The UTC calendar day of `t` (birth dates are checked against it).
std::chrono::year_month_day UtcDay(absl::Time t);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_SUBJECT_KEYS_H_
