// The convenants and local policies shipped in deploy/ (the operator's
// examples and the demo federation's) load with the servers' own parsers
// and fit together: every organisation a purpose names is a party, every
// answering party of the examples is in the example directory, and every
// purpose a local policy answers exists in its convenant.
#include <filesystem>
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "gateway/directory.h"
#include "gateway/policy.h"
#include "nodes/local_policy.h"

namespace schakel {
namespace {

namespace fs = std::filesystem;

fs::path Deploy() { return fs::path(SCHAKEL_TEST_DATA_DIR).parent_path().parent_path() / "deploy"; }

std::set<std::string> Parties(const gateway::Policy& policy) {
  std::set<std::string> ids;
  for (const gateway::Party& party : policy.parties()) ids.insert(party.org_id);
  return ids;
}

// The local policy at `path` loads and answers only purposes of `policy`.
void ExpectLocalPolicyFits(const fs::path& path, const gateway::Policy& policy) {
  auto local = nodes::LoadLocalPolicy(path);
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_FALSE((*local)->categories().empty()) << path;
  for (const auto& [purpose_id, answered] : (*local)->purposes()) {
    EXPECT_NE(policy.Find(purpose_id), nullptr)
        << path << " answers " << purpose_id << ", which the convenant does not have";
  }
}

TEST(DeployFilesTest, TheExampleConvenantLoadsAndNamesOnlyItsParties) {
  auto policy = gateway::LoadPolicy(Deploy() / "examples" / "policy.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_FALSE(policy->purposes().empty());
  const std::set<std::string> parties = Parties(*policy);
  auto directory = gateway::Directory::Load(Deploy() / "examples" / "directory.json");
  ASSERT_TRUE(directory.ok()) << directory.status();
  for (const gateway::Purpose& purpose : policy->purposes()) {
    for (const std::string& org : purpose.may_answer_org_ids) {
      EXPECT_TRUE(parties.count(org)) << purpose.purpose_id << ": " << org;
      const gateway::DirectoryOrg* listed = (*directory)->Find(org);
      ASSERT_NE(listed, nullptr) << org << " answers " << purpose.purpose_id
                                 << " but is not in deploy/examples/directory.json";
      EXPECT_FALSE(listed->endpoint.empty()) << org << " answers but has no endpoint";
    }
  }
  ExpectLocalPolicyFits(Deploy() / "examples" / "local-policy.json", *policy);
}

TEST(DeployFilesTest, TheDemoConvenantAndEveryDemoLocalPolicyFit) {
  auto policy = gateway::LoadPolicy(Deploy() / "demo" / "policy.json");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_EQ(policy->purposes().size(), 3u);
  EXPECT_EQ(Parties(*policy), (std::set<std::string>{"politie", "gemeente", "zorg", "riec"}));
  for (const char* org : {"politie", "gemeente", "zorg", "riec"}) {
    SCOPED_TRACE(org);
    ExpectLocalPolicyFits(Deploy() / "demo" / org / "local-policy.json", *policy);
  }
}

}  // namespace
}  // namespace schakel
