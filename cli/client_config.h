// The `schakel` client configuration: which node to talk to, how to trust
// it, and as whom (docs/cli.md, "Configuration").
//
// A JSON file, by default ~/.config/schakel/cli.json:
//
//   {"endpoint": "127.0.0.1:7443",      the node's local listener
//    "ca": "ca.pem",                    CA certificate(s) of that listener
//    "server_name": "politie",          optional: the name its certificate
//                                       carries when not the endpoint's host
//    "credential_file": "admin.cred",   "<user_id>.<secret>", mode 0600
//    "role": "analyst"}                 optional: the role to act in
//
// Relative paths are relative to the config file's directory. Unknown keys
// are refused (a typo would otherwise be ignored silently). Which file:
// --config, else $SCHAKEL_CONFIG, else $XDG_CONFIG_HOME/schakel/cli.json,
// else $HOME/.config/schakel/cli.json. Flags override single settings; when
// the flags give endpoint, ca and credential_file, no file is needed, and a
// default file that does not exist is then not an error.
//
// The credential file holds the credential issued by `schakel users create`
// (Users.CreateUser): one line "<user_id>.<secret>". It is read with
// crypto/checked_file.h: no symbolic link, a regular file, no access for
// group or others. The secret is kept in wiping storage and never printed:
// messages name the file, never its content.
//
// Errors (every message names the file and what is wrong; the CLI exits with
// ExitCode::kConfigError): NOT_FOUND (no such file), PERMISSION_DENIED
// (unreadable), FAILED_PRECONDITION (mode, symlink, not a regular file),
// INVALID_ARGUMENT (not JSON, a missing or unknown key, a value of the wrong
// type, a malformed credential).
//
// Thread safety: free functions are reentrant; a Credential is immutable
// after loading.
#ifndef SCHAKEL_CLI_CLIENT_CONFIG_H_
#define SCHAKEL_CLI_CLIENT_CONFIG_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "cli/command_context.h"
#include "crypto/secret.h"

namespace schakel::cli {

struct ClientConfig {
  // "host:port" of the node's local listener.
  std::string endpoint;
  // PEM CA certificate(s) the node's local certificate must chain to.
  std::filesystem::path ca;
  // Name the node's certificate must carry instead of the endpoint's host;
  // empty for the host itself.
  std::string server_name;
  // The credential file.
  std::filesystem::path credential_file;
  // Role to act in, as a short name ("analyst"); empty lets the node choose.
  std::string role;
  // The config file read; empty when the flags gave everything.
  std::filesystem::path source;
};

// What the command line says; empty strings are "not given".
struct ConfigOverrides {
  std::string config_file;
  std::string endpoint;
  std::string ca;
  std::string server_name;
  std::string credential_file;
  std::string role;
};

// The config file to read: overrides.config_file, $SCHAKEL_CONFIG,
// $XDG_CONFIG_HOME/schakel/cli.json or $HOME/.config/schakel/cli.json (the
// first that is set). Empty when none can be named (no HOME).
std::filesystem::path ConfigPath(const ConfigOverrides& overrides, const Environment& environment);

// Parses a config file's text; `source` names it in messages and anchors
// relative paths. Missing required keys are not checked here (flags may
// supply them): see LoadClientConfig.
absl::StatusOr<ClientConfig> ParseClientConfig(std::string_view json,
                                               const std::filesystem::path& source);

// Reads the config file (see the top of this file), applies the overrides,
// checks that endpoint, ca and credential_file are known and that role is a
// role name. Does not read the CA or credential file.
absl::StatusOr<ClientConfig> LoadClientConfig(const ConfigOverrides& overrides,
                                              const Environment& environment);

// A user's credential for the node's local API. Move-only; the secret is
// wiped on destruction.
class Credential {
 public:
  Credential(Credential&&) = default;
  Credential& operator=(Credential&&) = default;

  // The user id part (not secret: it is logged everywhere).
  const std::string& user_id() const { return user_id_; }
  // The value of the "authorization" metadata: "Bearer <user_id>.<secret>".
  // Returned by value because gRPC copies it anyway; callers do not keep it.
  std::string AuthorizationValue() const;

  // Parses "<user_id>.<secret>" (trailing white space and one final newline
  // allowed). `named` names the source in messages. user_id: 1 to 64 of
  // [a-z0-9._-]; secret: 1 to 256 of [A-Za-z0-9_-] (base64url).
  static absl::StatusOr<Credential> Parse(std::string_view text, std::string_view named);

 private:
  Credential(std::string user_id, crypto::SecretBuffer bearer)
      : user_id_(std::move(user_id)), bearer_(std::move(bearer)) {}

  std::string user_id_;
  crypto::SecretBuffer bearer_;
};

// Reads and parses a credential file (mode 0600, see the top of this file).
absl::StatusOr<Credential> LoadCredential(const std::filesystem::path& path);

// A new credential file, created (mode 0600, O_EXCL) before the credential
// exists, so that `users create` never makes a user whose credential it then
// cannot store. Move-only; an unwritten file is removed on destruction.
class NewCredentialFile {
 public:
  // Errors: ALREADY_EXISTS (never overwrites a credential), NOT_FOUND (no
  // such directory), others by errno; each names the file.
  static absl::StatusOr<NewCredentialFile> Create(const std::filesystem::path& path);

  NewCredentialFile(NewCredentialFile&& other) noexcept;
  NewCredentialFile& operator=(NewCredentialFile&&) = delete;
  NewCredentialFile(const NewCredentialFile&) = delete;
  NewCredentialFile& operator=(const NewCredentialFile&) = delete;
  ~NewCredentialFile();

  // Writes "<credential>\n", syncs and closes. After a failure the file is
  // removed. Call once.
  absl::Status Write(std::string_view credential);

  const std::filesystem::path& path() const { return path_; }

 private:
  NewCredentialFile(std::filesystem::path path, int fd) : path_(std::move(path)), fd_(fd) {}

  std::filesystem::path path_;
  int fd_ = -1;
  bool written_ = false;
};

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_CLIENT_CONFIG_H_
