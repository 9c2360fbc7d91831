// The gateway's tag sets: for each answering organisation and purpose, the
// set of 16-byte tags its node published (protocol.md, "Index publication").
// Tags are opaque per-node pseudonyms; the gateway only tests membership.
//
// Publication is a sequenced, resumable stream per organisation
// (gateway.proto, PublishIndex): batch n is applied atomically and durably
// (one synced write including the new applied_through), a batch at or below
// applied_through is acknowledged again without effect, and a batch beyond
// applied_through + 1 is a gap (FAILED_PRECONDITION naming the expected
// sequence). So a node that crashes or loses its connection resumes from
// applied_through + 1 and nothing is lost or applied twice.
//
// Storage (under the KvStore it is given): "tag/<org>\0<purpose>\0<tag>" ->
// "" and "tagseq/<org>" -> applied_through (8 bytes). All sets are also held
// in memory (hash sets) for lookups; Open loads them.
//
// Thread safety: Lookup/Contains/Size/AppliedThrough may run concurrently
// with each other and with Apply; Apply calls are serialised internally.
#ifndef SCHAKEL_GATEWAY_TAG_INDEX_H_
#define SCHAKEL_GATEWAY_TAG_INDEX_H_

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <span>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "schakel/v1/gateway.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

using TagBytes = std::array<uint8_t, 16>;

class TagIndex {
 public:
  struct Options {
    // Largest tag set per organisation and purpose.
    size_t max_tags_per_set = 50'000'000;
  };

  // Opens the index kept in `store` (not owned) and loads every set.
  // Errors: DATA_LOSS for a malformed stored key or sequence.
  static absl::StatusOr<std::unique_ptr<TagIndex>> Open(store::KvStore* store, Options options);

  struct Applied {
    uint64_t applied_through = 0;
    bool had_effect = false;                      // false for a repeated batch
    std::vector<std::string> ignored_purpose_ids;  // purposes the org may not answer
  };
  // Applies one batch from `org`. `may_answer(purpose_id)` says whether the
  // organisation may answer under that purpose (the policy); for other
  // purposes additions are dropped (and the purpose named), while removals
  // and clears still apply, so a withdrawn tag never hits later. Errors: INVALID_ARGUMENT for
  // sequence 0, a tag not 16 bytes (named by its place in the batch), more
  // than 65,536 changes, an empty purpose id; FAILED_PRECONDITION for a gap;
  // RESOURCE_EXHAUSTED when a set would exceed max_tags_per_set; UNAVAILABLE
  // when the store could not write (nothing applied).
  absl::StatusOr<Applied> Apply(const std::string& org, const v1::IndexBatch& batch,
                                const std::function<bool(const std::string&)>& may_answer);

  uint64_t AppliedThrough(const std::string& org) const;
  bool Contains(const std::string& org, const std::string& purpose, const TagBytes& tag) const;
  // hits[i] = whether tags[i] is in the set.
  std::vector<bool> Lookup(const std::string& org, const std::string& purpose,
                           std::span<const TagBytes> tags) const;
  size_t Size(const std::string& org, const std::string& purpose) const;

 private:
  struct TagHash {
    size_t operator()(const TagBytes& t) const {
      uint64_t h;  // tags are pseudorandom: their first bytes hash well
      std::memcpy(&h, t.data(), sizeof(h));
      return static_cast<size_t>(h);
    }
  };
  using TagSet = absl::flat_hash_set<TagBytes, TagHash>;
  using SetKey = std::pair<std::string, std::string>;  // org, purpose

  TagIndex(store::KvStore* store, Options options) : store_(store), options_(options) {}

  store::KvStore* const store_;
  const Options options_;
  std::mutex apply_mu_;                  // serialises Apply
  mutable std::shared_mutex mu_;         // guards sets_ and applied_
  std::map<SetKey, TagSet> sets_;
  std::map<std::string, uint64_t> applied_;
};

// Converts 16 bytes to a tag. Errors: INVALID_ARGUMENT naming `field`.
absl::StatusOr<TagBytes> ToTag(std::string_view bytes, std::string_view field);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_TAG_INDEX_H_
