// What the commands after a hit (disclose, disclosures, approvals,
// notifications) share in how they read and show things: 16-byte ids as
// hex, signal fields and requesters by name, and the checks of a reason
// that goes to a partner.
//
// Errors: INVALID_ARGUMENT naming the flag, never repeating the value.
// Thread safety: reentrant.
#ifndef SCHAKEL_CLI_DISCLOSURE_TEXT_H_
#define SCHAKEL_CLI_DISCLOSURE_TEXT_H_

#include <google/protobuf/repeated_field.h>

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "cli/command_context.h"
#include "schakel/v1/common.pb.h"

namespace schakel::cli {

// Most characters a reason sent with a disclosure or decision may have.
inline constexpr size_t kMaxReasonLength = 2000;

// Parses a 16-byte id (exchange, disclosure) given as 32 hex digits, either
// case. Errors: INVALID_ARGUMENT "<flag>: not <what> id (32 hex digits)",
// `what` e.g. "an exchange".
absl::StatusOr<std::string> ParseId(std::string_view hex, std::string_view flag,
                                    std::string_view what);

// Lower-case hex of an id (or any bytes).
std::string HexId(const std::string& bytes);

// Short names of SignalField values ("contact_name").
std::vector<std::string> FieldNames(const google::protobuf::RepeatedField<int>& fields);

// "riec/a.bakker (analyst)"; the user and role left out when unset.
std::string RequesterText(const schakel::v1::Requester& requester);

// Checks a --reason: not longer than kMaxReasonLength, and, when
// `required`, not blank. Otherwise prints a usage error with `hint` (for a
// blank one) and returns false.
bool CheckReason(const std::string& reason, bool required, std::string_view hint,
                 CommandContext& context);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_DISCLOSURE_TEXT_H_
