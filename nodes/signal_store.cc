#include "nodes/signal_store.h"

#include <algorithm>
#include <chrono>
#include <set>
#include <utility>

#include "absl/strings/str_split.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/match_keys.h"
#include "crypto/random.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kSignalPrefix = "sig/s/";
constexpr std::string_view kTagPrefix = "sig/t/";
constexpr std::string_view kRegisteredPrefix = "sig/g/";
constexpr std::string_view kExpiryPrefix = "sig/e/";
constexpr std::string_view kAddressPrefix = "sig/a/";
constexpr std::string_view kRefPrefix = "idx/r/";
constexpr std::string_view kCountPrefix = "idx/c/";
constexpr std::string_view kQueuePrefix = "idx/q/";
constexpr std::string_view kQueuedThroughKey = "idx/m/queued_through";
constexpr std::string_view kAcknowledgedThroughKey = "idx/m/acknowledged_through";

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
std::string TagRecordPrefix(std::string_view id) { return StrCat(kTagPrefix, id, "/"); }
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
  return static_cast<uint64_t>(ts.seconds()) * 1'000'000 +
         static_cast<uint64_t>(ts.nanos() / 1000);
}
std::string RegisteredKey(const v1::Signal& s) {
  return StrCat(kRegisteredPrefix, store::EncodeKeyU64(Micros(s.registered_at())), "/",
                s.signal_id());
}
std::string ExpiryKey(const v1::Signal& s) {
  return StrCat(kExpiryPrefix, store::EncodeKeyU64(Micros(s.expires_at())), "/", s.signal_id());
}

std::string Digest16(std::string_view data) {
  const crypto::Blake2b256Digest d = crypto::Blake2b256Hash(crypto::AsBytes(data));
  return std::string(reinterpret_cast<const char*>(d.data()), 16);
}
std::string AddressGroupPrefix(std::string_view canonical_address) {
  return StrCat(kAddressPrefix, crypto::ToHex(crypto::AsBytes(Digest16(canonical_address))), "/");
}

size_t Utf8Chars(std::string_view text) {
  return static_cast<size_t>(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool ValidSignalId(std::string_view id) {
  if (id.empty() || id.size() > kMaxSignalIdChars) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '_' || c == '-';
  });
}

