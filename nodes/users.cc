#include "nodes/users.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <set>

#include "common/strings.h"
#include "common/utf8.h"
#include "crypto/bytes.h"
#include "crypto/random.h"
#include "nodes/node_secret.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kUserPrefix = "usr/u/";
constexpr std::string_view kHashPrefix = "usr/h/";
constexpr size_t kMaxDisplayNameChars = 200;
constexpr size_t kMaxReasonChars = 2000;
constexpr size_t kDefaultPageSize = 100;
constexpr size_t kMaxPageSize = 1000;
constexpr int64_t kTouchIntervalMs = 60'000;

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string UserKey(std::string_view id) { return StrCat(kUserPrefix, id); }
std::string HashKey(std::string_view id) { return StrCat(kHashPrefix, id); }

void SetMs(int64_t ms, google::protobuf::Timestamp* out) {
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
}

std::string RoleList(const google::protobuf::RepeatedField<int>& roles) {
  std::string out;
  for (int r : roles) {
    std::string name = v1::Role_Name(static_cast<v1::Role>(r));
    if (name.starts_with("ROLE_")) name = name.substr(5);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](char c) { return static_cast<char>(std::tolower(c)); });
    out += StrCat(out.empty() ? "" : ",", name);
  }
  return out;
}

// Checks and sorts (Role order) a role list; problems go to `problems`.
void CheckRoles(std::vector<v1::Role>& roles, std::vector<std::string>& problems) {
  if (roles.empty()) {
    problems.push_back("roles: a user needs at least one role");
    return;
  }
  std::set<v1::Role> seen;
  for (size_t i = 0; i < roles.size(); ++i) {
    if (roles[i] == v1::ROLE_UNSPECIFIED || !v1::Role_IsValid(roles[i])) {
      problems.push_back(StrCat("roles[", i,
                                "]: not a role (professional, analyst, approver, "
                                "director, auditor, admin)"));
    } else if (!seen.insert(roles[i]).second) {
      problems.push_back(StrCat("roles[", i, "]: named twice"));
    }
  }
  std::sort(roles.begin(), roles.end());
}

absl::Status Problems(const std::vector<std::string>& problems) {
  std::string message;
  for (const std::string& p : problems) message += StrCat(message.empty() ? "" : "; ", p);
  return absl::InvalidArgumentError(message);
}

bool HoldsAdmin(const v1::User& user) {
  return !user.disabled() &&
         std::find(user.roles().begin(), user.roles().end(), v1::ROLE_ADMIN) != user.roles().end();
}

// The credential hash binds the user id: a secret issued to one user is
// worth nothing under another id.
std::string CredentialHash(const crypto::SecretBytes<32>& key, std::string_view user_id,
                           std::span<const uint8_t, 32> secret) {
  crypto::Bytes input;
  input.reserve(user_id.size() + 1 + 32);
  crypto::Append(input, user_id);
  input.push_back(0);
  input.insert(input.end(), secret.begin(), secret.end());
  const crypto::Blake2b256Digest d = KeyedBlake2b256(key, input);
  sodium_memzero(input.data(), input.size());
  return std::string(reinterpret_cast<const char*>(d.data()), d.size());
}

}  // namespace

