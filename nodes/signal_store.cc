#include "nodes/signal_store.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/match_keys.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "nodes/subject_keys.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kSignalPrefix = "sig/s/";
constexpr std::string_view kKeysPrefix = "sig/k/";
// Before 2026-11-24 a signal's tags lived in sig/t/<id>/<purpose> and its
// address group in sig/m/<id>; Create moves such records into sig/k/.
constexpr std::string_view kLegacyTagPrefix = "sig/t/";
constexpr std::string_view kLegacyMetaPrefix = "sig/m/";
constexpr std::string_view kRegisteredPrefix = "sig/g/";
constexpr std::string_view kExpiryPrefix = "sig/e/";
constexpr std::string_view kAddressPrefix = "sig/a/";
constexpr std::string_view kRefPrefix = "idx/r/";
constexpr std::string_view kCountPrefix = "idx/c/";
constexpr std::string_view kQueuePrefix = "idx/q/";
constexpr std::string_view kQueuedThroughKey = "idx/m/queued_through";
constexpr std::string_view kAcknowledgedThroughKey = "idx/m/acknowledged_through";
constexpr std::string_view kTaggedUnderKey = "idx/m/tagged_under";
constexpr std::string_view kRetagKey = "idx/m/retag";
constexpr std::string_view kAddressedUnderKey = "idx/m/addressed_under";
constexpr std::string_view kReaddressKey = "idx/m/readdress";

constexpr size_t kMaxSignalIdChars = 64;
constexpr size_t kMaxFreeTextChars = 10'000;
constexpr size_t kMaxFamilyIdChars = 64;
constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;

std::string TagBytes(const crypto::Tag& tag) {
  return std::string(reinterpret_cast<const char*>(tag.data()), tag.size());
}

crypto::Tag TagFromBytes(std::string_view bytes) {
  crypto::Tag tag{};
  std::copy(bytes.begin(), bytes.begin() + crypto::kTagSize, tag.begin());
  return tag;
}

std::string SignalKey(std::string_view id) { return StrCat(kSignalPrefix, id); }
std::string KeysKey(std::string_view id) { return StrCat(kKeysPrefix, id); }
std::string RefKey(std::string_view purpose, const crypto::Tag& tag) {
  return StrCat(kRefPrefix, purpose, "/", TagBytes(tag));
}
std::string CountKey(std::string_view purpose) { return StrCat(kCountPrefix, purpose); }
std::string QueueKey(uint64_t sequence) {
  return StrCat(kQueuePrefix, store::EncodeKeyU64(sequence));
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}
void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  out->set_seconds(micros / 1'000'000);
  out->set_nanos(static_cast<int32_t>((micros % 1'000'000) * 1000));
}
uint64_t Micros(const google::protobuf::Timestamp& ts) {
  return static_cast<uint64_t>(ts.seconds()) * 1'000'000 + static_cast<uint64_t>(ts.nanos() / 1000);
}
std::string RegisteredKey(const v1::Signal& s) {
  return StrCat(kRegisteredPrefix, store::EncodeKeyU64(Micros(s.registered_at())), "/",
                s.signal_id());
}
std::string ExpiryKey(const v1::Signal& s) {
  return StrCat(kExpiryPrefix, store::EncodeKeyU64(Micros(s.expires_at())), "/", s.signal_id());
}

// The first 16 bytes of the node-keyed digest.
std::string Digest16(const NodeSecret& secret, std::string_view context, std::string_view data) {
  const crypto::Blake2b256Digest d = secret.Digest(context, data);
  return std::string(reinterpret_cast<const char*>(d.data()), 16);
}
std::string AddressGroupKey(std::string_view address_digest) {
  return StrCat(kAddressPrefix, crypto::ToHex(crypto::AsBytes(address_digest)));
}

// ULID layout: 48-bit milliseconds, 80 random bits, Crockford base32.
std::string NewUlid(absl::Time now) {
  static constexpr char kAlphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
  std::array<uint8_t, 16> bytes{};
  const uint64_t ms = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMillis(now)));
  for (int i = 0; i < 6; ++i) bytes[i] = static_cast<uint8_t>(ms >> (8 * (5 - i)));
  crypto::RandomBytes(std::span<uint8_t>(bytes.data() + 6, 10));
  // 128 bits as 26 base32 digits, most significant first (the first digit
  // carries 3 bits): digit i covers bits [128 - 5 * (26 - i), ...).
  std::string id(26, '0');
  for (size_t i = 0; i < 26; ++i) {
    const size_t low_bit = 5 * (25 - i);  // bit index from the least significant end
    unsigned digit = 0;
    for (size_t b = 0; b < 5; ++b) {
      const size_t bit = low_bit + b;
      if (bit >= 128) continue;
      const size_t byte = 15 - bit / 8;
      if ((bytes[byte] >> (bit % 8)) & 1) digit |= 1u << b;
    }
    id[i] = kAlphabet[digit];
  }
  return id;
}

// The crypto errors name "bsn", "surname", ...; here they become
// "subject.<field>" (nodes/subject_keys.h).
void SubjectProblems(absl::string_view message, std::vector<SignalProblem>& out) {
  for (SubjectFieldProblem& p : SubjectKeyProblems(message)) {
    out.push_back({SubjectFieldPath("subject", p), std::move(p.problem)});
  }
}

std::string JoinProblems(const std::vector<SignalProblem>& problems) {
  std::string message;
  for (const SignalProblem& p : problems) {
    message += StrCat(message.empty() ? "" : "; ", "signal.", p.field, ": ", p.problem);
  }
  return message;
}

// Output-only fields: ignored on input.
void ClearOutputOnly(v1::Signal& signal) {
  signal.clear_owner_user_id();
  signal.clear_updated_at();
  signal.clear_version();
  signal.clear_key_types();
  signal.clear_tagged_purpose_ids();
  signal.clear_address_excluded();
}

absl::StatusOr<v1::Signal> ParseSignal(const std::string& bytes) {
  v1::Signal signal;
  if (!signal.ParseFromString(bytes)) {
    return absl::DataLossError("signal store: a stored signal record does not parse");
  }
  return signal;
}

size_t DistinctPersons(const std::map<std::string, std::string>& members) {
  std::set<std::string_view> persons;
  for (const auto& [id, person] : members) persons.insert(person);
  return persons.size();
}

// ---- the undo record of an import chunk (length-prefixed fields)

