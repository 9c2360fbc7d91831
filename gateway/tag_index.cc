#include "gateway/tag_index.h"

#include <cstring>

#include "common/strings.h"

namespace schakel::gateway {
namespace {

constexpr char kTagPrefix[] = "tag/";
constexpr char kSeqPrefix[] = "tagseq/";
constexpr size_t kMaxChangesPerBatch = 65536;

std::string SetPrefix(std::string_view org, std::string_view purpose) {
  return StrCat(kTagPrefix, org, std::string_view("\0", 1), purpose, std::string_view("\0", 1));
}

std::string TagKey(std::string_view org, std::string_view purpose, const TagBytes& tag) {
  return SetPrefix(org, purpose) + std::string(reinterpret_cast<const char*>(tag.data()), tag.size());
}

}  // namespace

absl::StatusOr<TagBytes> ToTag(std::string_view bytes, std::string_view field) {
  if (bytes.size() != 16) {
    return absl::InvalidArgumentError(StrCat(field, ": a tag is 16 bytes, got ", bytes.size()));
  }
  TagBytes t;
  std::memcpy(t.data(), bytes.data(), 16);
  return t;
}

absl::StatusOr<std::unique_ptr<TagIndex>> TagIndex::Open(store::KvStore* store, Options options) {
  std::unique_ptr<TagIndex> index(new TagIndex(store, options));
  auto seqs = store->Scan(kSeqPrefix, store::PrefixEnd(kSeqPrefix), 0);
  if (!seqs.ok()) return seqs.status();
  for (const auto& [key, value] : *seqs) {
    auto v = store::DecodeKeyU64(value);
    if (!v.ok()) return absl::DataLossError("tag index: a stored sequence is malformed");
    index->applied_[key.substr(sizeof(kSeqPrefix) - 1)] = *v;
  }
  // Load tags page by page.
  std::string next = kTagPrefix;
  const std::string end = store::PrefixEnd(kTagPrefix);
  constexpr size_t kPage = 1 << 16;
  while (true) {
    auto rows = store->Scan(next, end, kPage);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      const std::string_view rest = std::string_view(key).substr(sizeof(kTagPrefix) - 1);
      const size_t a = rest.find('\0');
      const size_t b = a == std::string_view::npos ? a : rest.find('\0', a + 1);
      if (b == std::string_view::npos || rest.size() != b + 1 + 16) {
        return absl::DataLossError("tag index: a stored tag key is malformed");
      }
      TagBytes t;
      std::memcpy(t.data(), rest.data() + b + 1, 16);
      index->sets_[{std::string(rest.substr(0, a)), std::string(rest.substr(a + 1, b - a - 1))}].insert(t);
    }
    if (rows->size() < kPage) break;
    next = rows->back().first + std::string(1, '\0');
  }
  return index;
}