// ULID layout: 48-bit milliseconds, 80 random bits, Crockford base32.
std::string NewSignalId(absl::Time now) {
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
// "signal.subject.<field>" (postcode and house_number under "address").
std::string SubjectProblems(absl::string_view message) {
  std::string out;
  for (absl::string_view part : absl::StrSplit(message, "; ")) {
    std::string_view p(part.data(), part.size());
    std::string prefixed;
    if (p.starts_with("postcode") || p.starts_with("house_number")) {
      prefixed = StrCat("signal.subject.address.", p);
    } else if (p.starts_with("no identifiers")) {
      prefixed = StrCat("signal.subject: ", p);
    } else {
      prefixed = StrCat("signal.subject.", p);
    }
    out += StrCat(out.empty() ? "" : "; ", prefixed);
  }
  return out;
}

crypto::SubjectIdentifiers ToIdentifiers(const v1::Subject& subject) {
  crypto::SubjectIdentifiers ids;
  auto given = [](const std::string& s) -> std::optional<std::string> {
    if (s.empty()) return std::nullopt;
    return s;
  };
  ids.bsn = given(subject.bsn());
  ids.given_names = given(subject.given_names());
  if (!subject.surname().empty()) {
    ids.surname = subject.surname_prefix().empty()
                      ? subject.surname()
                      : StrCat(subject.surname_prefix(), " ", subject.surname());
  }
  ids.birth_date = given(subject.birth_date());
  if (subject.has_address() &&
      (!subject.address().postcode().empty() || subject.address().house_number() != 0)) {
    ids.postcode = subject.address().postcode();
    ids.house_number = subject.address().house_number() == 0
                           ? std::string()
                           : StrCat(subject.address().house_number(),
                                    subject.address().house_number_suffix());
  }
  return ids;
}

std::chrono::year_month_day UtcDay(absl::Time t) {
  const absl::CivilDay day = absl::ToCivilDay(t, absl::UTCTimeZone());
  return std::chrono::year_month_day{std::chrono::year(static_cast<int>(day.year())),
                                     std::chrono::month(static_cast<unsigned>(day.month())),
                                     std::chrono::day(static_cast<unsigned>(day.day()))};
}

// What the tags of a signal are computed from.
struct Derived {
  std::vector<crypto::MatchKey> keys;
  std::optional<std::string> address;  // canonical
  std::string person;                  // 16-byte digest
};

absl::StatusOr<Derived> Derive(const v1::Signal& signal, std::chrono::year_month_day today) {
  auto keys = crypto::DeriveMatchKeys(ToIdentifiers(signal.subject()), today);
  if (!keys.ok()) return absl::InvalidArgumentError(SubjectProblems(keys.status().message()));
  Derived d;
  d.keys = *std::move(keys);
  for (const crypto::MatchKey& k : d.keys) {
    if (k.type == crypto::MatchKeyType::kAddress) d.address = k.canonical;
  }
  const crypto::MatchKey& first = d.keys.front();
  d.person = first.type == crypto::MatchKeyType::kAddress
                 ? Digest16(StrCat("signal:", signal.signal_id()))
                 : Digest16(first.OprfInput());
  return d;
}

v1::MatchKeyType ToProtoType(crypto::MatchKeyType t) {
  switch (t) {
    case crypto::MatchKeyType::kBsn:
      return v1::MATCH_KEY_TYPE_BSN;
    case crypto::MatchKeyType::kNameDob:
      return v1::MATCH_KEY_TYPE_NAME_DOB;
    case crypto::MatchKeyType::kAddress:
      return v1::MATCH_KEY_TYPE_ADDRESS;
  }
  return v1::MATCH_KEY_TYPE_UNSPECIFIED;
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

}  // namespace

struct SignalStore::Change {
  std::string id;
  std::optional<v1::Signal> before;  // stored record; nullopt for a new signal
  std::optional<v1::Signal> after;   // nullopt for a deletion
};

absl::StatusOr<std::unique_ptr<SignalStore>> SignalStore::Create(
    store::KvStore* kv, std::shared_ptr<const LocalPolicy> policy,
    std::map<std::string, crypto::PurposeKey> purpose_keys) {
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
  std::unique_ptr<SignalStore> out(new SignalStore(kv, std::move(policy), std::move(keys)));
  if (auto queued = out->ReadCounter(kQueuedThroughKey); !queued.ok()) return queued.status();
  return out;
}

absl::StatusOr<uint64_t> SignalStore::ReadCounter(std::string_view key) const {
  auto value = kv_->Get(key);
  if (!value.ok()) return value.status();
  if (!value->has_value()) return 0;
  auto decoded = store::DecodeKeyU64(**value);
  if (!decoded.ok()) return absl::DataLossError("signal store: a counter is not 8 bytes");
  return *decoded;
}

absl::StatusOr<std::optional<v1::Signal>> SignalStore::Read(std::string_view signal_id) const {
  auto value = kv_->Get(SignalKey(signal_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<v1::Signal>();
  auto signal = ParseSignal(**value);
  if (!signal.ok()) return signal.status();
  return std::optional<v1::Signal>(*std::move(signal));
}

absl::Status SignalStore::Prepare(v1::Signal& signal, absl::Time now) const {
  std::vector<std::string> problems;
  if (!ValidSignalId(signal.signal_id())) {
    problems.push_back("signal.signal_id: must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'");
  }
  const CategoryPolicy* category = policy_->FindCategory(signal.category());
  if (category == nullptr) {
    std::string configured;
    for (const auto& [id, c] : policy_->categories()) {
      configured += StrCat(configured.empty() ? "" : ", ", id);
    }
    problems.push_back(StrCat(signal.category().empty() ? "signal.category: missing"
                                                        : "signal.category: not a configured "
                                                          "category",
                              "; configured: ", configured));
  }
  if (!v1::Domain_IsValid(signal.domain())) {
    problems.push_back("signal.domain: not a domain");
  } else if (signal.domain() == v1::DOMAIN_UNSPECIFIED && category != nullptr) {
    signal.set_domain(category->domain);
  }
  if (Utf8Chars(signal.free_text()) > kMaxFreeTextChars) {
    problems.push_back(StrCat("signal.free_text: longer than ", kMaxFreeTextChars, " characters"));
  }
  if (Utf8Chars(signal.subject().family_id()) > kMaxFamilyIdChars) {
    problems.push_back(
        StrCat("signal.subject.family_id: longer than ", kMaxFamilyIdChars, " characters"));
  }
  if (!v1::Relation_IsValid(signal.subject().relation())) {
    problems.push_back("signal.subject.relation: not a relation");
  }
  const v1::ContactPerson& contact = signal.contact();
  if (Utf8Chars(contact.name()) > 200) problems.push_back("signal.contact.name: longer than 200");
  if (Utf8Chars(contact.phone()) > 40) problems.push_back("signal.contact.phone: longer than 40");
  if (Utf8Chars(contact.email()) > 254) problems.push_back("signal.contact.email: longer than 254");
  if (Utf8Chars(contact.unit()) > 200) problems.push_back("signal.contact.unit: longer than 200");

  // Keys: every given identifier is validated; the message names fields only.
  auto derived = Derive(signal, UtcDay(now));
  if (!derived.ok()) {
    problems.push_back(std::string(derived.status().message().data(),
                                   derived.status().message().size()));
  }

  if (!signal.has_registered_at()) SetTime(now, signal.mutable_registered_at());
  const absl::Time registered = ToTime(signal.registered_at());
  if (registered < absl::UnixEpoch() || registered > now + absl::Hours(24)) {
    problems.push_back("signal.registered_at: must be after 1970 and not in the future");
  }
  if (!signal.has_expires_at() && category != nullptr) {
    SetTime(registered + category->retention, signal.mutable_expires_at());
  }
  if (signal.has_expires_at()) {
    const absl::Time expires = ToTime(signal.expires_at());
    if (expires <= registered) {
      problems.push_back("signal.expires_at: must be after registered_at");
    } else if (expires <= now) {
      problems.push_back("signal.expires_at: already passed");
    } else if (expires > registered + kMaxRetention) {
      problems.push_back("signal.expires_at: more than 3650 days after registered_at");
    }
  }
  if (!problems.empty()) {
    std::string message;
    for (const std::string& p : problems) message += StrCat(message.empty() ? "" : "; ", p);
    return absl::InvalidArgumentError(message);
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

absl::StatusOr<uint32_t> SignalStore::Commit(std::vector<Change> changes, uint32_t* tags_added) {
  const auto today = crypto::UtcToday();
  store::WriteBatch batch;

  // Derived keys of every primary change, before and after.
  struct Work {
    std::optional<Derived> before;
    std::optional<Derived> after;
  };
  std::map<std::string, Work> work;
  for (const Change& c : changes) {
    Work& w = work[c.id];
    if (c.before) {
      auto d = Derive(*c.before, today);
      if (!d.ok()) return absl::DataLossError("signal store: a stored subject no longer derives");
      w.before = *std::move(d);
    }
    if (c.after) {
      auto d = Derive(*c.after, today);
      if (!d.ok()) return d.status();
      w.after = *std::move(d);
    }
  }

  // Address groups touched: whether each counts as institutional before and
  // after; when that flips, every other signal there is re-tagged.
  struct Group {
    std::string prefix;
    std::map<std::string, std::string> before, after;  // id -> person
    bool excluded_before = false, excluded_after = false;
  };
  std::map<std::string, Group> groups;
  for (const auto& [id, w] : work) {
    for (const std::optional<Derived>* d : {&w.before, &w.after}) {
      if (*d && (*d)->address && !groups.contains(*(*d)->address)) {
        Group g;
        g.prefix = AddressGroupPrefix(*(*d)->address);
        auto members = kv_->Scan(g.prefix, store::PrefixEnd(g.prefix));
        if (!members.ok()) return members.status();
        for (auto& [key, person] : *members) {
          g.before.emplace(key.substr(g.prefix.size()), person);
        }
        groups.emplace(*(*d)->address, std::move(g));
      }
    }
  }
  for (auto& [address, g] : groups) {
    g.after = g.before;
    for (const auto& [id, w] : work) {
      if (w.before && w.before->address == address) g.after.erase(id);
      if (w.after && w.after->address == address) g.after[id] = w.after->person;
    }
    const bool listed = policy_->IsExcludedAddress(address);
    g.excluded_before = listed || policy_->ExceedsPersonsPerAddress(DistinctPersons(g.before));
    g.excluded_after = listed || policy_->ExceedsPersonsPerAddress(DistinctPersons(g.after));
    if (g.excluded_before == g.excluded_after) continue;
    for (const auto& [id, person] : g.after) {
      if (work.contains(id)) continue;
      auto stored = Read(id);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) continue;
      auto d = Derive(**stored, today);
      if (!d.ok()) return absl::DataLossError("signal store: a stored subject no longer derives");
      work[id] = Work{std::nullopt, *std::move(d)};
      changes.push_back(Change{id, std::nullopt, **stored});
      changes.back().before = changes.back().after;  // tags withdrawn from records below
    }
  }

  // Tag records and reference count deltas.
  std::map<std::pair<std::string, std::string>, int64_t> deltas;  // (purpose, tag) -> delta
  for (Change& c : changes) {
    const Work& w = work[c.id];
    const std::string prefix = TagRecordPrefix(c.id);
    auto old_records = kv_->Scan(prefix, store::PrefixEnd(prefix));
    if (!old_records.ok()) return old_records.status();
    for (const auto& [key, tags] : *old_records) {
      const std::string purpose = key.substr(prefix.size());
      for (size_t i = 0; i + crypto::kTagSize <= tags.size(); i += crypto::kTagSize) {
        --deltas[{purpose, tags.substr(i, crypto::kTagSize)}];
      }
      batch.Delete(key);
    }
    if (c.before) {
      batch.Delete(RegisteredKey(*c.before));
      batch.Delete(ExpiryKey(*c.before));
      if (w.before && w.before->address) {
        batch.Delete(StrCat(AddressGroupPrefix(*w.before->address), c.id));
      }
    }
    if (!c.after) {
      batch.Delete(SignalKey(c.id));
      continue;
    }
    v1::Signal& s = *c.after;
    const Derived& d = *w.after;
    const bool address_excluded = d.address && groups.at(*d.address).excluded_after;
    s.clear_key_types();
    s.clear_tagged_purpose_ids();
    s.set_address_excluded(address_excluded);
    for (const crypto::MatchKey& k : d.keys) {
      if (k.type == crypto::MatchKeyType::kAddress && address_excluded) continue;
      const v1::MatchKeyType t = ToProtoType(k.type);
      if (std::find(s.key_types().begin(), s.key_types().end(), t) == s.key_types().end()) {
        s.add_key_types(t);
      }
    }
    for (const std::string& purpose : policy_->PurposesMatching(s.category())) {
      const crypto::PurposeKey& key = purpose_keys_.at(purpose);
      std::string tags;
      std::set<std::string> seen;
      for (const crypto::MatchKey& k : d.keys) {
        if (k.type == crypto::MatchKeyType::kAddress && address_excluded) continue;
        auto tag = key.TagFor(crypto::AsBytes(k.OprfInput()));
        if (!tag.ok()) return tag.status();
        const std::string bytes = TagBytes(*tag);
        if (!seen.insert(bytes).second) continue;  // the same tag twice counts once
        tags += bytes;
        ++deltas[{purpose, bytes}];
      }
      if (tags.empty()) continue;
      s.add_tagged_purpose_ids(purpose);
      batch.Put(StrCat(prefix, purpose), tags);
    }
    batch.Put(SignalKey(c.id), s.SerializeAsString());
    batch.Put(RegisteredKey(s), "");
    batch.Put(ExpiryKey(s), "");
    if (d.address) batch.Put(StrCat(AddressGroupPrefix(*d.address), c.id), d.person);
  }

  // Reference counts: an addition on a tag's first signal, a removal on its
  // last.
  std::map<std::string, v1::PurposeTagChanges> by_purpose;
  std::map<std::string, int64_t> count_deltas;
  for (const auto& [purpose_tag, delta] : deltas) {
    if (delta == 0) continue;
    const auto& [purpose, tag] = purpose_tag;
    const std::string key = StrCat(kRefPrefix, purpose, "/", tag);
    auto count = ReadCounter(key);
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
  uint32_t removed = 0, added = 0;
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
      added += static_cast<uint32_t>(changes_for.added_size());
      removed += static_cast<uint32_t>(changes_for.removed_size());
      *entry.add_changes() = std::move(changes_for);
    }
    batch.Put(QueueKey(entry.sequence()), entry.SerializeAsString());
    batch.Put(kQueuedThroughKey, store::EncodeKeyU64(entry.sequence()));
  }
  if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    return written;
  }
  if (tags_added != nullptr) *tags_added = added;
  return removed;
}

absl::StatusOr<v1::Signal> SignalStore::Add(v1::Signal signal, absl::Time now,
                                            std::string_view owner_user_id) {
  signal.clear_owner_user_id();
  signal.clear_updated_at();
  signal.clear_version();
  signal.clear_key_types();
  signal.clear_tagged_purpose_ids();
  signal.clear_address_excluded();
  std::lock_guard<std::mutex> lock(mu_);
  if (signal.signal_id().empty()) {
    for (int attempt = 0; attempt < 4 && signal.signal_id().empty(); ++attempt) {
      std::string id = NewSignalId(now);
      auto existing = kv_->Get(SignalKey(id));
      if (!existing.ok()) return existing.status();
      if (!existing->has_value()) signal.set_signal_id(std::move(id));
    }
    if (signal.signal_id().empty()) return absl::InternalError("signal store: no free signal id");
  }
  if (absl::Status prepared = Prepare(signal, now); !prepared.ok()) return prepared;
  auto existing = kv_->Get(SignalKey(signal.signal_id()));
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) {
    return absl::AlreadyExistsError("signal.signal_id: already taken by another signal");
  }
  signal.set_owner_user_id(std::string(owner_user_id));
  SetTime(now, signal.mutable_updated_at());
  signal.set_version(1);
  std::vector<Change> changes;
  changes.push_back(Change{signal.signal_id(), std::nullopt, std::move(signal)});
  // Commit fills in the output-only fields; read them back from the change.
  std::string id = changes.front().id;
  auto committed = Commit(std::move(changes));
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
      auto signal = Get(id);
      if (!signal.ok()) return signal.status();
      page.signals.push_back(*std::move(signal));
    }
  }
  if (rows->size() > page_size) {
    const std::string& last = (*rows)[page_size - 1].first;
    page.next_page_token = crypto::ToHex(crypto::AsBytes(last.substr(prefix.size())));
  }
  return page;
}

