#include "gateway/directory.h"

#include <grpc/grpc_security_constants.h>

#include <algorithm>
#include <set>

#include "common/json_checker.h"
#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/ristretto.h"
#include "crypto/signing.h"
#include "gateway/authoriser.h"
#include "gateway/exchange_state.h"
#include "proto/canonical.h"

namespace schakel::gateway {
namespace {

using Json = nlohmann::json;

constexpr char kDirVersionKey[] = "dir/v";
constexpr char kDirOrgPrefix[] = "dir/o/";

enum class KeyKind { kOprf, kSigning, kBox };

crypto::Bytes KeyIdOf(crypto::ByteView key) {
  const crypto::Blake2b256Digest d = crypto::Blake2b256Hash(key);
  return crypto::Bytes(d.begin(), d.begin() + canonical::kKeyIdSize);
}

// An RFC 3339 time; nullopt after naming the problem.
std::optional<absl::Time> ParseTime(JsonChecker& c, const Json& value, const std::string& path) {
  if (!value.is_string()) {
    c.Problem(path, StrCat("must be a time such as \"2025-01-01T00:00:00Z\", not ", value.type_name()));
    return std::nullopt;
  }
  absl::Time t;
  std::string error;
  if (!absl::ParseTime(absl::RFC3339_full, value.get<std::string>(), &t, &error)) {
    c.Problem(path, "is not an RFC 3339 time such as \"2025-01-01T00:00:00Z\"");
    return std::nullopt;
  }
  // Times are signed and hashed as whole milliseconds.
  return absl::FromUnixMillis(absl::ToUnixMillis(t));
}

void ParseKey(JsonChecker& c, const Json& value, const std::string& path, KeyKind kind,
              std::vector<DirectoryKey>& out) {
  const Json* hex = &value;
  DirectoryKey key;
  if (value.is_object()) {
    c.NoUnknown(value, StrCat(path, "."), {"key", "valid_from", "valid_until"});
    const auto k = value.find("key");
    if (k == value.end()) {
      c.Problem(StrCat(path, ".key"), "missing; this field is required");
      return;
    }
    hex = &*k;
    if (const auto f = value.find("valid_from"); f != value.end()) {
      key.valid_from = ParseTime(c, *f, StrCat(path, ".valid_from"));
    }
    if (const auto u = value.find("valid_until"); u != value.end()) {
      key.valid_until = ParseTime(c, *u, StrCat(path, ".valid_until"));
    }
    if (key.valid_from && key.valid_until && *key.valid_until <= *key.valid_from) {
      c.Problem(StrCat(path, ".valid_until"), "is not after valid_from");
    }
  }
  const std::string key_path = value.is_object() ? StrCat(path, ".key") : path;
  if (!hex->is_string()) {
    c.Problem(key_path, StrCat("must be a hex string (64 hex digits), not ", hex->type_name()));
    return;
  }
  auto bytes = crypto::FromHex(hex->get_ref<const std::string&>(), key_path);
  if (!bytes.ok() || bytes->size() != 32) {
    c.Problem(key_path, "must be 64 hex digits (32 bytes)");
    return;
  }
  switch (kind) {
    case KeyKind::kOprf:
      if (!crypto::Element::FromBytes(*bytes, key_path).ok()) {
        c.Problem(key_path, "is not an OPRF public key (a canonical ristretto255 element, not the "
                            "identity; the public: line of 'schakel keys generate --kind oprf')");
        return;
      }
      break;
    case KeyKind::kSigning:
      if (!crypto::VerifyKey::FromBytes(*bytes).ok()) {
        c.Problem(key_path, "is not an Ed25519 public key (the public: line of 'schakel keys "
                            "generate --kind ed25519')");
        return;
      }
      break;
    case KeyKind::kBox:
      break;  // every 32-byte string is an X25519 public key
  }
  key.key_id = KeyIdOf(*bytes);
  key.key = *std::move(bytes);
  for (const DirectoryKey& other : out) {
    if (other.key == key.key) {
      c.Problem(key_path, "repeats a key listed before");
      return;
    }
  }
  out.push_back(std::move(key));
}

void ParseKeys(JsonChecker& c, const Json& org, const std::string& prefix, const std::string& field,
               KeyKind kind, bool required, std::vector<DirectoryKey>& out) {
  const auto it = org.find(field);
  const std::string path = StrCat(prefix, field);
  if (it == org.end()) {
    if (required) c.Problem(path, "missing; this field is required");
    return;
  }
  if (it->is_array()) {
    if (it->empty() && required) c.Problem(path, "is an empty list");
    for (size_t i = 0; i < it->size(); ++i) {
      ParseKey(c, (*it)[i], StrCat(path, "[", i, "]"), kind, out);
    }
  } else {
    ParseKey(c, *it, path, kind, out);
  }
}

bool ValidEndpoint(std::string_view endpoint) {
  const size_t colon = endpoint.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == endpoint.size()) return false;
  const std::string_view port = endpoint.substr(colon + 1);
  if (port.size() > 5) return false;
  int value = 0;
  for (char ch : port) {
    if (ch < '0' || ch > '9') return false;
    value = value * 10 + (ch - '0');
  }
  if (value < 1 || value > 65535) return false;
  for (char ch : endpoint.substr(0, colon)) {
    if (ch <= 0x20 || ch >= 0x7f) return false;
  }
  return true;
}

void SetTime(google::protobuf::Timestamp* t, absl::Time time) { SetMillis(t, absl::ToUnixMillis(time)); }

void AddKeys(const std::vector<DirectoryKey>& keys,
             google::protobuf::RepeatedPtrField<v1::PublicKey>* out) {
  for (const DirectoryKey& k : keys) {
    v1::PublicKey* p = out->Add();
    p->set_key(std::string(k.key.begin(), k.key.end()));
    p->set_key_id(std::string(k.key_id.begin(), k.key_id.end()));
    if (k.valid_from) SetTime(p->mutable_valid_from(), *k.valid_from);
    if (k.valid_until) SetTime(p->mutable_valid_until(), *k.valid_until);
  }
}

}  // namespace

