#include "cli/disclosure_text.h"

#include "cli/proto_text.h"
#include "common/strings.h"
#include "crypto/bytes.h"

namespace schakel::cli {

absl::StatusOr<std::string> ParseId(std::string_view hex, std::string_view flag,
                                    std::string_view what) {
  auto bytes = crypto::FromHex(hex, flag);
  if (!bytes.ok() || bytes->size() != 16) {
    return absl::InvalidArgumentError(StrCat(flag, ": not ", what, " id (32 hex digits)"));
  }
  return std::string(bytes->begin(), bytes->end());
}

std::string HexId(const std::string& bytes) { return crypto::ToHex(crypto::AsBytes(bytes)); }

std::vector<std::string> FieldNames(const google::protobuf::RepeatedField<int>& fields) {
  std::vector<std::string> names;
  for (int field : fields) names.push_back(EnumName(static_cast<schakel::v1::SignalField>(field)));
  return names;
}

std::string RequesterText(const schakel::v1::Requester& requester) {
  std::string text = requester.org_id();
  if (!requester.user_id().empty()) text += StrCat("/", requester.user_id());
  if (requester.role() != schakel::v1::ROLE_UNSPECIFIED) {
    text += StrCat(" (", EnumName(requester.role()), ")");
  }
  return text;
}

bool CheckReason(const std::string& reason, bool required, std::string_view hint,
                 CommandContext& context) {
  if (required && reason.find_first_not_of(" \t\r\n") == std::string::npos) {
    context.Fail(ExitCode::kUsageError, "--reason is empty", hint);
    return false;
  }
  if (reason.size() > kMaxReasonLength) {
    context.Fail(ExitCode::kUsageError,
                 StrCat("--reason is longer than ", kMaxReasonLength, " characters"),
                 "shorten it");
    return false;
  }
  return true;
}

}  // namespace schakel::cli
