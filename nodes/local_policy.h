// The organisation's own local policy: which signal categories it keeps (and
// for how long), which purposes it answers and which categories are
// matchable under each, and which addresses never produce address tags.
// The care partner stays in control: only a category this policy names as
// matchable under a purpose ever yields tags for that purpose, and only what
// a disclosure rule names ever leaves the node after a hit.
//
// The policy comes from a JSON file (comments allowed) that
// docs/node-policy.md describes field by field;
// tests/data/nodes/local-policy.json is a complete example. Field names are
// those of LocalPolicyInfo, CategoryConfig, AnsweredPurpose and
// LocalDisclosureRule in
// proto/schakel/v1/node_admin.proto; ToProto() maps one to the other.
//
// Loading: ParseLocalPolicy / LoadLocalPolicy check the whole file and refuse
// it with EVERY problem named, one "<json path>: <problem>" per line, e.g.
//   categories[1].retention: "2y" is not a duration; use days, e.g. "730d"
// Messages never repeat an excluded address (it is an identifier of a
// household): they name its path and the problem only.
//
// Version: "<version the file declares>+<first 8 hex digits of BLAKE2b-256
// of the file's bytes>" (LocalPolicyInfo.local_policy_version).
//
// Ownership and thread safety: a LocalPolicy is immutable once loaded; all
// its methods are const and may be called from any number of threads at
// once. Holders share it as std::shared_ptr<const LocalPolicy>.
#ifndef SCHAKEL_NODES_LOCAL_POLICY_H_
#define SCHAKEL_NODES_LOCAL_POLICY_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/node_admin.pb.h"

namespace schakel::nodes {

// Retention when a category does not say: two years (signals.proto).
inline constexpr absl::Duration kDefaultRetention = absl::Hours(24 * 730);
// Retention bounds: 1 day to 10 years.
inline constexpr absl::Duration kMinRetention = absl::Hours(24);
inline constexpr absl::Duration kMaxRetention = absl::Hours(24 * 3650);
// Largest local policy file accepted.
inline constexpr size_t kMaxLocalPolicyBytes = 4 << 20;

// A signal category the organisation uses.
struct CategoryPolicy {
  std::string category;         // e.g. "huiselijk-geweld"
  v1::Domain domain;            // never DOMAIN_UNSPECIFIED
  absl::Duration retention;     // kMinRetention..kMaxRetention
};

// A purpose the organisation answers.
struct AnsweredPurposePolicy {
  std::string purpose_id;
  std::set<std::string> matchable_categories;  // never empty; all configured
  std::vector<std::string> refused_requester_org_ids;
  uint32_t daily_element_quota = 0;  // 0: no limit of the node's own
};

// What the node discloses under a purpose, to whom, and whether under a
// mandate (LocalDisclosureRule). Rules are tried in file order; the first
// whose purpose and requester fit decides (FindDisclosureRule).
struct DisclosureRulePolicy {
  std::string rule;                            // unique name, logged with decisions
  std::string purpose_id;                      // an answered purpose
  std::vector<std::string> requester_org_ids;  // empty: any the gateway allows
  std::vector<v1::SignalField> fields;         // never empty, no duplicates
  std::set<std::string> categories;  // empty: every matchable category of the purpose
  bool mandate = false;              // true: approve at once; false: queue for an approver
};

class LocalPolicy {
 public:
  // "<declared version>+<8 hex digits>".
  const std::string& version() const { return version_; }

  // The category, or nullptr when the policy does not configure it.
  const CategoryPolicy* FindCategory(std::string_view category) const;
  // The answered purpose, or nullptr.
  const AnsweredPurposePolicy* FindPurpose(std::string_view purpose_id) const;

  // Purpose ids under which signals of `category` are matchable, sorted.
  // Empty for an unknown category or one no purpose makes matchable.
  std::vector<std::string> PurposesMatching(std::string_view category) const;

  // True when `canonical_address` (crypto::CanonicalAddress form,
  // "1234AB|12A") is on the institutional exclusion list.
  bool IsExcludedAddress(std::string_view canonical_address) const;
  // True when an address with this many registered persons counts as
  // institutional: max_persons_per_address() > 0 and persons exceeds it.
  bool ExceedsPersonsPerAddress(uint64_t persons) const;
  uint32_t max_persons_per_address() const { return max_persons_per_address_; }
  size_t excluded_address_count() const { return excluded_addresses_.size(); }
  // The exclusion list, canonical forms (identifiers: never log them).
  const std::set<std::string, std::less<>>& excluded_addresses() const {
    return excluded_addresses_;
  }

  const std::map<std::string, CategoryPolicy, std::less<>>& categories() const {
    return categories_;
  }
  const std::map<std::string, AnsweredPurposePolicy, std::less<>>& purposes() const {
    return purposes_;
  }

  // The disclosure rules, in file order.
  const std::vector<DisclosureRulePolicy>& disclosure_rules() const { return disclosure_rules_; }
  // The first rule for `purpose_id` whose requesters include
  // `requester_org_id` (or that names none); nullptr when no rule covers the
  // request: then it is denied by policy.
  const DisclosureRulePolicy* FindDisclosureRule(std::string_view purpose_id,
                                                 std::string_view requester_org_id) const;
  // The categories `rule` lets go out: its own list, or (empty) every
  // category matchable under its purpose.
  std::set<std::string> DisclosableCategories(const DisclosureRulePolicy& rule) const;

  // LocalPolicyInfo without loaded_at (the caller sets it).
  v1::LocalPolicyInfo ToProto() const;

 private:
  friend absl::StatusOr<std::shared_ptr<const LocalPolicy>> ParseLocalPolicy(
      std::string_view text, std::string_view source_name);
  LocalPolicy() = default;

  std::string version_;
  std::map<std::string, CategoryPolicy, std::less<>> categories_;
  std::map<std::string, AnsweredPurposePolicy, std::less<>> purposes_;
  std::set<std::string, std::less<>> excluded_addresses_;  // canonical
  std::vector<DisclosureRulePolicy> disclosure_rules_;
  uint32_t max_persons_per_address_ = 0;
};

// Parses and checks a local policy. `source_name` (a file name, no path
// needed) starts the error message.
// Errors: INVALID_ARGUMENT "<source>: local policy refused, N problems:"
// followed by one "<json path>: <problem>" line per problem (JSON syntax,
// a missing or unknown field, a wrong type, a bad category or purpose id, a
// duplicate, a domain not in safety/care/social/housing, a retention that is
// not "<days>d" within 1d..3650d, a matchable category that is not
// configured, an invalid excluded address; a disclosure rule without a
// unique name, for a purpose not answered, with a bad requester org id, no
// or an unknown or repeated field, a category not matchable under its
// purpose, or a mandate that is not a boolean). Nothing of a refused file is
// used.
absl::StatusOr<std::shared_ptr<const LocalPolicy>> ParseLocalPolicy(
    std::string_view text, std::string_view source_name = "local policy");

// Reads and parses a file. Errors: FAILED_PRECONDITION when it cannot be
// read or is larger than kMaxLocalPolicyBytes (the message names the path);
// those of ParseLocalPolicy.
absl::StatusOr<std::shared_ptr<const LocalPolicy>> LoadLocalPolicy(
    const std::filesystem::path& path);

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_LOCAL_POLICY_H_