std::optional<v1::Domain> ParseDomain(std::string_view name) {
  for (v1::Domain d : {v1::DOMAIN_SAFETY, v1::DOMAIN_CARE, v1::DOMAIN_SOCIAL, v1::DOMAIN_HOUSING}) {
    if (DomainName(d) == name) return d;
  }
  return std::nullopt;
}

std::string_view DomainName(v1::Domain domain) {
  switch (domain) {
    case v1::DOMAIN_SAFETY: return "safety";
    case v1::DOMAIN_CARE: return "care";
    case v1::DOMAIN_SOCIAL: return "social";
    case v1::DOMAIN_HOUSING: return "housing";
    default: return "unspecified";
  }
}

std::string OrgUri(std::string_view org_id) { return StrCat(rpc::kOrgUriPrefix, org_id); }

bool DirectoryKey::ValidAt(absl::Time t) const {
  if (valid_from && t < *valid_from) return false;
  if (valid_until && t >= *valid_until) return false;
  return true;
}

absl::StatusOr<std::unique_ptr<Directory>> Directory::Parse(std::string_view text,
                                                            std::string_view source_name) {
  constexpr std::string_view kWhat = "directory";
  JsonChecker c;
  const std::optional<Json> parsed = c.Parse(text);
  if (!parsed.has_value()) return c.Refusal(source_name, kWhat);
  const Json* list = &*parsed;
  std::string prefix = "";
  if (parsed->is_object()) {
    c.NoUnknown(*parsed, "", {"organisations"});
    const auto it = parsed->find("organisations");
    if (it == parsed->end()) {
      c.Problem("organisations", "missing; this field is required (a list of organisations)");
      return c.Refusal(source_name, kWhat);
    }
    list = &*it;
    prefix = "organisations";
  }
  if (!list->is_array()) {
    c.Problem(prefix.empty() ? "(top level)" : prefix,
              StrCat("must be a list of organisations, not ", list->type_name()));
    return c.Refusal(source_name, kWhat);
  }

  std::unique_ptr<Directory> directory(new Directory());
  std::set<std::string> seen;
  for (size_t i = 0; i < list->size(); ++i) {
    const Json& o = (*list)[i];
    const std::string path = StrCat(prefix, "[", i, "]");
    const std::string p = StrCat(path, ".");
    if (!o.is_object()) {
      c.Problem(path, StrCat("must be an object, not ", o.type_name()));
      continue;
    }
    c.NoUnknown(o, p,
                {"org_id", "display_name", "domain", "certificate_identity", "endpoint",
                 "oprf_public_key", "signing_public_key", "box_public_key", "active",
                 "registered_at"});
    DirectoryOrg org;
    c.OrgId(o, p, "org_id", org.org_id);
    if (!org.org_id.empty() && !seen.insert(org.org_id).second) {
      c.Problem(StrCat(p, "org_id"), StrCat("\"", org.org_id, "\" is listed twice"));
    }
    if (const std::string* name = c.String(o, p, "display_name")) {
      if (name->size() > 200) {
        c.Problem(StrCat(p, "display_name"), StrCat(name->size(), " characters; at most 200"));
      }
      org.display_name = *name;
    }
    if (const std::string* domain = c.String(o, p, "domain")) {
      const std::optional<v1::Domain> d = ParseDomain(*domain);
      if (!d) {
        c.Problem(StrCat(p, "domain"), StrCat("\"", QuoteForMessage(*domain),
                                               "\" is not a domain; allowed: safety, care, social, housing"));
      } else {
        org.domain = *d;
      }
    }
    if (const std::string* identity = c.String(o, p, "certificate_identity", /*required=*/false)) {
      if (!org.org_id.empty() && *identity != OrgUri(org.org_id) && *identity != org.org_id) {
        c.Problem(StrCat(p, "certificate_identity"),
                  StrCat("must be \"", OrgUri(org.org_id), "\" (the URI SAN, the default) or \"",
                         org.org_id, "\" (URI SAN or common name)"));
      }
      org.certificate_identity = *identity;
    } else if (!org.org_id.empty()) {
      org.certificate_identity = OrgUri(org.org_id);
    }
    if (const std::string* endpoint = c.String(o, p, "endpoint", /*required=*/false)) {
      if (!ValidEndpoint(*endpoint)) {
        c.Problem(StrCat(p, "endpoint"), "must be host:port with a port from 1 to 65535");
      }
      org.endpoint = *endpoint;
    }
    ParseKeys(c, o, p, "oprf_public_key", KeyKind::kOprf, /*required=*/false, org.oprf_keys);
    ParseKeys(c, o, p, "signing_public_key", KeyKind::kSigning, /*required=*/true, org.signing_keys);
    ParseKeys(c, o, p, "box_public_key", KeyKind::kBox, /*required=*/false, org.box_keys);
    c.Bool(o, p, "active", org.active);
    if (const auto r = o.find("registered_at"); r != o.end()) {
      org.registered_at = ParseTime(c, *r, StrCat(p, "registered_at"));
    }
    if (!org.endpoint.empty() && !o.contains("oprf_public_key")) {
      c.Problem(StrCat(p, "oprf_public_key"),
                "missing: an organisation with an endpoint answers, so requesters need its OPRF key");
    }
    directory->orgs_.push_back(std::move(org));
  }
  if (!c.ok()) return c.Refusal(source_name, kWhat);
  std::sort(directory->orgs_.begin(), directory->orgs_.end(),
            [](const DirectoryOrg& a, const DirectoryOrg& b) { return a.org_id < b.org_id; });
  return directory;
}