absl::StatusOr<v1::Signal> SignalStore::Update(v1::Signal replacement, uint64_t expected_version,
                                               absl::Time now) {
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
  if (absl::Status prepared = Prepare(updated, now); !prepared.ok()) return prepared;
  updated.set_version(stored.version() + 1);
  SetTime(now, updated.mutable_updated_at());
  const std::string id = updated.signal_id();
  std::vector<Change> changes;
  changes.push_back(Change{id, stored, std::move(updated)});
  auto committed = Commit(std::move(changes));
  if (!committed.ok()) return committed.status();
  return Get(id);
}

absl::StatusOr<uint32_t> SignalStore::Delete(std::string_view signal_id,
                                             uint64_t expected_version) {
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
  return Commit(std::move(changes));
}

absl::StatusOr<size_t> SignalStore::ExpireDue(absl::Time now) {
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t now_micros = static_cast<uint64_t>(std::max<int64_t>(0, absl::ToUnixMicros(now)));
  const std::string end = StrCat(kExpiryPrefix, store::EncodeKeyU64(now_micros + 1));
  size_t removed = 0;
  while (true) {
    auto due = kv_->Scan(kExpiryPrefix, end, kExpiryChunk);
    if (!due.ok()) return due.status();
    if (due->empty()) return removed;
    std::vector<Change> changes;
    for (const auto& [key, value] : *due) {
      const std::string id = key.substr(kExpiryPrefix.size() + 9);
      auto stored = Read(id);
      if (!stored.ok()) return stored.status();
      if (!stored->has_value()) {
        return absl::DataLossError("signal store: an expiry entry names no stored signal");
      }
      changes.push_back(Change{id, **stored, std::nullopt});
    }
    const size_t n = changes.size();
    auto committed = Commit(std::move(changes));
    if (!committed.ok()) return committed.status();
    removed += n;
  }
}