bool IsValidUserId(std::string_view user_id) {
  if (user_id.empty() || user_id.size() > 64) return false;
  return std::all_of(user_id.begin(), user_id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

absl::StatusOr<std::unique_ptr<UserStore>> UserStore::Create(store::KvStore* kv, LocalLog* log,
                                                             crypto::SecretBytes<32> credential_key,
                                                             Clock now_ms) {
  if (kv == nullptr || log == nullptr) {
    return absl::InvalidArgumentError("user store: kv store and log are required");
  }
  return std::unique_ptr<UserStore>(new UserStore(kv, log, std::move(credential_key),
                                                  now_ms ? std::move(now_ms) : Clock(SystemNowMs)));
}

absl::StatusOr<std::optional<v1::User>> UserStore::Read(std::string_view user_id) const {
  auto value = kv_->Get(UserKey(user_id));
  if (!value.ok()) return value.status();
  if (!value->has_value()) return std::optional<v1::User>();
  v1::User user;
  if (!user.ParseFromString(**value)) {
    return absl::DataLossError("user store: a stored user record does not parse");
  }
  return std::optional<v1::User>(std::move(user));
}

absl::StatusOr<v1::User> UserStore::GetUser(std::string_view user_id) const {
  auto user = Read(user_id);
  if (!user.ok()) return user.status();
  if (!user->has_value()) return absl::NotFoundError("user_id: no such user");
  return **user;
}

absl::StatusOr<bool> UserStore::Empty() const {
  auto rows = kv_->Scan(kUserPrefix, store::PrefixEnd(kUserPrefix), 1);
  if (!rows.ok()) return rows.status();
  return rows->empty();
}

absl::StatusOr<size_t> UserStore::ActiveAdminsExcept(std::string_view user_id) const {
  auto rows = kv_->Scan(kUserPrefix, store::PrefixEnd(kUserPrefix));
  if (!rows.ok()) return rows.status();
  size_t admins = 0;
  for (const auto& [key, value] : *rows) {
    v1::User user;
    if (!user.ParseFromString(value)) {
      return absl::DataLossError("user store: a stored user record does not parse");
    }
    if (user.user_id() != user_id && HoldsAdmin(user)) ++admins;
  }
  return admins;
}

IssuedCredential UserStore::Issue(const v1::User& user, store::WriteBatch& batch) const {
  crypto::SecretBytes<32> secret;
  crypto::RandomBytes(secret.mutable_bytes());
  batch.Put(HashKey(user.user_id()), CredentialHash(key_, user.user_id(), secret.bytes()));
  IssuedCredential issued;
  issued.user = user;
  // "<user_id>." followed by 43 characters of base64url (and sodium's NUL,
  // cut off below).
  issued.credential = crypto::SecretBuffer(user.user_id().size() + 1 + kCredentialSecretChars + 1);
  char* out = reinterpret_cast<char*>(issued.credential.data());
  std::copy(user.user_id().begin(), user.user_id().end(), out);
  out[user.user_id().size()] = '.';
  sodium_bin2base64(out + user.user_id().size() + 1, kCredentialSecretChars + 1, secret.data(),
                    secret.size(), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  issued.credential.Resize(issued.credential.size() - 1);
  return issued;
}

absl::StatusOr<uint64_t> UserStore::Record(const UserActor& actor, std::string detail,
                                           store::WriteBatch batch) {
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_USER_CHANGED);
  record.set_user_id(actor.user_id);
  record.set_role(actor.role);
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(std::move(detail));
  return log_->AppendWith(std::move(record), std::move(batch));
}

absl::StatusOr<IssuedCredential> UserStore::CreateUser(const UserActor& actor,
                                                       std::string_view user_id,
                                                       std::string_view display_name,
                                                       std::vector<v1::Role> roles) {
  std::vector<std::string> problems;
  if (!IsValidUserId(user_id)) {
    problems.push_back("user_id: must be 1 to 64 characters of a-z, 0-9, '.', '_', '-'");
  }
  if (Utf8Chars(display_name) > kMaxDisplayNameChars) {
    problems.push_back(StrCat("display_name: longer than ", kMaxDisplayNameChars, " characters"));
  }
  CheckRoles(roles, problems);
  if (!problems.empty()) return Problems(problems);

  std::lock_guard<std::mutex> lock(mu_);
  auto existing = Read(user_id);
  if (!existing.ok()) return existing.status();
  if (existing->has_value()) return absl::AlreadyExistsError("user_id: already taken");
  const int64_t now = now_ms_();
  v1::User user;
  user.set_user_id(std::string(user_id));
  user.set_display_name(std::string(display_name));
  for (v1::Role r : roles) user.add_roles(r);
  SetMs(now, user.mutable_created_at());
  SetMs(now, user.mutable_credential_issued_at());
  store::WriteBatch batch;
  batch.Put(UserKey(user_id), user.SerializeAsString());
  IssuedCredential issued = Issue(user, batch);
  auto logged =
      Record(actor, StrCat("user ", user_id, " created with roles ", RoleList(user.roles())),
             std::move(batch));
  if (!logged.ok()) return logged.status();
  return issued;
}

absl::StatusOr<UserPage> UserStore::ListUsers(bool include_disabled, size_t page_size,
                                              std::string_view page_token) const {
  if (page_size == 0) page_size = kDefaultPageSize;
  if (page_size > kMaxPageSize) {
    return absl::InvalidArgumentError(StrCat("page_size: at most ", kMaxPageSize));
  }
  std::string begin(kUserPrefix);
  if (!page_token.empty()) {
    auto after = crypto::FromHex(page_token, "page_token");
    if (!after.ok() || after->empty() ||
        !IsValidUserId(
            std::string_view(reinterpret_cast<const char*>(after->data()), after->size()))) {
      return absl::InvalidArgumentError("page_token: malformed");
    }
    begin += std::string(after->begin(), after->end());
    begin.push_back('\0');
  }
  UserPage page;
  while (page.users.size() < page_size) {
    auto rows = kv_->Scan(begin, store::PrefixEnd(kUserPrefix), kMaxPageSize);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      begin = key + std::string(1, '\0');
      v1::User user;
      if (!user.ParseFromString(value)) {
        return absl::DataLossError("user store: a stored user record does not parse");
      }
      if (user.disabled() && !include_disabled) continue;
      if (page.users.size() == page_size) {
        // One more exists: the page is full.
        page.next_page_token = crypto::ToHex(crypto::AsBytes(page.users.back().user_id()));
        return page;
      }
      page.users.push_back(std::move(user));
    }
    if (rows->size() < kMaxPageSize) break;
  }
  if (page.users.size() == page_size) {
    // Is there anything after the last one?
    auto more = kv_->Scan(begin, store::PrefixEnd(kUserPrefix), 0);
    if (!more.ok()) return more.status();
    for (const auto& [key, value] : *more) {
      v1::User user;
      if (user.ParseFromString(value) && (include_disabled || !user.disabled())) {
        page.next_page_token = crypto::ToHex(crypto::AsBytes(page.users.back().user_id()));
        break;
      }
    }
  }
  return page;
}

absl::StatusOr<v1::User> UserStore::UpdateUser(const UserActor& actor, std::string_view user_id,
                                               std::optional<std::string> display_name,
                                               std::optional<std::vector<v1::Role>> roles) {
  std::vector<std::string> problems;
  if (display_name && Utf8Chars(*display_name) > kMaxDisplayNameChars) {
    problems.push_back(
        StrCat("user.display_name: longer than ", kMaxDisplayNameChars, " characters"));
  }
  if (roles) {
    std::vector<std::string> role_problems;
    CheckRoles(*roles, role_problems);
    for (const std::string& p : role_problems) problems.push_back(StrCat("user.", p));
  }
  if (!problems.empty()) return Problems(problems);

  std::lock_guard<std::mutex> lock(mu_);
  auto stored = Read(user_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("user.user_id: no such user");
  v1::User user = **stored;
  std::string detail = StrCat("user ", user_id, " changed:");
  if (display_name) {
    user.set_display_name(*display_name);
    detail += " display_name";
  }
  if (roles) {
    user.clear_roles();
    for (v1::Role r : *roles) user.add_roles(r);
    detail += StrCat(" roles ", RoleList((*stored)->roles()), " -> ", RoleList(user.roles()));
    if (HoldsAdmin(**stored) && !HoldsAdmin(user)) {
      auto others = ActiveAdminsExcept(user_id);
      if (!others.ok()) return others.status();
      if (*others == 0) {
        return absl::FailedPreconditionError(
            "user.roles: this would leave the node without an active admin");
      }
    }
  }
  store::WriteBatch batch;
  batch.Put(UserKey(user_id), user.SerializeAsString());
  auto logged = Record(actor, std::move(detail), std::move(batch));
  if (!logged.ok()) return logged.status();
  return user;
}

absl::StatusOr<v1::User> UserStore::DisableUser(const UserActor& actor, std::string_view user_id,
                                                std::string_view reason) {
  if (reason.empty() || Utf8Chars(reason) > kMaxReasonChars) {
    return absl::InvalidArgumentError(
        StrCat("reason: must be 1 to ", kMaxReasonChars, " characters"));
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto stored = Read(user_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("user_id: no such user");
  v1::User user = **stored;
  if (user.disabled()) return absl::FailedPreconditionError("user_id: already disabled");
  if (HoldsAdmin(user)) {
    auto others = ActiveAdminsExcept(user_id);
    if (!others.ok()) return others.status();
    if (*others == 0) {
      return absl::FailedPreconditionError("user_id: the last active admin cannot be disabled");
    }
  }
  user.set_disabled(true);
  store::WriteBatch batch;
  batch.Put(UserKey(user_id), user.SerializeAsString());
  auto logged = Record(actor, StrCat("user ", user_id, " disabled: ", reason), std::move(batch));
  if (!logged.ok()) return logged.status();
  return user;
}

absl::StatusOr<IssuedCredential> UserStore::RotateCredential(const UserActor& actor,
                                                             std::string_view user_id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto stored = Read(user_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::NotFoundError("user_id: no such user");
  v1::User user = **stored;
  if (user.disabled()) {
    return absl::FailedPreconditionError("user_id: the user is disabled");
  }
  SetMs(now_ms_(), user.mutable_credential_issued_at());
  store::WriteBatch batch;
  batch.Put(UserKey(user_id), user.SerializeAsString());
  IssuedCredential issued = Issue(user, batch);
  auto logged = Record(actor, StrCat("user ", user_id, " got a new credential"), std::move(batch));
  if (!logged.ok()) return logged.status();
  return issued;
}

absl::StatusOr<v1::User> UserStore::Verify(std::string_view credential) const {
  const size_t dot = credential.rfind('.');
  if (dot == std::string_view::npos || dot == 0 ||
      credential.size() - dot - 1 != kCredentialSecretChars ||
      !IsValidUserId(credential.substr(0, dot))) {
    return absl::UnauthenticatedError(
        "malformed credential; expected \"<user_id>.<secret>\" as issued by CreateUser or "
        "RotateCredential");
  }
  const std::string_view user_id = credential.substr(0, dot);
  const std::string_view encoded = credential.substr(dot + 1);
  crypto::SecretBytes<32> secret;
  size_t decoded = 0;
  if (sodium_base642bin(secret.data(), secret.size(), encoded.data(), encoded.size(), nullptr,
                        &decoded, nullptr, sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
      decoded != 32) {
    return absl::UnauthenticatedError("malformed credential: the secret is not base64url");
  }
  const std::string offered = CredentialHash(key_, user_id, secret.bytes());
  auto stored_hash = kv_->Get(HashKey(user_id));
  if (!stored_hash.ok()) return stored_hash.status();
  auto user = Read(user_id);
  if (!user.ok()) return user.status();
  const bool matches =
      stored_hash->has_value() &&
      crypto::ConstantTimeEquals(crypto::AsBytes(**stored_hash), crypto::AsBytes(offered));
  if (!user->has_value() || !matches) {
    return absl::UnauthenticatedError("unknown user or wrong credential");
  }
  // Said only to the holder of the right credential.
  if ((*user)->disabled()) return absl::UnauthenticatedError("user is disabled");
  return **user;
}

absl::Status UserStore::Touch(std::string_view user_id) {
  const int64_t now = now_ms_();
  {
    std::lock_guard<std::mutex> lock(touch_mu_);
    auto it = last_touch_.find(std::string(user_id));
    if (it != last_touch_.end() && now - it->second < kTouchIntervalMs) return absl::OkStatus();
    last_touch_[std::string(user_id)] = now;
  }
  std::lock_guard<std::mutex> lock(mu_);
  auto stored = Read(user_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return absl::OkStatus();
  v1::User user = **stored;
  SetMs(now, user.mutable_last_seen_at());
  store::WriteBatch batch;
  batch.Put(UserKey(user_id), user.SerializeAsString());
  return kv_->Write(batch, store::Durability::kBuffered);
}

}  // namespace schakel::nodes
