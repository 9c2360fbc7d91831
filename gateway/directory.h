// The gateway's directory of partner organisations (directory.proto): who
// takes part, how to reach each node, which certificate identity and which
// public keys are theirs. Public information; no identifiers of persons.
//
// The directory comes from a JSON file (comments allowed) that
// docs/gateway-config.md describes; deploy/examples/directory.json is an
// example:
//
//   { "organisations": [
//       { "org_id": "politie-zwb",
//         "display_name": "Politie, eenheid Zeeland-West-Brabant",
//         "domain": "safety",                     // safety, care, social, housing
//         "endpoint": "politie.example:8443",     // optional: none = cannot answer
//         "oprf_public_key": "<64 hex>",          // or a list; optional
//         "signing_public_key": "<64 hex>",       // or a list
//         "box_public_key": "<64 hex>",           // or a list; optional
//         "certificate_identity": "schakel://org/politie-zwb",  // optional
//         "active": true,                         // optional, default true
//         "registered_at": "2025-01-01T00:00:00Z" // optional
//       } ] }
//
// A key may also be an object {"key": "<hex>", "valid_from": "<RFC 3339>",
// "valid_until": "<RFC 3339>"} (during a rotation). OPRF keys must be
// canonical non-identity ristretto255 elements, signing keys valid Ed25519
// keys, box keys 32 bytes. certificate_identity is the URI SAN
// "schakel://org/<org_id>" (the default: the caller's certificate must carry
// it) or the bare "<org_id>" (the certificate may name it by URI SAN or by
// common name; rpc/identity.h). Loading refuses a file with EVERY problem
// named, one "<json path>: <problem>" per line.
//
// Caller identity: CallerOrg maps a call to the organisation its verified
// client certificate names (rpc::PeerIdentityFrom), which must be an active
// organisation of the directory; anything else is UNAUTHENTICATED
// "certificate names no active organisation". Every gateway service uses it
// before anything else; request fields never name the caller.
//
// Ownership and thread safety: a Directory is immutable once
// RecordHistory has been called (before it is shared); its const methods may
// be called from any number of threads at once. The gateway shares the
// directory in force as a std::shared_ptr<const Directory> that a reload
// replaces (directory_in_force.h); services take one snapshot per call
// (CurrentDirectory) and keep it for the whole call, so pointers into it
// (DirectoryOrg*) stay valid while they use them.
#ifndef SCHAKEL_GATEWAY_DIRECTORY_H_
#define SCHAKEL_GATEWAY_DIRECTORY_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <grpcpp/server_context.h>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/bytes.h"
#include "rpc/identity.h"
#include "schakel/v1/directory.pb.h"
#include "schakel/v1/log.pb.h"
#include "schakel/v1/signing.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

// One public key of an organisation, with its validity.
struct DirectoryKey {
  crypto::Bytes key;  // 32 bytes
  crypto::Bytes key_id;  // first 8 bytes of BLAKE2b-256(key)
  std::optional<absl::Time> valid_from;   // none: since registration
  std::optional<absl::Time> valid_until;  // none: no end

  bool ValidAt(absl::Time t) const;
};

// One organisation as the directory file states it.
struct DirectoryOrg {
  std::string org_id;
  std::string display_name;
  v1::Domain domain = v1::DOMAIN_UNSPECIFIED;
  // "schakel://org/<org_id>" or "<org_id>" (see the top of this file).
  std::string certificate_identity;
  std::vector<DirectoryKey> oprf_keys;
  std::vector<DirectoryKey> signing_keys;
  std::vector<DirectoryKey> box_keys;
  std::string endpoint;  // "host:port"; empty: it cannot answer
  bool active = true;
  std::optional<absl::Time> registered_at;  // from the file, or first seen (RecordHistory)
};