absl::StatusOr<TagIndex::Applied> TagIndex::Apply(
    const std::string& org, const v1::IndexBatch& batch,
    const std::function<bool(const std::string&)>& may_answer) {
  if (batch.sequence() == 0) return absl::InvalidArgumentError("sequence: must be at least 1");
  size_t changes = 0;
  for (const auto& c : batch.changes()) changes += static_cast<size_t>(c.added_size() + c.removed_size());
  if (changes > kMaxChangesPerBatch) {
    return absl::InvalidArgumentError(StrCat("changes: ", changes, " tag changes in one batch; at most ",
                                             kMaxChangesPerBatch, " are allowed"));
  }
  std::lock_guard apply_lock(apply_mu_);
  Applied result;
  const uint64_t applied = AppliedThrough(org);
  if (batch.sequence() <= applied) {
    result.applied_through = applied;
    return result;  // a repeat after a reconnect: acknowledged, no effect
  }
  if (batch.sequence() != applied + 1) {
    return absl::FailedPreconditionError(StrCat("sequence: got ", batch.sequence(), ", expected ",
                                                applied + 1, " (batches must be consecutive)"));
  }

  // Validate and plan every change before writing anything.
  struct Planned {
    std::string purpose;
    bool clear;
    std::vector<TagBytes> added, removed;
  };
  std::vector<Planned> plan;
  for (int i = 0; i < batch.changes_size(); ++i) {
    const auto& c = batch.changes(i);
    if (c.purpose_id().empty()) {
      return absl::InvalidArgumentError(StrCat("changes[", i, "].purpose_id: must not be empty"));
    }
    Planned p{c.purpose_id(), c.clear(), {}, {}};
    for (int j = 0; j < c.added_size(); ++j) {
      auto t = ToTag(c.added(j), StrCat("changes[", i, "].added[", j, "]"));
      if (!t.ok()) return t.status();
      p.added.push_back(*t);
    }
    for (int j = 0; j < c.removed_size(); ++j) {
      auto t = ToTag(c.removed(j), StrCat("changes[", i, "].removed[", j, "]"));
      if (!t.ok()) return t.status();
      p.removed.push_back(*t);
    }
    if (!may_answer(c.purpose_id())) {
      // Withdrawals always apply: a tag of a deleted or expired signal must
      // not hit later, when the purpose is allowed again. Only additions are
      // dropped (and named in the ack).
      if (!p.added.empty()) result.ignored_purpose_ids.push_back(c.purpose_id());
      p.added.clear();
    }
    plan.push_back(std::move(p));
  }
  {
    // Sizes after the batch, summed over repeated purposes in it.
    std::map<std::string, size_t> projected;
    std::shared_lock read(mu_);
    for (const auto& p : plan) {
      auto it = sets_.find({org, p.purpose});
      auto [pos, fresh] = projected.try_emplace(p.purpose, it == sets_.end() ? 0 : it->second.size());
      if (p.clear) pos->second = 0;
      pos->second += p.added.size();
      if (pos->second > options_.max_tags_per_set) {
        return absl::ResourceExhaustedError(StrCat("purpose ", p.purpose, ": the tag set would exceed ",
                                                   options_.max_tags_per_set, " tags"));
      }
    }
  }

  store::WriteBatch wb;
  for (const auto& p : plan) {
    if (p.clear) wb.DeleteRange(SetPrefix(org, p.purpose), store::PrefixEnd(SetPrefix(org, p.purpose)));
    for (const auto& t : p.removed) wb.Delete(TagKey(org, p.purpose, t));
    for (const auto& t : p.added) wb.Put(TagKey(org, p.purpose, t), "");
  }
  wb.Put(kSeqPrefix + org, store::EncodeKeyU64(batch.sequence()));
  if (auto s = store_->Write(wb, store::Durability::kSynced); !s.ok()) {
    return absl::UnavailableError(StrCat("tag index: batch ", batch.sequence(),
                                         " could not be stored (", s.message(), "); not applied"));
  }

  std::unique_lock write(mu_);
  for (const auto& p : plan) {
    TagSet& set = sets_[{org, p.purpose}];
    if (p.clear) set.clear();
    for (const auto& t : p.removed) set.erase(t);
    for (const auto& t : p.added) set.insert(t);
  }
  applied_[org] = batch.sequence();
  result.applied_through = batch.sequence();
  result.had_effect = true;
  return result;
}

uint64_t TagIndex::AppliedThrough(const std::string& org) const {
  std::shared_lock read(mu_);
  auto it = applied_.find(org);
  return it == applied_.end() ? 0 : it->second;
}

bool TagIndex::Contains(const std::string& org, const std::string& purpose, const TagBytes& tag) const {
  std::shared_lock read(mu_);
  auto it = sets_.find({org, purpose});
  return it != sets_.end() && it->second.contains(tag);
}

std::vector<bool> TagIndex::Lookup(const std::string& org, const std::string& purpose,
                                   std::span<const TagBytes> tags) const {
  std::vector<bool> hits(tags.size(), false);
  std::shared_lock read(mu_);
  auto it = sets_.find({org, purpose});
  if (it == sets_.end()) return hits;
  for (size_t i = 0; i < tags.size(); ++i) hits[i] = it->second.contains(tags[i]);
  return hits;
}

size_t TagIndex::Size(const std::string& org, const std::string& purpose) const {
  std::shared_lock read(mu_);
  auto it = sets_.find({org, purpose});
  return it == sets_.end() ? 0 : it->second.size();
}

}  // namespace schakel::gateway