absl::StatusOr<std::unique_ptr<Directory>> Directory::Load(const std::filesystem::path& path) {
  auto text = ReadConfigText(path, "directory");
  if (!text.ok()) return text.status();
  return Parse(*text, path.string());
}

const DirectoryOrg* Directory::Find(std::string_view org_id) const {
  const auto it = std::lower_bound(orgs_.begin(), orgs_.end(), org_id,
                                   [](const DirectoryOrg& o, std::string_view id) { return o.org_id < id; });
  return it != orgs_.end() && it->org_id == org_id ? &*it : nullptr;
}

const DirectoryOrg* Directory::FindActive(std::string_view org_id) const {
  const DirectoryOrg* org = Find(org_id);
  return org != nullptr && org->active ? org : nullptr;
}

absl::StatusOr<std::string> Directory::CallerOrg(const grpc::ServerContextBase& context) const {
  auto identity = rpc::PeerIdentityFrom(context);
  if (!identity.ok()) return identity.status();
  return CheckCaller(*identity);
}

absl::StatusOr<std::string> Directory::CheckCaller(const rpc::PeerIdentity& identity) const {
  const DirectoryOrg* org = FindActive(identity.org_id);
  if (org == nullptr) {
    return absl::UnauthenticatedError("certificate names no active organisation");
  }
  if (org->certificate_identity != org->org_id &&
      identity.source != rpc::PeerIdentity::Source::kUriSan) {
    return absl::UnauthenticatedError(
        StrCat("certificate names its organisation only by its common name; the directory "
               "expects the URI SAN ", org->certificate_identity));
  }
  return org->org_id;
}

absl::Status Directory::VerifyNodeSignature(std::string_view org_id, std::string_view context,
                                            const google::protobuf::Message& m,
                                            const v1::Signature& signature, absl::Time at) const {
  const DirectoryOrg* org = Find(org_id);
  if (org == nullptr) return absl::InvalidArgumentError("the organisation is not in the directory");
  for (const DirectoryKey& key : org->signing_keys) {
    if (signature.key_id().size() != key.key_id.size() ||
        !std::equal(key.key_id.begin(), key.key_id.end(), signature.key_id().begin(),
                    [](uint8_t a, char b) { return a == static_cast<uint8_t>(b); })) {
      continue;
    }
    if (!key.ValidAt(at)) {
      return absl::InvalidArgumentError("signed with a key that is not valid now");
    }
    auto verify_key = crypto::VerifyKey::FromBytes(key.key);
    if (!verify_key.ok()) return verify_key.status();
    return canonical::Verify(*verify_key, context, m, signature);
  }
  return absl::InvalidArgumentError("signed with a key the directory does not list for it");
}

