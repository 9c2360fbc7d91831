// The organisation id rule (common.proto): 2 to 63 characters of [a-z0-9-],
// starting with a letter. Kept here, free of gRPC, so that config checking
// (common/json_checker.h) and rpc::IsValidOrgId share one rule.
//
// Thread safety: reentrant. Errors: none.
#ifndef SCHAKEL_COMMON_ORG_ID_H_
#define SCHAKEL_COMMON_ORG_ID_H_

#include <string_view>

namespace schakel {

inline bool IsValidOrgId(std::string_view org_id) {
  if (org_id.size() < 2 || org_id.size() > 63) return false;
  if (org_id[0] < 'a' || org_id[0] > 'z') return false;
  for (char c : org_id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace schakel

#endif  // SCHAKEL_COMMON_ORG_ID_H_