void PutU32(std::string& out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutBytes(std::string& out, std::string_view b) {
  PutU32(out, static_cast<uint32_t>(b.size()));
  out.append(b);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool U32(uint32_t& v) {
    if (in_.size() < 4) return false;
    v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | static_cast<uint8_t>(in_[static_cast<size_t>(i)]);
    in_.remove_prefix(4);
    return true;
  }
  bool Bytes(std::string_view& b) {
    uint32_t n = 0;
    if (!U32(n) || in_.size() < n) return false;
    b = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool Raw(size_t n, std::string_view& b) {
    if (in_.size() < n) return false;
    b = in_.substr(0, n);
    in_.remove_prefix(n);
    return true;
  }
  bool done() const { return in_.empty(); }

 private:
  std::string_view in_;
};

// ---- what the stored tags were derived under (idx/m/tagged_under)

// Category -> the purposes under which its signals get tags; only
// categories with at least one purpose.
using Matchable = std::map<std::string, std::set<std::string>>;

Matchable MatchableOf(const LocalPolicy& policy) {
  Matchable out;
  for (const auto& [id, purpose] : policy.purposes()) {
    for (const std::string& category : purpose.matchable_categories) out[category].insert(id);
  }
  return out;
}

// Per category: its id, the number of purposes (u32) and each purpose id.
std::string EncodeMatchable(const Matchable& matchable) {
  std::string out;
  for (const auto& [category, purposes] : matchable) {
    PutBytes(out, category);
    PutU32(out, static_cast<uint32_t>(purposes.size()));
    for (const std::string& purpose : purposes) PutBytes(out, purpose);
  }
  return out;
}

std::optional<Matchable> DecodeMatchable(std::string_view in) {
  Matchable out;
  Reader r(in);
  while (!r.done()) {
    std::string_view category, purpose;
    uint32_t n = 0;
    if (!r.Bytes(category) || !r.U32(n)) return std::nullopt;
    std::set<std::string>& purposes = out[std::string(category)];
    for (uint32_t i = 0; i < n; ++i) {
      if (!r.Bytes(purpose)) return std::nullopt;
      purposes.emplace(purpose);
    }
  }
  return out;
}

// A re-derivation under way (idx/m/retag): the matchable sets it converges
// to (EncodeMatchable), whether every category or only `categories` are
// re-derived, and the last signal id done (signals are visited by id).
struct RetagState {
  std::string target;
  bool all = false;
  std::set<std::string> categories;
  std::string after;

  // 1 byte `all`, target, after, then each category (u32 length, bytes).
  std::string Encode() const {
    std::string out(1, all ? '\1' : '\0');
    PutBytes(out, target);
    PutBytes(out, after);
    for (const std::string& c : categories) PutBytes(out, c);
    return out;
  }
  static std::optional<RetagState> Parse(std::string_view in) {
    if (in.empty() || static_cast<uint8_t>(in[0]) > 1) return std::nullopt;
    RetagState out;
    out.all = in[0] == 1;
    Reader r(in.substr(1));
    std::string_view target, after, category;
    if (!r.Bytes(target) || !r.Bytes(after)) return std::nullopt;
    out.target = target;
    out.after = after;
    while (!r.done()) {
      if (!r.Bytes(category)) return std::nullopt;
      out.categories.emplace(category);
    }
    return out;
  }
};

// ---- what the address decisions were made under (idx/m/addressed_under)

struct AddressRules {
  uint32_t max_persons = 0;      // max_persons_per_address; 0: no limit
  std::set<std::string> listed;  // address digests (16 bytes) of the excluded addresses

  bool Listed(const std::string& digest) const { return listed.contains(digest); }
  // The decision of LocalPolicy::ExceedsPersonsPerAddress and the list.
  bool Excluded(const std::string& digest, size_t persons) const {
    return Listed(digest) || (max_persons > 0 && persons > max_persons);
  }
  // u32 max_persons, then the digests, sorted, concatenated.
  std::string Encode() const {
    std::string out;
    PutU32(out, max_persons);
    for (const std::string& digest : listed) out += digest;
    return out;
  }
  static std::optional<AddressRules> Parse(std::string_view in) {
    AddressRules out;
    Reader r(in);
    if (!r.U32(out.max_persons)) return std::nullopt;
    while (!r.done()) {
      std::string_view digest;
      if (!r.Raw(16, digest)) return std::nullopt;
      out.listed.emplace(digest);
    }
    return out;
  }
};

// An address group record (sig/a/): member signal id -> person digest.
bool ParseAddressGroup(std::string_view in, std::map<std::string, std::string>& members) {
  Reader r(in);
  while (!r.done()) {
    std::string_view id, person;
    if (!r.Bytes(id) || !r.Raw(16, person)) return false;
    members.emplace(id, person);
  }
  return true;
}

}  // namespace

// ---- a stored signal's keys record (sig/k/): its address group and its
// tags per purpose, all that deletion, expiry and update withdraw.

struct SignalStore::KeysRecord {
  enum class Address : uint8_t {
    kNone = 0,
    kUnlisted = 1,  // an address group; the policy's exclusion list does not name it
    kListed = 2,    // one the exclusion list named when written (informational)
    kUnknown = 3,   // migrated from a store that did not record it: from the subject
  };
  Address address = Address::kNone;
  std::string digest;  // 16 bytes, for kUnlisted and kListed
  std::vector<std::pair<std::string, std::string>> tags;  // purpose -> tags, 16 bytes each

  // One byte of Address, the digest when there is one, then per purpose its
  // id and its tags (each u32 length, bytes).
  std::string Encode() const {
    std::string out(1, static_cast<char>(address));
    out.reserve(1 + digest.size() + tags.size() * 64);
    out += digest;
    for (const auto& [purpose, bytes] : tags) {
      PutBytes(out, purpose);
      PutBytes(out, bytes);
    }
    return out;
  }

  static absl::StatusOr<KeysRecord> Parse(std::string_view in) {
    const auto malformed = [] {
      return absl::DataLossError("signal store: a stored signal's tag record does not parse");
    };
    if (in.empty() || static_cast<uint8_t>(in[0]) > 3) return malformed();
    KeysRecord out;
    out.address = static_cast<Address>(in[0]);
    Reader r(in.substr(1));
    if (out.address == Address::kUnlisted || out.address == Address::kListed) {
      std::string_view digest;
      if (!r.Raw(16, digest)) return malformed();
      out.digest = digest;
    }
    while (!r.done()) {
      std::string_view purpose, bytes;
      if (!r.Bytes(purpose) || !r.Bytes(bytes) || bytes.size() % crypto::kTagSize != 0) {
        return malformed();
      }
      out.tags.emplace_back(purpose, bytes);
    }
    return out;
  }
};

struct SignalStore::Change {
  std::string id;
  std::optional<v1::Signal> before;     // stored record; nullopt for a new signal
  std::optional<PreparedSignal> after;  // nullopt for a deletion
  bool retag = false;                   // re-tagged because its address group flipped (not logged)
};

bool SignalStore::ValidSignalId(std::string_view id) {
  if (id.empty() || id.size() > kMaxSignalIdChars) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

crypto::SubjectIdentifiers SignalStore::IdentifiersOf(const v1::Subject& subject) {
  return SubjectIdentifiersOf(subject);
}

absl::StatusOr<std::vector<crypto::MatchKey>> SignalStore::MatchKeysOf(const v1::Subject& subject,
                                                                       absl::Time now) {
  auto keys = crypto::DeriveMatchKeys(SubjectIdentifiersOf(subject), UtcDay(now));
  if (keys.ok()) return keys;
  std::vector<SignalProblem> problems;
  SubjectProblems(keys.status().message(), problems);
  std::string message;
  for (const SignalProblem& p : problems) {
    message += StrCat(message.empty() ? "" : "; ", p.field, ": ", p.problem);
  }
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<std::unique_ptr<SignalStore>> SignalStore::Create(
    store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
    std::map<std::string, crypto::PurposeKey> purpose_keys, NodeSecret secret, LocalLog* log) {
  if (kv == nullptr) return absl::InvalidArgumentError("signal store: kv store is null");
  if (policy == nullptr) return absl::InvalidArgumentError("signal store: policy is null");
  std::map<std::string, crypto::PurposeKey> keys;
  for (auto& [id, key] : purpose_keys) {
    if (key.purpose_id() != id) {
      return absl::InvalidArgumentError(
          StrCat("signal store: the key under purpose \"", id, "\" is for another purpose"));
    }
  }
  for (const auto& [id, purpose] : policy->purposes()) {
    auto it = purpose_keys.find(id);
    if (it == purpose_keys.end()) {
      return absl::FailedPreconditionError(
          StrCat("signal store: the local policy answers purpose \"", id,
                 "\" but no purpose key was given for it"));
    }
    keys.emplace(id, std::move(it->second));
  }
  std::unique_ptr<SignalStore> out(
      new SignalStore(kv, std::move(policy), std::move(keys), std::move(secret), log));
  for (const std::string& address : out->policy_->excluded_addresses()) {
    out->excluded_digests_.insert(Digest16(out->secret_, kAddressDigestContext, address));
  }
  if (auto queued = out->ReadCounter(kQueuedThroughKey); !queued.ok()) return queued.status();
  if (absl::Status migrated = out->MigrateLegacyKeys(); !migrated.ok()) return migrated;
  if (absl::Status retagged = out->RetagForPolicy(); !retagged.ok()) return retagged;
  if (absl::Status rechecked = out->RecheckAddresses(); !rechecked.ok()) return rechecked;
  return out;
}

absl::Status SignalStore::RetagForPolicy() {
  std::lock_guard<std::mutex> lock(mu_);
  const Matchable target = MatchableOf(*policy_);
  const std::string target_bytes = EncodeMatchable(target);
  auto stored = kv_->Get(kTaggedUnderKey);
  if (!stored.ok()) return stored.status();
  auto pending_bytes = kv_->Get(kRetagKey);
  if (!pending_bytes.ok()) return pending_bytes.status();
  std::optional<RetagState> pending;
  if (pending_bytes->has_value()) {
    pending = RetagState::Parse(**pending_bytes);
    if (!pending) {
      return absl::DataLossError("signal store: the record of an unfinished tag re-derivation "
                                 "(idx/m/retag) does not parse");
    }
  }
  if (!pending && stored->has_value() && **stored == target_bytes) return absl::OkStatus();

  // What to re-derive: the categories whose purposes differ from those the
  // stored tags were derived under (every category when that was not
  // recorded), and those of an unfinished run.
  RetagState work;
  work.target = target_bytes;
  if (!stored->has_value()) {
    auto any = kv_->Scan(kSignalPrefix, store::PrefixEnd(kSignalPrefix), 1);
    if (!any.ok()) return any.status();
    work.all = !any->empty();
  } else {
    auto before = DecodeMatchable(**stored);
    if (!before) {
      return absl::DataLossError(
          "signal store: the record of the matchable categories the tags were derived under "
          "(idx/m/tagged_under) does not parse");
    }
    const auto purposes_of = [](const Matchable& m, const std::string& category) {
      auto it = m.find(category);
      return it == m.end() ? std::set<std::string>() : it->second;
    };
    for (const Matchable* m : {static_cast<const Matchable*>(&*before), &target}) {
      for (const auto& [category, purposes] : *m) {
        if (purposes_of(*before, category) != purposes_of(target, category)) {
          work.categories.insert(category);
        }
      }
    }
  }
  if (pending) {
    const bool same_work = pending->target == target_bytes && pending->all == work.all &&
                           std::includes(pending->categories.begin(), pending->categories.end(),
                                         work.categories.begin(), work.categories.end());
    work.all = work.all || pending->all;
    work.categories.insert(pending->categories.begin(), pending->categories.end());
    // Resume after the last signal done only when it was done for the same
    // target and the same categories; otherwise start again (a signal done
    // already yields no change).
    if (same_work) work.after = pending->after;
  }

  PolicyRetag report;
  report.all_categories = work.all;
  report.categories.assign(work.categories.begin(), work.categories.end());
  report.resumed = !work.after.empty();
  if (work.all || !work.categories.empty()) {
    for (;;) {
      const std::string from =
          work.after.empty() ? std::string(kSignalPrefix) : SignalKey(work.after) + '\0';
      auto page = kv_->Scan(from, store::PrefixEnd(kSignalPrefix), kRetagChunk);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      std::vector<Change> changes;
      for (const auto& [key, value] : *page) {
        std::string id = key.substr(kSignalPrefix.size());
        auto signal = ParseSignal(value);
        if (!signal.ok()) {
          return absl::DataLossError(StrCat(
              "signal store: re-deriving the tags for the changed local policy stopped: a stored "
              "signal record does not parse (record ", report.signals_seen + 1,
              " of this run, in id order); what was re-derived before it stays, the node resumes "
              "from there at the next start once the record is repaired or restored"));
        }
        ++report.signals_seen;
        if (!work.all && !work.categories.contains(signal->category())) continue;
        auto derived = Rederive(*signal, report.untaggable);
        if (!derived.ok()) return derived.status();
        changes.push_back(Change{std::move(id), *std::move(signal), *std::move(derived),
                                 /*retag=*/true});
      }
      report.signals_retagged += changes.size();
      work.after = page->back().first.substr(kSignalPrefix.size());
      store::WriteBatch progress;
      progress.Put(kRetagKey, work.Encode());
      auto committed = Commit(std::move(changes), nullptr, std::move(progress));
      if (!committed.ok()) return committed.status();
      report.tags_added += committed->tags_added;
      report.tags_removed += committed->tags_removed;
      if (page->size() < kRetagChunk) break;
    }
  }
  // Done: record what the tags are now derived under.
  const bool ran = work.all || !work.categories.empty();
  if (absl::Status finished = FinishPolicyRun(kTaggedUnderKey, target_bytes, kRetagKey, ran,
                                              report.signals_retagged, report.Describe());
      !finished.ok()) {
    return finished;
  }
  if (ran) retag_ = std::move(report);
  return absl::OkStatus();
}

absl::Status SignalStore::FinishPolicyRun(std::string_view under_key, std::string_view under,
                                          std::string_view progress_key, bool ran,
                                          uint64_t signals_retagged, std::string detail) {
  store::WriteBatch done;
  done.Put(under_key, under);
  done.Delete(progress_key);
  if (log_ == nullptr || !ran) return kv_->Write(done, store::Durability::kSynced);
  v1::LocalLogRecord record = RecordFor(v1::LOCAL_EVENT_KIND_POLICY_LOADED, {});
  record.set_element_count(signals_retagged);
  record.set_detail(std::move(detail));
  auto appended = log_->AppendWith(std::move(record), std::move(done));
  return appended.ok() ? absl::OkStatus() : appended.status();
}

std::string PolicyRetag::Describe() const {
  std::string which = "every category (the store did not record what its tags were derived under)";
  if (!all_categories) {
    which = StrCat("changed categories: ", categories.empty() ? "none" : "");
    for (size_t i = 0; i < categories.size(); ++i) {
      which += StrCat(i == 0 ? "" : ", ", categories[i]);
    }
  }
  std::string out =
      StrCat("tags re-derived for the local policy, ", which, resumed ? "; resumed" : "", ": ",
             signals_retagged, " signals re-tagged, ", tags_added, " tags queued for publication, ",
             tags_removed, " for withdrawal");
  if (untaggable > 0) {
    out += StrCat("; ", untaggable, " signals whose subject no longer yields keys lost all tags");
  }
  return out;
}

absl::StatusOr<PreparedSignal> SignalStore::Rederive(const v1::Signal& stored,
                                                     uint64_t& untaggable) const {
  auto derived = Derive(stored);
  if (derived.ok() || !absl::IsInvalidArgument(derived.status())) return derived;
  // Keys that no longer derive (older rules): without keys there is no
  // knowing which tags may stay, so all of them are withdrawn.
  PreparedSignal none;
  none.signal = stored;
  ++untaggable;
  return none;
}

absl::Status SignalStore::RecheckAddresses() {
  std::lock_guard<std::mutex> lock(mu_);
  AddressRules target;
  target.max_persons = policy_->max_persons_per_address();
  target.listed = excluded_digests_;
  const std::string target_bytes = target.Encode();
  auto stored = kv_->Get(kAddressedUnderKey);
  if (!stored.ok()) return stored.status();
  auto pending = kv_->Get(kReaddressKey);
  if (!pending.ok()) return pending.status();
  if (!pending->has_value() && stored->has_value() && **stored == target_bytes) {
    return absl::OkStatus();
  }
  const auto damaged = [](std::string_view what) {
    return absl::DataLossError(
        StrCat("signal store: re-applying the exclusion list and max_persons_per_address "
               "stopped: ", what, " does not parse; what was re-evaluated before it stays, the "
               "node resumes from there at the next start once the record is repaired or "
               "restored"));
  };

  // The rules a group's stored tags may have been decided under: those
  // recorded, and those of an unfinished run for another policy. Without a
  // record, every group is re-evaluated; so too when an unfinished run was
  // for other rules: that run may itself have started over from yet other
  // rules, which its record does not name, so no comparison can tell which
  // groups it left decided differently. Such a run records that it covers
  // every group (the flag in idx/m/readdress), and a resumed run keeps to it.
  std::vector<AddressRules> before;
  AddressRecheck report;
  if (stored->has_value()) {
    auto rules = AddressRules::Parse(**stored);
    if (!rules) return damaged("the record of the rules (idx/m/addressed_under)");
    before.push_back(*std::move(rules));
  } else {
    auto any = kv_->Scan(kAddressPrefix, store::PrefixEnd(kAddressPrefix), 1);
    if (!any.ok()) return any.status();
    report.all_groups = !any->empty();
  }
  std::string after;  // hex digest of the last group done
  if (pending->has_value()) {
    Reader r(**pending);
    std::string_view pending_target, pending_after, flag;
    if (!r.Bytes(pending_target) || !r.Bytes(pending_after) ||
        (!r.done() && !r.Raw(1, flag)) || !r.done() ||
        (!flag.empty() && flag[0] != '\0' && flag[0] != '\1')) {
      return damaged("the record of an unfinished run (idx/m/readdress)");
    }
    if (pending_target == target_bytes) {
      after = pending_after;  // resume: the groups before it are done
      // The flag is absent from records written before it existed: 0.
      report.all_groups = report.all_groups || (!flag.empty() && flag[0] == '\1');
    } else {
      auto rules = AddressRules::Parse(pending_target);
      if (!rules) return damaged("the record of an unfinished run (idx/m/readdress)");
      before.push_back(*std::move(rules));
      report.all_groups = true;  // starts over: every group (see above)
    }
  }
  report.resumed = !after.empty();
  const bool run = report.all_groups ||
                   std::any_of(before.begin(), before.end(), [&](const AddressRules& rules) {
                     return rules.Encode() != target_bytes;
                   });

  if (run) {
    std::vector<Change> changes;
    const auto flush = [&](std::string_view last) -> absl::Status {
      std::string progress_bytes;
      PutBytes(progress_bytes, target_bytes);
      PutBytes(progress_bytes, last);
      progress_bytes.push_back(report.all_groups ? '\1' : '\0');
      store::WriteBatch progress;
      progress.Put(kReaddressKey, std::move(progress_bytes));
      report.signals_retagged += changes.size();
      auto committed = Commit(std::exchange(changes, {}), nullptr, std::move(progress));
      if (!committed.ok()) return committed.status();
      report.tags_added += committed->tags_added;
      report.tags_removed += committed->tags_removed;
      return absl::OkStatus();
    };
    for (;;) {
      const std::string from =
          after.empty() ? std::string(kAddressPrefix) : StrCat(kAddressPrefix, after) + '\0';
      auto page = kv_->Scan(from, store::PrefixEnd(kAddressPrefix), kRetagChunk);
      if (!page.ok()) return page.status();
      if (page->empty()) break;
      for (const auto& [key, value] : *page) {
        const std::string_view hex = std::string_view(key).substr(kAddressPrefix.size());
        std::map<std::string, std::string> members;
        auto digest_bytes = crypto::FromHex(hex);
        if (!digest_bytes.ok() || digest_bytes->size() != 16 ||
            !ParseAddressGroup(value, members)) {
          return damaged(StrCat("address group record ", report.groups_seen + 1,
                                " of this run (in digest order)"));
        }
        ++report.groups_seen;
        const std::string digest(digest_bytes->begin(), digest_bytes->end());
        const size_t persons = DistinctPersons(members);
        bool changed = report.all_groups;
        for (const AddressRules& rules : before) {
          changed = changed || rules.Listed(digest) != target.Listed(digest) ||
                    rules.Excluded(digest, persons) != target.Excluded(digest, persons);
        }
        if (!changed) continue;
        ++report.groups_changed;
        // The whole group in one write: its decision holds for all members.
        for (const auto& [id, person] : members) {
          auto signal = Read(id);
          if (!signal.ok()) {
            if (!absl::IsDataLoss(signal.status())) return signal.status();
            return damaged(StrCat("a stored signal record (in address group record ",
                                  report.groups_seen, " of this run)"));
          }
          if (!signal->has_value()) continue;
          auto derived = Rederive(**signal, report.untaggable);
          if (!derived.ok()) return derived.status();
          changes.push_back(Change{id, **std::move(signal), *std::move(derived),
                                   /*retag=*/true});
        }
        if (changes.size() >= kRetagChunk) {
          if (absl::Status s = flush(hex); !s.ok()) return s;
        }
      }
      const std::string_view last =
          std::string_view(page->back().first).substr(kAddressPrefix.size());
      if (!changes.empty()) {
        if (absl::Status s = flush(last); !s.ok()) return s;
      }
      if (page->size() < kRetagChunk) break;
      after = last;
    }
  }
  // Done: record what the address decisions are now made under.
  if (absl::Status finished = FinishPolicyRun(kAddressedUnderKey, target_bytes, kReaddressKey,
                                              run, report.signals_retagged, report.Describe());
      !finished.ok()) {
    return finished;
  }
  if (run) address_recheck_ = std::move(report);
  return absl::OkStatus();
}

std::string AddressRecheck::Describe() const {
  std::string out = StrCat(
      "address decisions re-applied for the local policy's exclusion list and "
      "max_persons_per_address",
      all_groups ? " (every address group: the store did not record what they were made "
                   "under, or an unfinished run was for other rules)"
                 : "",
      resumed ? "; resumed" : "", ": ", groups_seen, " address groups read, ", groups_changed,
      " re-evaluated, ", signals_retagged, " signals re-tagged, ", tags_added,
      " tags queued for publication, ", tags_removed, " for withdrawal");
  if (untaggable > 0) {
    out += StrCat("; ", untaggable, " signals whose subject no longer yields keys lost all tags");
  }
  return out;
}

absl::Status SignalStore::MigrateLegacyKeys() {
  auto tags = kv_->Scan(kLegacyTagPrefix, store::PrefixEnd(kLegacyTagPrefix), 1);
  if (!tags.ok()) return tags.status();
  auto metas = kv_->Scan(kLegacyMetaPrefix, store::PrefixEnd(kLegacyMetaPrefix), 1);
  if (!metas.ok()) return metas.status();
  if (tags->empty() && metas->empty()) return absl::OkStatus();
  // Per page of stored signals, one atomic batch: each signal's keys record
  // replaces its legacy records. A signal that has one already was moved by
  // an earlier, interrupted run.
  constexpr size_t kPage = 512;
  std::string from(kSignalPrefix);
  for (;;) {
    auto signals = kv_->Scan(from, store::PrefixEnd(kSignalPrefix), kPage);
    if (!signals.ok()) return signals.status();
    store::WriteBatch batch;
    for (const auto& [key, value] : *signals) {
      const std::string id = key.substr(kSignalPrefix.size());
      auto existing = kv_->Get(KeysKey(id));
      if (!existing.ok()) return existing.status();
      if (existing->has_value()) continue;
      KeysRecord keys;
      const std::string prefix = StrCat(kLegacyTagPrefix, id, "/");
      auto records = kv_->Scan(prefix, store::PrefixEnd(prefix));
      if (!records.ok()) return records.status();
      for (const auto& [tag_key, bytes] : *records) {
        keys.tags.emplace_back(tag_key.substr(prefix.size()), bytes);
        batch.Delete(tag_key);
      }
      const std::string meta_key = StrCat(kLegacyMetaPrefix, id);
      auto meta = kv_->Get(meta_key);
      if (!meta.ok()) return meta.status();
      if (!meta->has_value()) {
        keys.address = KeysRecord::Address::kUnknown;  // older still: from the subject
      } else if ((*meta)->size() == 17) {
        keys.address = (**meta)[16] == 1 ? KeysRecord::Address::kListed
                                          : KeysRecord::Address::kUnlisted;
        keys.digest = (*meta)->substr(0, 16);
      }
      batch.Delete(meta_key);
      batch.Put(KeysKey(id), keys.Encode());
    }
    if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
      return written;
    }
    if (signals->size() < kPage) break;
    from = signals->back().first + std::string(1, '\0');
  }
  // What is left belongs to no stored signal.
  store::WriteBatch rest;
  rest.DeleteRange(kLegacyTagPrefix, store::PrefixEnd(kLegacyTagPrefix));
  rest.DeleteRange(kLegacyMetaPrefix, store::PrefixEnd(kLegacyMetaPrefix));
  return kv_->Write(rest, store::Durability::kSynced);
}

namespace {

absl::StatusOr<uint64_t> DecodeCounter(const std::optional<std::string>& value) {
  if (!value.has_value()) return 0;
  auto decoded = store::DecodeKeyU64(*value);
  if (!decoded.ok()) return absl::DataLossError("signal store: a counter is not 8 bytes");
  return *decoded;
}

}  // namespace

absl::StatusOr<uint64_t> SignalStore::ReadCounter(std::string_view key) const {
  auto value = kv_->Get(key);
  if (!value.ok()) return value.status();
  return DecodeCounter(*value);
}

absl::StatusOr<std::optional<v1::Signal>> SignalStore::Read(std::string_view signal_id) const {
  auto value = kv_->Get(SignalKey(signal_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<v1::Signal>();
  auto signal = ParseSignal(**value);
  if (!signal.ok()) return signal.status();
  return std::optional<v1::Signal>(*std::move(signal));
}

namespace {

// Every text field of `m` (nested messages included) that is not valid
// UTF-8, by its path: such text cannot be stored (protobuf refuses to
// serialise it) and would break every later read.
void InvalidUtf8Fields(const google::protobuf::Message& m, const std::string& path,
                       std::vector<SignalProblem>& problems) {
  const google::protobuf::Reflection* reflection = m.GetReflection();
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(m, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    const std::string name = path.empty() ? f->name() : StrCat(path, ".", f->name());
    if (f->is_repeated()) continue;  // a Signal's text fields are all singular
    if (f->type() == google::protobuf::FieldDescriptor::TYPE_STRING) {
      std::string scratch;
      if (!Utf8Valid(reflection->GetStringReference(m, f, &scratch))) {
        problems.push_back({name, "not valid UTF-8"});
      }
    } else if (f->type() == google::protobuf::FieldDescriptor::TYPE_MESSAGE) {
      InvalidUtf8Fields(reflection->GetMessage(m, f), name, problems);
    }
  }
}

}  // namespace

absl::Status SignalStore::Normalise(v1::Signal& signal, absl::Time now,
                                    std::vector<SignalProblem>* out) const {
  std::vector<SignalProblem> problems;
  InvalidUtf8Fields(signal, "", problems);
  if (!problems.empty()) {  // nothing else can be checked reliably
    if (out != nullptr) *out = problems;
    return absl::InvalidArgumentError(JoinProblems(problems));
  }
  if (!ValidSignalId(signal.signal_id())) {
    problems.push_back({"signal_id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'"});
  }
  const CategoryPolicy* category = policy_->FindCategory(signal.category());
  if (category == nullptr) {
    std::string configured;
    for (const auto& [id, c] : policy_->categories()) {
      configured += StrCat(configured.empty() ? "" : ", ", id);
    }
    problems.push_back(
        {"category", StrCat(signal.category().empty() ? "missing" : "not a configured category",
                            "; configured: ", configured)});
  }
  if (!v1::Domain_IsValid(signal.domain())) {
    problems.push_back({"domain", "not a domain"});
  } else if (signal.domain() == v1::DOMAIN_UNSPECIFIED && category != nullptr) {
    signal.set_domain(category->domain);
  }
  if (Utf8Chars(signal.free_text()) > kMaxFreeTextChars) {
    problems.push_back({"free_text", StrCat("longer than ", kMaxFreeTextChars, " characters")});
  }
  if (Utf8Chars(signal.subject().family_id()) > kMaxFamilyIdChars) {
    problems.push_back(
        {"subject.family_id", StrCat("longer than ", kMaxFamilyIdChars, " characters")});
  }
  if (!v1::Relation_IsValid(signal.subject().relation())) {
    problems.push_back({"subject.relation", "not a relation"});
  }
  const v1::ContactPerson& contact = signal.contact();
  if (Utf8Chars(contact.name()) > 200) problems.push_back({"contact.name", "longer than 200"});
  if (Utf8Chars(contact.phone()) > 40) problems.push_back({"contact.phone", "longer than 40"});
  if (Utf8Chars(contact.email()) > 254) problems.push_back({"contact.email", "longer than 254"});
  if (Utf8Chars(contact.unit()) > 200) problems.push_back({"contact.unit", "longer than 200"});

  // Keys: every given identifier is validated; the message names fields only.
  auto keys = crypto::DeriveMatchKeys(SubjectIdentifiersOf(signal.subject()), UtcDay(now));
  if (!keys.ok()) SubjectProblems(keys.status().message(), problems);

  if (!signal.has_registered_at()) SetTime(now, signal.mutable_registered_at());
  const absl::Time registered = ToTime(signal.registered_at());
  if (registered < absl::UnixEpoch() || registered > now + absl::Hours(24)) {
    problems.push_back({"registered_at", "must be after 1970 and not in the future"});
  }
  if (!signal.has_expires_at() && category != nullptr) {
    SetTime(registered + category->retention, signal.mutable_expires_at());
  }
  if (signal.has_expires_at()) {
    const absl::Time expires = ToTime(signal.expires_at());
    if (expires <= registered) {
      problems.push_back({"expires_at", "must be after registered_at"});
    } else if (expires <= now) {
      problems.push_back({"expires_at", "already passed"});
    } else if (expires > registered + kMaxRetention) {
      problems.push_back({"expires_at", "more than 3650 days after registered_at"});
    }
  }
  if (!problems.empty()) {
    absl::Status status = absl::InvalidArgumentError(JoinProblems(problems));
    if (out != nullptr) *out = std::move(problems);
    return status;
  }

  // Normalised forms of what was validated.
  v1::Subject* subject = signal.mutable_subject();
  if (!subject->birth_date().empty()) {
    auto date = crypto::CanonicalBirthDate(subject->birth_date(), UtcDay(now));
    if (date.ok()) subject->set_birth_date(*date);
  }
  if (subject->has_address() && !subject->address().postcode().empty()) {
    auto postcode = crypto::CanonicalPostcode(subject->address().postcode());
    if (postcode.ok()) subject->mutable_address()->set_postcode(*postcode);
  }
  return absl::OkStatus();
}

std::vector<SignalProblem> SignalStore::Validate(v1::Signal& signal, absl::Time now) const {
  std::vector<SignalProblem> problems;
  (void)Normalise(signal, now, &problems);
  return problems;
}

absl::StatusOr<PreparedSignal> SignalStore::Derive(v1::Signal signal) const {
  auto keys = crypto::DeriveMatchKeys(SubjectIdentifiersOf(signal.subject()), crypto::UtcToday());
  if (!keys.ok()) {
    std::vector<SignalProblem> problems;
    SubjectProblems(keys.status().message(), problems);
    return absl::InvalidArgumentError(JoinProblems(problems));
  }
  PreparedSignal p;
  for (const crypto::MatchKey& k : *keys) {
    p.key_types.push_back(static_cast<uint8_t>(k.type));
    if (k.type == crypto::MatchKeyType::kAddress) {
      p.address_digest = Digest16(secret_, kAddressDigestContext, k.canonical);
      p.address_listed = policy_->IsExcludedAddress(k.canonical);
    }
  }
  const crypto::MatchKey& first = keys->front();
  p.person_digest =
      first.type == crypto::MatchKeyType::kAddress
          ? Digest16(secret_, kPersonDigestContext, StrCat("signal:", signal.signal_id()))
          : Digest16(secret_, kPersonDigestContext, first.OprfInput());
  for (const std::string& purpose : policy_->PurposesMatching(signal.category())) {
    const crypto::PurposeKey& key = purpose_keys_.at(purpose);
    PreparedSignal::PurposeTags tags;
    tags.purpose_id = purpose;
    for (const crypto::MatchKey& k : *keys) {
      auto tag = key.TagFor(crypto::AsBytes(k.OprfInput()));
      if (!tag.ok()) return tag.status();
      tags.tags.push_back(*tag);
      tags.from_address.push_back(k.type == crypto::MatchKeyType::kAddress);
    }
    p.tags.push_back(std::move(tags));
  }
  p.signal = std::move(signal);
  return p;
}

absl::StatusOr<PreparedSignal> SignalStore::Prepare(v1::Signal signal, absl::Time now,
                                                    std::string_view owner_user_id,
                                                    std::vector<SignalProblem>* problems) const {
  ClearOutputOnly(signal);
  if (signal.signal_id().empty()) signal.set_signal_id(NewUlid(now));
  if (absl::Status normalised = Normalise(signal, now, problems); !normalised.ok()) {
    return normalised;
  }
  signal.set_owner_user_id(std::string(owner_user_id));
  SetTime(now, signal.mutable_updated_at());
  signal.set_version(1);
  return Derive(std::move(signal));
}

absl::StatusOr<PreparedSignal> SignalStore::PrepareValidated(v1::Signal signal, absl::Time now,
                                                             std::string_view owner_user_id) const {
  ClearOutputOnly(signal);
  signal.set_owner_user_id(std::string(owner_user_id));
  SetTime(now, signal.mutable_updated_at());
  signal.set_version(1);
  return Derive(std::move(signal));
}

std::string SignalStore::NewSignalId(absl::Time now) { return NewUlid(now); }

absl::StatusOr<std::optional<SignalStore::KeysRecord>> SignalStore::ReadKeys(
    std::string_view signal_id) const {
  auto value = kv_->Get(KeysKey(signal_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<KeysRecord>();
  auto parsed = KeysRecord::Parse(**value);
  if (!parsed.ok()) return parsed.status();
  return std::optional<KeysRecord>(*std::move(parsed));
}

std::optional<SignalStore::AddressMeta> SignalStore::MetaOf(const KeysRecord* record,
                                                            const v1::Signal& stored) const {
  if (record != nullptr) {
    switch (record->address) {
      case KeysRecord::Address::kNone:
        return std::nullopt;
      case KeysRecord::Address::kUnlisted:
      case KeysRecord::Address::kListed:
        return AddressMeta{record->digest, record->address == KeysRecord::Address::kListed};
      case KeysRecord::Address::kUnknown:
        break;
    }
  }
  // Not recorded (a store from before the address was kept with the tags):
  // the address from the stored subject when it still parses; otherwise
  // there is no group to leave.
  auto keys = crypto::DeriveMatchKeys(SubjectIdentifiersOf(stored.subject()), crypto::UtcToday());
  if (!keys.ok()) return std::nullopt;
  for (const crypto::MatchKey& k : *keys) {
    if (k.type == crypto::MatchKeyType::kAddress) {
      return AddressMeta{Digest16(secret_, kAddressDigestContext, k.canonical),
                         policy_->IsExcludedAddress(k.canonical)};
    }
  }
  return std::nullopt;
}

v1::LocalLogRecord SignalStore::RecordFor(v1::LocalEventKind kind, const SignalActor& actor) const {
  v1::LocalLogRecord record;
  record.set_kind(kind);
  record.set_user_id(actor.user_id);
  record.set_role(actor.role);
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(actor.reason);
  record.set_local_policy_version(policy_->version());
  return record;
}

absl::StatusOr<PreparedCommit> SignalStore::Commit(std::vector<Change> changes,
                                                   const v1::LocalLogRecord* record,
                                                   store::WriteBatch extra) {
  store::WriteBatch batch;

  // What each stored signal withdraws (its tags) and the address group it
  // leaves: from its keys record, never re-derived from its subject.
  std::unordered_map<std::string, KeysRecord> before_keys;
  std::unordered_map<std::string, std::optional<AddressMeta>> before_meta;
  std::unordered_set<std::string> in_work;
  in_work.reserve(changes.size());
  const auto read_before = [&](const std::string& id, const v1::Signal& stored) -> absl::Status {
    auto keys = ReadKeys(id);
    if (!keys.ok()) return keys.status();
    before_meta[id] = MetaOf(keys->has_value() ? &**keys : nullptr, stored);
    if (keys->has_value()) before_keys[id] = **std::move(keys);
    return absl::OkStatus();
  };
  for (const Change& c : changes) {
    in_work.insert(c.id);
    if (!c.before) continue;
    if (absl::Status read = read_before(c.id, *c.before); !read.ok()) return read;
  }

  // Address groups touched: whether each counts as institutional before and
  // after; when that flips, every other signal there is re-tagged.
  struct Group {
    std::map<std::string, std::string> before, after;  // id -> person
    bool listed = false;
    bool excluded_before = false, excluded_after = false;
  };
  std::map<std::string, Group> groups;  // by address digest
  // Listed or not is the current policy's decision, not what a keys record
  // says (the list may have changed since it was written).
  const auto touch = [&](const std::string& digest) -> absl::Status {
    auto [it, inserted] = groups.try_emplace(digest);
    if (!inserted) return absl::OkStatus();
    Group& g = it->second;
    g.listed = excluded_digests_.contains(digest);
    auto members = kv_->Get(AddressGroupKey(digest));
    if (!members.ok()) return members.status();
    if (members->has_value() && !ParseAddressGroup(**members, g.before)) {
      return absl::DataLossError("signal store: an address group record does not parse");
    }
    return absl::OkStatus();
  };
  for (const Change& c : changes) {
    if (auto it = before_meta.find(c.id); it != before_meta.end() && it->second) {
      if (absl::Status s = touch(it->second->digest); !s.ok()) return s;
    }
    if (c.after && !c.after->address_digest.empty()) {
      if (absl::Status s = touch(c.after->address_digest); !s.ok()) return s;
    }
  }
  for (auto& [digest, g] : groups) {
    g.after = g.before;
    for (const Change& c : changes) {
      if (auto it = before_meta.find(c.id);
          it != before_meta.end() && it->second && it->second->digest == digest) {
        g.after.erase(c.id);
      }
      if (c.after && c.after->address_digest == digest) g.after[c.id] = c.after->person_digest;
    }
    g.excluded_before = g.listed || policy_->ExceedsPersonsPerAddress(DistinctPersons(g.before));
    g.excluded_after = g.listed || policy_->ExceedsPersonsPerAddress(DistinctPersons(g.after));
    if (g.excluded_before == g.excluded_after) continue;
    for (const auto& [id, person] : g.after) {
      if (in_work.contains(id)) continue;
      auto stored = Read(id);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      // Re-tagging needs the keys; a subject that no longer derives keeps
      // the tags it has rather than blocking this change.
      auto derived = Derive(**stored);
      if (!derived.ok()) continue;
      if (absl::Status read = read_before(id, **stored); !read.ok()) return read;
      before_meta[id] = AddressMeta{digest, g.listed};
      in_work.insert(id);
      changes.push_back(Change{id, **stored, *std::move(derived), /*retag=*/true});
    }
  }

  // Tag records and reference count deltas.
  // Reference count key (kRefPrefix, purpose, "/", tag) -> delta.
  std::unordered_map<std::string, int64_t> deltas;
  deltas.reserve(changes.size() * 4);
  const auto ref_key = [](std::string_view purpose, std::string_view tag) {
    return StrCat(kRefPrefix, purpose, "/", tag);
  };
  std::vector<std::string> logged_ids;
  for (Change& c : changes) {
    if (!c.retag) logged_ids.push_back(c.id);
    // A signal not stored before has no keys record (it is written and
    // removed with the signal record).
    if (auto old = before_keys.find(c.id); old != before_keys.end()) {
      for (const auto& [purpose, tags] : old->second.tags) {
        for (size_t i = 0; i + crypto::kTagSize <= tags.size(); i += crypto::kTagSize) {
          --deltas[ref_key(purpose, std::string_view(tags).substr(i, crypto::kTagSize))];
        }
      }
    }
    if (c.before) {
      batch.Delete(RegisteredKey(*c.before));
      batch.Delete(ExpiryKey(*c.before));
      batch.Delete(KeysKey(c.id));
    }
    if (!c.after) {
      batch.Delete(SignalKey(c.id));
      continue;
    }
    PreparedSignal& p = *c.after;
    v1::Signal& s = p.signal;
    const bool has_address = !p.address_digest.empty();
    const bool excluded = has_address && groups.at(p.address_digest).excluded_after;
    s.clear_key_types();
    s.clear_tagged_purpose_ids();
    s.set_address_excluded(excluded);
    for (uint8_t raw : p.key_types) {
      const auto type = static_cast<crypto::MatchKeyType>(raw);
      if (type == crypto::MatchKeyType::kAddress && excluded) continue;
      const v1::MatchKeyType t = MatchKeyTypeToProto(type);
      if (std::find(s.key_types().begin(), s.key_types().end(), t) == s.key_types().end()) {
        s.add_key_types(t);
      }
    }
    KeysRecord keys;
    if (has_address) {
      keys.address = p.address_listed ? KeysRecord::Address::kListed : KeysRecord::Address::kUnlisted;
      keys.digest = p.address_digest;
    }
    for (const PreparedSignal::PurposeTags& pt : p.tags) {
      std::string tags;
      for (size_t i = 0; i < pt.tags.size(); ++i) {
        if (pt.from_address[i] && excluded) continue;
        const std::string bytes = TagBytes(pt.tags[i]);
        bool seen = false;  // the same tag twice counts once (a handful per signal)
        for (size_t at = 0; at < tags.size() && !seen; at += crypto::kTagSize) {
          seen = tags.compare(at, crypto::kTagSize, bytes) == 0;
        }
        if (seen) continue;
        tags += bytes;
        ++deltas[ref_key(pt.purpose_id, bytes)];
      }
      if (tags.empty()) continue;
      s.add_tagged_purpose_ids(pt.purpose_id);
      keys.tags.emplace_back(pt.purpose_id, std::move(tags));
    }
    batch.Put(SignalKey(c.id), s.SerializeAsString());
    batch.Put(RegisteredKey(s), "");
    batch.Put(ExpiryKey(s), "");
    batch.Put(KeysKey(c.id), keys.Encode());
  }

  // Address groups whose members changed: one record each.
  for (const auto& [digest, g] : groups) {
    if (g.after == g.before) continue;
    if (g.after.empty()) {
      batch.Delete(AddressGroupKey(digest));
      continue;
    }
    std::string members;
    for (const auto& [id, person] : g.after) {
      PutBytes(members, id);
      members += person;
    }
    batch.Put(AddressGroupKey(digest), members);
  }

  // Reference counts: an addition on a tag's first signal, a removal on its
  // last.
  std::map<std::string, v1::PurposeTagChanges> by_purpose;
  std::map<std::string, int64_t> count_deltas;
  std::vector<std::string> ref_keys;
  std::vector<int64_t> ref_deltas;
  ref_keys.reserve(deltas.size());
  ref_deltas.reserve(deltas.size());
  for (auto& [key, delta] : deltas) {
    if (delta == 0) continue;
    ref_keys.push_back(key);
    ref_deltas.push_back(delta);
  }
  auto counts = kv_->MultiGet(ref_keys);  // mostly tags not held yet: the Bloom filters answer
  if (!counts.ok()) return counts.status();
  for (size_t k = 0; k < ref_keys.size(); ++k) {
    const std::string& key = ref_keys[k];
    const int64_t delta = ref_deltas[k];
    const std::string purpose =
        key.substr(kRefPrefix.size(), key.size() - kRefPrefix.size() - 1 - crypto::kTagSize);
    const std::string tag = key.substr(key.size() - crypto::kTagSize);
    auto count = DecodeCounter((*counts)[k]);
    if (!count.ok()) return count.status();
    const int64_t updated = static_cast<int64_t>(*count) + delta;
    if (updated < 0) return absl::InternalError("signal store: a tag reference count fell below 0");
    if (updated == 0) {
      batch.Delete(key);
    } else {
      batch.Put(key, store::EncodeKeyU64(static_cast<uint64_t>(updated)));
    }
    if (*count == 0 && updated > 0) {
      by_purpose[purpose].add_added(tag);
      ++count_deltas[purpose];
    } else if (*count > 0 && updated == 0) {
      by_purpose[purpose].add_removed(tag);
      --count_deltas[purpose];
    }
  }
  PreparedCommit result;
  for (auto& [purpose, delta] : count_deltas) {
    if (delta == 0) continue;
    auto count = ReadCounter(CountKey(purpose));
    if (!count.ok()) return count.status();
    batch.Put(CountKey(purpose),
              store::EncodeKeyU64(static_cast<uint64_t>(static_cast<int64_t>(*count) + delta)));
  }
  if (!by_purpose.empty()) {
    auto queued = ReadCounter(kQueuedThroughKey);
    if (!queued.ok()) return queued.status();
    v1::IndexBatch entry;
    entry.set_sequence(*queued + 1);
    for (auto& [purpose, changes_for] : by_purpose) {
      changes_for.set_purpose_id(purpose);
      std::sort(changes_for.mutable_added()->begin(), changes_for.mutable_added()->end());
      std::sort(changes_for.mutable_removed()->begin(), changes_for.mutable_removed()->end());
      result.tags_added += static_cast<uint64_t>(changes_for.added_size());
      result.tags_removed += static_cast<uint64_t>(changes_for.removed_size());
      *entry.add_changes() = std::move(changes_for);
    }
    batch.Put(QueueKey(entry.sequence()), entry.SerializeAsString());
    batch.Put(kQueuedThroughKey, store::EncodeKeyU64(entry.sequence()));
  }
  batch.Append(extra);
  if (record != nullptr && log_ != nullptr) {
    v1::LocalLogRecord logged = *record;
    logged.clear_signal_ids();
    for (std::string& id : logged_ids) logged.add_signal_ids(std::move(id));
    auto appended = log_->AppendWith(std::move(logged), std::move(batch));
    if (!appended.ok()) return appended.status();
  } else if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    return written;
  }
  return result;
}

absl::StatusOr<v1::Signal> SignalStore::Add(v1::Signal signal, absl::Time now,
                                            std::string_view owner_user_id, v1::Role role) {
  ClearOutputOnly(signal);
  std::lock_guard<std::mutex> lock(mu_);
  if (signal.signal_id().empty()) {
    for (int attempt = 0; attempt < 4 && signal.signal_id().empty(); ++attempt) {
      std::string id = NewUlid(now);
      auto existing = kv_->Get(SignalKey(id));
      if (!existing.ok()) return existing.status();
      if (!existing->has_value()) signal.set_signal_id(std::move(id));
    }
    if (signal.signal_id().empty()) return absl::InternalError("signal store: no free signal id");
  }
  if (absl::Status normalised = Normalise(signal, now); !normalised.ok()) return normalised;
  auto existing = kv_->Get(SignalKey(signal.signal_id()));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError("signal.signal_id: already taken by another signal");
  }
  signal.set_owner_user_id(std::string(owner_user_id));
  SetTime(now, signal.mutable_updated_at());
  signal.set_version(1);
  const std::string id = signal.signal_id();
  auto prepared = Derive(std::move(signal));
  if (!prepared.ok()) return prepared.status();
  std::vector<Change> changes;
  changes.push_back(Change{id, std::nullopt, *std::move(prepared)});
  const v1::LocalLogRecord record =
      RecordFor(v1::LOCAL_EVENT_KIND_SIGNAL_ADDED, {std::string(owner_user_id), role, ""});
  auto committed = Commit(std::move(changes), &record);
  if (!committed.ok()) return committed.status();
  auto stored = Read(id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::InternalError("signal store: added signal not found");
  return **stored;
}

absl::StatusOr<v1::Signal> SignalStore::Get(std::string_view signal_id) const {
  auto stored = Read(signal_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("signal_id: no such signal");
  return **stored;
}

absl::StatusOr<SignalPage> SignalStore::List(const ListOptions& options) const {
  const size_t page_size = options.page_size == 0 ? kDefaultPageSize : options.page_size;
  if (page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(StrCat("page_size: at most ", kMaxPageSize));
  }
  const bool by_id = options.order == ListOptions::Order::kById;
  const std::string_view prefix = by_id ? kSignalPrefix : kRegisteredPrefix;
  std::string begin(prefix);
  if (!options.page_token.empty()) {
    auto suffix = crypto::FromHex(options.page_token, "page_token");
    if (!suffix.ok() || suffix->empty()) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
    begin += std::string(suffix->begin(), suffix->end());
    begin.push_back('\0');  // the smallest key after the token's
  }
  auto rows = kv_->Scan(begin, store::PrefixEnd(prefix), page_size + 1);
  if (!rows.ok()) return rows.status();
  SignalPage page;
  for (size_t i = 0; i < rows->size() && i < page_size; ++i) {
    const auto& [key, value] = (*rows)[i];
    if (by_id) {
      auto signal = ParseSignal(value);
      if (!signal.ok()) return signal.status();
      page.signals.push_back(*std::move(signal));
    } else {
      const std::string id = key.substr(prefix.size() + 9);  // 8 bytes + '/'
      auto signal = Read(id);
      if (!signal.ok()) return signal.status();
      if (signal->has_value()) page.signals.push_back(**std::move(signal));
    }
  }
  if (rows->size() > page_size) {
    const std::string& last = (*rows)[page_size - 1].first;
    page.next_page_token = crypto::ToHex(crypto::AsBytes(last.substr(prefix.size())));
  }
  return page;
}

absl::StatusOr<v1::Signal> SignalStore::Update(v1::Signal replacement, uint64_t expected_version,
                                               absl::Time now, const SignalActor& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  auto stored_or = Read(replacement.signal_id());
  if (!stored_or.ok()) return stored_or.status();
  if (!stored_or->has_value()) return absl::NotFoundError("signal_id: no such signal");
  const v1::Signal stored = **stored_or;
  if (expected_version != 0 && stored.version() != expected_version) {
    return absl::AbortedError(StrCat("signal: version is ", stored.version(), ", not ",
                                     expected_version, "; re-read and retry"));
  }
  v1::Signal updated = stored;
  *updated.mutable_subject() = replacement.subject();
  const bool category_changed = replacement.category() != stored.category();
  updated.set_category(replacement.category());
  updated.set_domain(replacement.domain());
  *updated.mutable_contact() = replacement.contact();
  updated.set_free_text(replacement.free_text());
  if (replacement.has_expires_at()) {
    *updated.mutable_expires_at() = replacement.expires_at();
  } else if (category_changed) {
    updated.clear_expires_at();
  }
  if (absl::Status normalised = Normalise(updated, now); !normalised.ok()) return normalised;
  updated.set_version(stored.version() + 1);
  SetTime(now, updated.mutable_updated_at());
  const std::string id = updated.signal_id();
  auto prepared = Derive(std::move(updated));
  if (!prepared.ok()) return prepared.status();
  std::vector<Change> changes;
  changes.push_back(Change{id, stored, *std::move(prepared)});
  const v1::LocalLogRecord record = RecordFor(v1::LOCAL_EVENT_KIND_SIGNAL_UPDATED, actor);
  auto committed = Commit(std::move(changes), &record);
  if (!committed.ok()) return committed.status();
  return Get(id);
}

absl::StatusOr<uint32_t> SignalStore::Delete(std::string_view signal_id, uint64_t expected_version,
                                             const SignalActor& actor) {
  std::lock_guard<std::mutex> lock(mu_);
  auto stored = Read(signal_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("signal_id: no such signal");
  if (expected_version != 0 && (*stored)->version() != expected_version) {
    return absl::AbortedError(StrCat("signal: version is ", (*stored)->version(), ", not ",
                                     expected_version, "; re-read and retry"));
  }
  std::vector<Change> changes;
  changes.push_back(Change{std::string(signal_id), **stored, std::nullopt});
  const v1::LocalLogRecord record = RecordFor(v1::LOCAL_EVENT_KIND_SIGNAL_DELETED, actor);
  auto committed = Commit(std::move(changes), &record);
  if (!committed.ok()) return committed.status();
  return static_cast<uint32_t>(committed->tags_removed);
}

absl::StatusOr<size_t> SignalStore::ExpireDue(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now_micros = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)));
  const std::string end = StrCat(kExpiryPrefix, store::EncodeKeyU64(now_micros + 1));
  const v1::LocalLogRecord record = RecordFor(v1::LOCAL_EVENT_KIND_SIGNAL_EXPIRED, {});
  size_t removed = 0;
  while (true) {
    auto due = kv_->Scan(kExpiryPrefix, end, kExpiryChunk);
    if (!due.ok()) return due.status();
    if (due->empty()) return removed;
    std::vector<Change> changes;
    store::WriteBatch orphans;
    for (const auto& [key, value] : *due) {
      const std::string id = key.substr(kExpiryPrefix.size() + 9);
      auto stored = Read(id);
      if (stored.ok() && stored->has_value()) {
        changes.push_back(Change{id, **stored, std::nullopt});
        continue;
      }
      if (!stored.ok() && !absl::IsDataLoss(stored.status())) return stored.status();
      // No record, or one that does not parse: remove what is keyed by id
      // (its tags are withdrawn from sig/k/ all the same).
      v1::Signal placeholder;
      placeholder.set_signal_id(id);
      auto micros = store::DecodeKeyU64(std::string_view(key).substr(kExpiryPrefix.size(), 8));
      if (!micros.ok()) return absl::DataLossError("signal store: a malformed expiry key");
      placeholder.mutable_expires_at()->set_seconds(static_cast<int64_t>(*micros / 1'000'000));
      placeholder.mutable_expires_at()->set_nanos(
          static_cast<int32_t>((*micros % 1'000'000) * 1000));
      changes.push_back(Change{id, std::move(placeholder), std::nullopt});
    }
    const size_t n = changes.size();
    auto committed = Commit(std::move(changes), &record);
    if (!committed.ok()) return committed.status();
    removed += n;
  }
}

absl::StatusOr<PreparedCommit> SignalStore::CommitPrepared(const ChangeLock& lock,
                                                           std::vector<PreparedSignal> prepared,
                                                           const v1::LocalLogRecord* record,
                                                           store::WriteBatch extra,
                                                           std::string_view undo_key,
                                                           bool all_new) {
  if (lock.owner_ != this || !lock.lock_.owns_lock()) {
    return absl::InvalidArgumentError("signal store: CommitPrepared needs this store's lock");
  }
  std::vector<Change> changes;
  changes.reserve(prepared.size());
  std::string undo;
  for (PreparedSignal& p : prepared) {
    std::string id = p.signal.signal_id();
    auto stored = all_new ? std::optional<v1::Signal>() : Read(id);
    if (!stored.ok()) return stored.status();
    if (!undo_key.empty()) {
      PutBytes(undo, id);
      PutBytes(undo, stored->has_value() ? (*stored)->SerializeAsString() : std::string());
    }
    if (stored->has_value()) p.signal.set_version((*stored)->version() + 1);
    changes.push_back(Change{std::move(id), *std::move(stored), std::move(p)});
  }
  if (!undo_key.empty()) extra.Put(std::string(undo_key), std::move(undo));
  return Commit(std::move(changes), record, std::move(extra));
}

absl::StatusOr<PreparedCommit> SignalStore::RollBack(const ChangeLock& lock, std::string_view undo,
                                                     const v1::LocalLogRecord* record,
                                                     store::WriteBatch extra) {
  if (lock.owner_ != this || !lock.lock_.owns_lock()) {
    return absl::InvalidArgumentError("signal store: RollBack needs this store's lock");
  }
  const absl::Status bad = absl::DataLossError("signal store: an undo record does not parse");
  std::vector<Change> changes;
  Reader r(undo);
  while (!r.done()) {
    std::string_view id, previous;
    if (!r.Bytes(id) || !r.Bytes(previous)) return bad;
    auto stored = Read(id);
    if (!stored.ok()) return stored.status();
    std::optional<PreparedSignal> after;
    if (!previous.empty()) {
      v1::Signal signal;
      if (!signal.ParseFromArray(previous.data(), static_cast<int>(previous.size()))) return bad;
      auto derived = Derive(signal);
      if (derived.ok()) {
        after = *std::move(derived);
      } else {
        // Keys that no longer derive (older rules): the record comes back
        // without tags rather than not at all.
        after.emplace();
        after->signal = std::move(signal);
      }
    } else if (!stored->has_value()) {
      continue;  // already gone
    }
    changes.push_back(Change{std::string(id), *std::move(stored), std::move(after)});
  }
  return Commit(std::move(changes), record, std::move(extra));
}

absl::StatusOr<std::vector<v1::IndexBatch>> SignalStore::PendingBatches(uint64_t after_sequence,
                                                                        size_t limit) const {
  auto acknowledged = ReadCounter(kAcknowledgedThroughKey);
  if (!acknowledged.ok()) return acknowledged.status();
  auto queued = ReadCounter(kQueuedThroughKey);
  if (!queued.ok()) return queued.status();
  if (after_sequence < *acknowledged) {
    return absl::FailedPreconditionError(StrCat("after_sequence: batches through ", *acknowledged,
                                                " were acknowledged and dropped, asked from ",
                                                after_sequence + 1, "; republish the index"));
  }
  if (after_sequence > *queued) {
    return absl::InvalidArgumentError(
        StrCat("after_sequence: ", after_sequence, " is beyond the last queued batch ", *queued));
  }
  auto rows = kv_->Scan(QueueKey(after_sequence + 1), store::PrefixEnd(kQueuePrefix), limit);
  if (!rows.ok()) return rows.status();
  std::vector<v1::IndexBatch> out;
  out.reserve(rows->size());
  for (const auto& [key, value] : *rows) {
    v1::IndexBatch batch;
    if (!batch.ParseFromString(value)) {
      return absl::DataLossError("signal store: a queued index batch does not parse");
    }
    out.push_back(std::move(batch));
  }
  return out;
}

absl::Status SignalStore::AcknowledgeUpTo(uint64_t sequence) {
  std::lock_guard<std::mutex> lock(mu_);
  auto acknowledged = ReadCounter(kAcknowledgedThroughKey);
  if (!acknowledged.ok()) return acknowledged.status();
  auto queued = ReadCounter(kQueuedThroughKey);
  if (!queued.ok()) return queued.status();
  if (sequence > *queued) {
    return absl::InvalidArgumentError(
        StrCat("applied_through: ", sequence, " is beyond the last queued batch ", *queued));
  }
  if (sequence <= *acknowledged) return absl::OkStatus();
  store::WriteBatch batch;
  for (uint64_t s = *acknowledged + 1; s <= sequence; ++s) batch.Delete(QueueKey(s));
  batch.Put(kAcknowledgedThroughKey, store::EncodeKeyU64(sequence));
  return kv_->Write(batch, store::Durability::kSynced);
}

absl::StatusOr<uint64_t> SignalStore::Republish(uint64_t after_sequence,
                                                uint32_t max_changes_per_batch) {
  if (max_changes_per_batch == 0) {
    return absl::InvalidArgumentError("republish: max_changes_per_batch must be at least 1");
  }
  std::lock_guard<std::mutex> lock(mu_);
  store::WriteBatch batch;
  batch.DeleteRange(kQueuePrefix, store::PrefixEnd(kQueuePrefix));
  batch.Put(kAcknowledgedThroughKey, store::EncodeKeyU64(after_sequence));
  uint64_t sequence = after_sequence;
  v1::IndexBatch entry;
  entry.set_sequence(++sequence);
  for (const auto& [purpose, key] : purpose_keys_) {
    v1::PurposeTagChanges* clear = entry.add_changes();
    clear->set_purpose_id(purpose);
    clear->set_clear(true);
  }
  uint32_t in_entry = 0;
  const auto flush = [&] {
    batch.Put(QueueKey(entry.sequence()), entry.SerializeAsString());
    entry.Clear();
    entry.set_sequence(++sequence);
    in_entry = 0;
  };
  for (const auto& [purpose, key] : purpose_keys_) {
    const std::string prefix = StrCat(kRefPrefix, purpose, "/");
    auto refs = kv_->Scan(prefix, store::PrefixEnd(prefix));
    if (!refs.ok()) return refs.status();
    v1::PurposeTagChanges* changes = nullptr;
    for (const auto& [ref_key, count] : *refs) {
      if (in_entry == max_changes_per_batch) {
        flush();
        changes = nullptr;
      }
      if (changes == nullptr || changes->purpose_id() != purpose) {
        // Reuse the clearing entry of this purpose in the first batch.
        changes = nullptr;
        for (v1::PurposeTagChanges& c : *entry.mutable_changes()) {
          if (c.purpose_id() == purpose) changes = &c;
        }
        if (changes == nullptr) {
          changes = entry.add_changes();
          changes->set_purpose_id(purpose);
        }
      }
      changes->add_added(ref_key.substr(prefix.size()));
      ++in_entry;
    }
  }
  batch.Put(QueueKey(entry.sequence()), entry.SerializeAsString());
  batch.Put(kQueuedThroughKey, store::EncodeKeyU64(sequence));
  if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    return written;
  }
  return sequence - after_sequence;
}

absl::StatusOr<IndexStatus> SignalStore::GetIndexStatus() const {
  IndexStatus status;
  auto queued = ReadCounter(kQueuedThroughKey);
  if (!queued.ok()) return queued.status();
  auto acknowledged = ReadCounter(kAcknowledgedThroughKey);
  if (!acknowledged.ok()) return acknowledged.status();
  status.queued_through = *queued;
  status.acknowledged_through = *acknowledged;
  for (const auto& [purpose, key] : purpose_keys_) {
    auto count = ReadCounter(CountKey(purpose));
    if (!count.ok()) return count.status();
    status.tag_count[purpose] = *count;
  }
  return status;
}

absl::StatusOr<std::map<std::string, std::vector<crypto::Tag>>> SignalStore::TagsOf(
    std::string_view signal_id) const {
  auto keys = ReadKeys(signal_id);
  if (!keys.ok()) return keys.status();
  std::map<std::string, std::vector<crypto::Tag>> out;
  if (!keys->has_value()) return out;
  for (const auto& [purpose, tags] : (*keys)->tags) {
    std::vector<crypto::Tag>& list = out[purpose];
    for (size_t i = 0; i + crypto::kTagSize <= tags.size(); i += crypto::kTagSize) {
      list.push_back(TagFromBytes(std::string_view(tags).substr(i, crypto::kTagSize)));
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> SignalStore::SignalsWithTag(
    std::string_view purpose_id, const crypto::Tag& tag) const {
  std::vector<std::string> ids;
  auto count = ReadCounter(RefKey(purpose_id, tag));
  if (!count.ok()) return count.status();
  if (*count == 0) return ids;
  // Every signal's keys record, until all are found.
  const std::string bytes = TagBytes(tag);
  std::string from(kKeysPrefix);
  for (;;) {
    auto rows = kv_->Scan(from, store::PrefixEnd(kKeysPrefix), 4096);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      auto keys = KeysRecord::Parse(value);
      if (!keys.ok()) return keys.status();
      for (const auto& [purpose, tags] : keys->tags) {
        if (purpose != purpose_id) continue;
        for (size_t i = 0; i + crypto::kTagSize <= tags.size(); i += crypto::kTagSize) {
          if (tags.compare(i, crypto::kTagSize, bytes) == 0) {
            ids.push_back(key.substr(kKeysPrefix.size()));
            break;
          }
        }
      }
    }
    if (rows->size() < 4096 || ids.size() >= *count) break;
    from = rows->back().first + std::string(1, '\0');
  }
  return ids;
}

absl::StatusOr<uint64_t> SignalStore::TagReferences(std::string_view purpose_id,
                                                    const crypto::Tag& tag) const {
  return ReadCounter(RefKey(purpose_id, tag));
}

}  // namespace schakel::nodes