absl::StatusOr<std::vector<v1::IndexBatch>> SignalStore::PendingBatches(uint64_t after_sequence,
                                                                        size_t limit) const {
  auto acknowledged = ReadCounter(kAcknowledgedThroughKey);
  if (!acknowledged.ok()) return acknowledged.status();
  auto queued = ReadCounter(kQueuedThroughKey);
  if (!queued.ok()) return queued.status();
  if (after_sequence < *acknowledged) {
    return absl::FailedPreconditionError(
        StrCat("after_sequence: batches through ", *acknowledged,
               " were acknowledged and dropped, asked from ", after_sequence + 1,
               "; republish the index"));
  }
  if (after_sequence > *queued) {
    return absl::InvalidArgumentError(StrCat("after_sequence: ", after_sequence,
                                             " is beyond the last queued batch ", *queued));
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
    return absl::InvalidArgumentError(StrCat("applied_through: ", sequence,
                                             " is beyond the last queued batch ", *queued));
  }
  if (sequence <= *acknowledged) return absl::OkStatus();
  store::WriteBatch batch;
  for (uint64_t s = *acknowledged + 1; s <= sequence; ++s) batch.Delete(QueueKey(s));
  batch.Put(kAcknowledgedThroughKey, store::EncodeKeyU64(sequence));
  return kv_->Write(batch, store::Durability::kSynced);
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
  const std::string prefix = TagRecordPrefix(signal_id);
  auto rows = kv_->Scan(prefix, store::PrefixEnd(prefix));
  if (!rows.ok()) return rows.status();
  std::map<std::string, std::vector<crypto::Tag>> out;
  for (const auto& [key, tags] : *rows) {
    std::vector<crypto::Tag>& list = out[key.substr(prefix.size())];
    for (size_t i = 0; i + crypto::kTagSize <= tags.size(); i += crypto::kTagSize) {
      list.push_back(TagFromBytes(std::string_view(tags).substr(i, crypto::kTagSize)));
    }
  }
  return out;
}

absl::StatusOr<uint64_t> SignalStore::TagReferences(std::string_view purpose_id,
                                                    const crypto::Tag& tag) const {
  return ReadCounter(RefKey(purpose_id, tag));
}

}  // namespace schakel::nodes
