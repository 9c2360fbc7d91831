// The node's users (node_admin.proto, Users): their ids, display names,
// roles, and credentials stored only as hashes.
//
// A credential is 32 random bytes, shown once as 43 characters of base64url
// without padding; the user presents it as "<user_id>.<secret>" (local.proto).
// The store keeps only BLAKE2b-256 of the secret, keyed with the node's
// credential secret (a 32-byte key the node keeps in its data directory,
// mode 0600; see nodes/node_secret.h). The credential is
// high-entropy, so a keyed fast hash is as good as a password hash here,
// and a stolen database without the key does not allow offline checks.
// Hashes are compared in constant time.
//
// A disabled user keeps its record (and credential hash, so that only the
// holder of the right credential learns that the user is disabled); its
// credential is refused at once.
//
// Every change (create, update, disable, new credential) is written in one
// atomic synced batch together with its USER_CHANGED record in the node's
// own log (LocalLog::AppendWith): no change without its record.
//
// Key layout: "usr/u/<user_id>" -> v1::User (serialized);
// "usr/h/<user_id>" -> the 32-byte credential hash, BLAKE2b-256 keyed with
// the credential key over user_id || 0x00 || the 32 secret bytes (binding
// the secret to its user).
//
// Ownership and thread safety: does not own the KvStore or the LocalLog
// (both must outlive it). Safe for concurrent use; changes are serialised
// by an internal mutex (the "last active admin" check needs it).
#ifndef SCHAKEL_NODES_USERS_H_
#define SCHAKEL_NODES_USERS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "crypto/secret.h"
#include "nodes/local_log.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/node_admin.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

// Characters of the secret part of a credential (base64url of 32 bytes).
inline constexpr size_t kCredentialSecretChars = 43;

// Who performs a change (for the log record); empty user_id for the node
// itself (bootstrap).
struct UserActor {
  std::string user_id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
};

// A user with the credential issued to it ("<user_id>.<secret>"). The
// credential is shown once; it is never stored or logged.
struct IssuedCredential {
  v1::User user;
  crypto::SecretBuffer credential;
  std::string_view credential_view() const {
    return {reinterpret_cast<const char*>(credential.data()), credential.size()};
  }
};

struct UserPage {
  std::vector<v1::User> users;
  std::string next_page_token;  // empty on the last page
};

// Valid user id (common.proto): 1 to 64 characters of [a-z0-9._-].
bool IsValidUserId(std::string_view user_id);

class UserStore {
 public:
  using Clock = std::function<int64_t()>;  // ms since the epoch

  // `credential_key` keys the credential hashes (32 bytes, secret).
  // Errors: INVALID_ARGUMENT for a null kv or log.
  static absl::StatusOr<std::unique_ptr<UserStore>> Create(store::KvStore* kv, LocalLog* log,
                                                           crypto::SecretBytes<32> credential_key,
                                                           Clock now_ms = {});

  UserStore(const UserStore&) = delete;
  UserStore& operator=(const UserStore&) = delete;

  // Creates a user and issues its first credential.
  // Errors: INVALID_ARGUMENT (bad user id, no role, ROLE_UNSPECIFIED or an
  // unknown role, a role twice, display name longer than 200 characters),
  // ALREADY_EXISTS, UNAVAILABLE / INTERNAL (nothing stored).
  absl::StatusOr<IssuedCredential> CreateUser(const UserActor& actor, std::string_view user_id,
                                              std::string_view display_name,
                                              std::vector<v1::Role> roles);

  // Errors: NOT_FOUND; DATA_LOSS; INTERNAL.
  absl::StatusOr<v1::User> GetUser(std::string_view user_id) const;

  // Whether any user exists (for the bootstrap).
  absl::StatusOr<bool> Empty() const;

  // By user id. Errors: INVALID_ARGUMENT (page_size above 1000, malformed
  // page token); DATA_LOSS; INTERNAL.
  absl::StatusOr<UserPage> ListUsers(bool include_disabled, size_t page_size,
                                     std::string_view page_token) const;

  // Sets display name and/or roles (nullopt: unchanged).
  // Errors: INVALID_ARGUMENT (as CreateUser), NOT_FOUND, FAILED_PRECONDITION
  // (it would leave no active admin), UNAVAILABLE / INTERNAL.
  absl::StatusOr<v1::User> UpdateUser(const UserActor& actor, std::string_view user_id,
                                      std::optional<std::string> display_name,
                                      std::optional<std::vector<v1::Role>> roles);

  // Errors: INVALID_ARGUMENT (empty reason or longer than 2,000
  // characters), NOT_FOUND, FAILED_PRECONDITION (already disabled; the last
  // active admin), UNAVAILABLE / INTERNAL.
  absl::StatusOr<v1::User> DisableUser(const UserActor& actor, std::string_view user_id,
                                       std::string_view reason);

  // Issues a new credential; the old one stops working at once.
  // Errors: NOT_FOUND, FAILED_PRECONDITION (disabled), UNAVAILABLE / INTERNAL.
  absl::StatusOr<IssuedCredential> RotateCredential(const UserActor& actor,
                                                    std::string_view user_id);

  // Checks "<user_id>.<secret>". Returns the user when the credential is
  // right and the user is active. Errors: UNAUTHENTICATED with a reason
  // that never contains the offered secret ("malformed credential",
  // "unknown user or wrong credential", "user is disabled"); INTERNAL /
  // DATA_LOSS from the store.
  absl::StatusOr<v1::User> Verify(std::string_view credential) const;

  // Records a successful call (last_seen_at), at most once a minute per
  // user, buffered (not synced; not logged). Errors are ignored by callers.
  absl::Status Touch(std::string_view user_id);

 private:
  UserStore(store::KvStore* kv, LocalLog* log, crypto::SecretBytes<32> key, Clock now_ms)
      : kv_(kv), log_(log), key_(std::move(key)), now_ms_(std::move(now_ms)) {}

  absl::StatusOr<std::optional<v1::User>> Read(std::string_view user_id) const;
  // Active users holding ROLE_ADMIN, other than `user_id`.
  absl::StatusOr<size_t> ActiveAdminsExcept(std::string_view user_id) const;
  // A new credential for `user`; its hash goes into `batch`.
  IssuedCredential Issue(const v1::User& user, store::WriteBatch& batch) const;
  // Writes `batch` with its USER_CHANGED record.
  absl::StatusOr<uint64_t> Record(const UserActor& actor, std::string detail,
                                  store::WriteBatch batch);

  store::KvStore* const kv_;
  LocalLog* const log_;
  const crypto::SecretBytes<32> key_;
  const Clock now_ms_;
  std::mutex mu_;  // serialises changes
  std::mutex touch_mu_;
  std::map<std::string, int64_t> last_touch_;  // guarded by touch_mu_
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_USERS_H_