class Directory {
 public:
  // Parses and checks a directory text. Errors: INVALID_ARGUMENT
  // "<source>: directory refused, N problem(s):" and one line per problem
  // (JSON syntax, a missing, unknown or repeated field, a repeated org id,
  // an invalid org id, domain, endpoint, key, time or certificate identity).
  static absl::StatusOr<std::unique_ptr<Directory>> Parse(std::string_view text,
                                                          std::string_view source_name);
  // Reads a file and parses it. Errors: as ReadConfigText and Parse.
  static absl::StatusOr<std::unique_ptr<Directory>> Load(const std::filesystem::path& path);

  // Every organisation, ordered by org_id (the "directory order").
  const std::vector<DirectoryOrg>& organisations() const { return orgs_; }
  // The organisation with this id (active or not), or nullptr.
  const DirectoryOrg* Find(std::string_view org_id) const;
  // The organisation with this id when it is active, else nullptr.
  const DirectoryOrg* FindActive(std::string_view org_id) const;

  // The calling organisation of a gRPC call: the org id of its verified
  // client certificate, which must be an active organisation here whose
  // certificate_identity it satisfies. Errors: UNAUTHENTICATED, with
  // "certificate names no active organisation" when the certificate is
  // valid but its organisation is not (active) in the directory.
  absl::StatusOr<std::string> CallerOrg(const grpc::ServerContextBase& context) const;
  // The same check for an identity already read (tests, other transports).
  absl::StatusOr<std::string> CheckCaller(const rpc::PeerIdentity& identity) const;

  // Checks a node's signature over SM(context, m) with one of `org_id`'s
  // signing keys (by key id) valid at `at`. Errors: INVALID_ARGUMENT naming
  // the problem (unknown organisation, no key with that id, key not valid
  // then, signature does not verify).
  absl::Status VerifyNodeSignature(std::string_view org_id, std::string_view context,
                                   const google::protobuf::Message& m,
                                   const v1::Signature& signature, absl::Time at) const;

  // The organisation as the API shows it (directory.proto).
  v1::Organisation ToProto(const DirectoryOrg& org) const;

  // Increases by one with every change of the directory as the gateway
  // records it (RecordHistory); 0 before.
  uint64_t version() const { return version_; }

  // What the gateway's store knew of earlier directories. Call once, before
  // the directory is shared: sets version() and fills registered_at where
  // the file gave none.
  void RecordHistory(uint64_t version, const std::map<std::string, absl::Time>& first_seen);

 private:
  Directory() = default;
  std::vector<DirectoryOrg> orgs_;  // by org_id
  uint64_t version_ = 0;
};

// What a service reads the directory in force from, once per call
// (DirectoryInForce::current in the gateway); never returns null; callable
// from any thread.
using CurrentDirectory = std::function<std::shared_ptr<const Directory>()>;

// Changes between the directory in the store and `directory` (the one just
// loaded), as the gateway records them at start: one DirectoryRecord per
// organisation added (REGISTERED), changed (UPDATED) or deactivated
// (DEACTIVATED); the stored directory version and first-seen times; and the
// store writes that make `directory` the stored one (to be written with the
// log entries). Storage: "dir/v" -> version (8 bytes BE), "dir/o/<org_id>"
// -> Organisation (wire format, deterministic).
struct DirectoryChanges {
  std::vector<v1::DirectoryRecord> records;
  uint64_t version = 0;  // after the changes
  std::map<std::string, absl::Time> first_seen;
  store::WriteBatch writes;
};
absl::StatusOr<DirectoryChanges> CompareWithStored(const Directory& directory,
                                                   const store::KvStore& kv, absl::Time now);

// The certificate identity of `org_id` in URI form: "schakel://org/<org_id>".
std::string OrgUri(std::string_view org_id);

// What a caller's certificate presented, for the log when it names no
// active organisation: "uri=<URI SANs>; cn=<common name>", printable ASCII,
// at most 200 characters; "no client certificate" when there is none.
std::string PresentedIdentity(const grpc::ServerContextBase& context);

// "safety", "care", "social", "housing"; "unspecified" otherwise.
std::string_view DomainName(v1::Domain domain);
// The domain named by DomainName, or nullopt (also for "unspecified").
std::optional<v1::Domain> ParseDomain(std::string_view name);

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_DIRECTORY_H_