v1::Organisation Directory::ToProto(const DirectoryOrg& org) const {
  v1::Organisation p;
  p.set_org_id(org.org_id);
  p.set_display_name(org.display_name);
  p.set_domain(org.domain);
  p.set_certificate_identity(org.certificate_identity);
  AddKeys(org.oprf_keys, p.mutable_oprf_keys());
  AddKeys(org.signing_keys, p.mutable_signing_keys());
  AddKeys(org.box_keys, p.mutable_box_keys());
  p.set_endpoint(org.endpoint);
  p.set_active(org.active);
  if (org.registered_at) SetTime(p.mutable_registered_at(), *org.registered_at);
  return p;
}

void Directory::RecordHistory(uint64_t version, const std::map<std::string, absl::Time>& first_seen) {
  version_ = version;
  for (DirectoryOrg& org : orgs_) {
    if (org.registered_at) continue;
    if (const auto it = first_seen.find(org.org_id); it != first_seen.end()) {
      org.registered_at = it->second;
    }
  }
}

absl::StatusOr<DirectoryChanges> CompareWithStored(const Directory& directory,
                                                   const store::KvStore& kv, absl::Time now) {
  DirectoryChanges changes;
  auto version = kv.Get(kDirVersionKey);
  if (!version.ok()) return version.status();
  uint64_t stored_version = 0;
  if (version->has_value()) {
    auto v = store::DecodeKeyU64(**version);
    if (!v.ok()) return absl::DataLossError("directory: the stored version is malformed");
    stored_version = *v;
  }
  auto rows = kv.Scan(kDirOrgPrefix, store::PrefixEnd(kDirOrgPrefix), 0);
  if (!rows.ok()) return rows.status();
  std::map<std::string, v1::Organisation> stored;
  for (const auto& [key, value] : *rows) {
    v1::Organisation o;
    if (!o.ParseFromString(value)) {
      return absl::DataLossError("directory: a stored organisation does not parse");
    }
    stored[key.substr(sizeof(kDirOrgPrefix) - 1)] = std::move(o);
  }
  const absl::Time now_ms = absl::FromUnixMillis(absl::ToUnixMillis(now));
  auto record = [&](v1::DirectoryChange change, const v1::Organisation& o) {
    v1::DirectoryRecord r;
    r.set_change(change);
    *r.mutable_organisation() = o;
    changes.records.push_back(std::move(r));
    changes.writes.Put(StrCat(kDirOrgPrefix, o.org_id()), DeterministicBytes(o));
  };
  for (const DirectoryOrg& org : directory.organisations()) {
    v1::Organisation now_proto = directory.ToProto(org);
    const auto it = stored.find(org.org_id);
    absl::Time first = now_ms;
    if (it != stored.end() && it->second.has_registered_at()) {
      first = absl::FromUnixMillis(ToMillis(it->second.registered_at()));
    }
    if (!org.registered_at) SetTime(now_proto.mutable_registered_at(), first);
    changes.first_seen[org.org_id] = first;
    if (it == stored.end()) {
      record(v1::DIRECTORY_CHANGE_REGISTERED, now_proto);
    } else if (DeterministicBytes(it->second) != DeterministicBytes(now_proto)) {
      record(it->second.active() && !now_proto.active() ? v1::DIRECTORY_CHANGE_DEACTIVATED
                                                        : v1::DIRECTORY_CHANGE_UPDATED,
             now_proto);
    }
  }
  // An organisation no longer in the file can no longer ask or answer: it is
  // recorded as deactivated, and kept (inactive) so its history stays.
  for (auto& [id, o] : stored) {
    if (directory.Find(id) == nullptr && o.active()) {
      o.set_active(false);
      record(v1::DIRECTORY_CHANGE_DEACTIVATED, o);
    }
  }
  changes.version = stored_version + changes.records.size();
  if (!changes.records.empty()) changes.writes.Put(kDirVersionKey, store::EncodeKeyU64(changes.version));
  return changes;
}

std::string PresentedIdentity(const grpc::ServerContextBase& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (auth == nullptr || !auth->IsPeerAuthenticated()) return "no client certificate";
  std::string uris, cn;
  for (const grpc::string_ref& v : auth->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
    if (!uris.empty()) uris += ",";
    uris += std::string(v.data(), v.size());
  }
  for (const grpc::string_ref& v : auth->FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    cn = std::string(v.data(), v.size());
    break;
  }
  std::string out = StrCat("uri=", uris.empty() ? "(none)" : uris, "; cn=", cn.empty() ? "(none)" : cn);
  std::string clean;
  for (char ch : out.substr(0, 200)) clean += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  return clean;
}

}  // namespace schakel::gateway
