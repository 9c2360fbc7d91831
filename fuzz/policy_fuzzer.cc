// The loaders of what operators write (convenant, directory, node local
// policy, gateway and node configuration) on any text: never crash, refuse
// with INVALID_ARGUMENT, and accept a text only when it is consistent
// enough to be used (a parsed policy lists its purposes).
//
// Input: a first byte choosing the loader, then the file's text.
#include <cstdint>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_support.h"
#include "gateway/directory.h"
#include "gateway/gateway_config.h"
#include "gateway/policy.h"
#include "nodes/local_policy.h"
#include "nodes/node_config.h"

using schakel::fuzz::Check;

namespace {

void CheckRefusal(const absl::Status& status, const char* what) {
  if (status.ok()) return;
  Check(status.code() == absl::StatusCode::kInvalidArgument, what);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto [which, text] = schakel::fuzz::Choose(data, size, 5);
  switch (which) {
    case 0: {
      std::vector<schakel::gateway::PolicyProblem> problems;
      auto policy = schakel::gateway::ParsePolicy(text, "fuzz", &problems);
      CheckRefusal(policy.status(), "ParsePolicy: code");
      Check(policy.ok() == problems.empty(), "ParsePolicy: result and problems disagree");
      break;
    }
    case 1:
      CheckRefusal(schakel::gateway::Directory::Parse(text, "fuzz").status(), "Directory::Parse: code");
      break;
    case 2:
      CheckRefusal(schakel::nodes::ParseLocalPolicy(text, "fuzz").status(), "ParseLocalPolicy: code");
      break;
    case 3:
      CheckRefusal(schakel::gateway::ParseGatewayConfig(text, "/nonexistent", "fuzz").status(),
                   "ParseGatewayConfig: code");
      break;
    default:
      CheckRefusal(schakel::nodes::ParseNodeConfig(text, "/nonexistent", "fuzz").status(),
                   "ParseNodeConfig: code");
      break;
  }
  return 0;
}
