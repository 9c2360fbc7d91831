// The CLI's connection to the user's own node: its local API over TLS, with
// the user's credential on every call (local.proto, "Authentication").
//
// Every command that talks to the node takes the same flags
// (AddConnectionFlags: --config, --endpoint, --ca, --server-name,
// --credential-file, --role, --timeout), opens a NodeConnection, makes its
// calls with contexts from NewCall (deadline, "authorization: Bearer
// <user_id>.<secret>", "x-schakel-role: <role>" when a role is set), and
// hands any failed call to Fail, which prints one clear error and records
// the exit code:
//
//   node not reachable / TLS failure    4  "cannot reach the node at X: ...;
//                                           is schakel-node running?"
//   UNAVAILABLE from the node itself     4  (e.g. the gateway is unreachable)
//   DEADLINE_EXCEEDED                    4
//   UNAUTHENTICATED                      6  "the node refused the credential
//                                           in F"
//   PERMISSION_DENIED                    6  names the role(s) needed
//   RESOURCE_EXHAUSTED                   6  with when to retry, if known
//   INVALID_ARGUMENT                     3  every FieldProblem listed
//   NOT_FOUND, ALREADY_EXISTS, ABORTED,  7
//   FAILED_PRECONDITION
//   anything else                        1
//
// The secret is never printed; messages come from the node (which never
// puts identifiers in them) or name the config and credential files.
//
// Ownership and thread safety: a NodeConnection owns its channel and the
// credential; NewCall may be used from several threads (a streaming call's
// reader thread), Fail from one.
#ifndef SCHAKEL_CLI_CONNECTION_H_
#define SCHAKEL_CLI_CONNECTION_H_

#include <CLI/CLI.hpp>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "cli/client_config.h"
#include "cli/command_context.h"

namespace schakel::cli {

// Default deadlines: a single request, and work that streams many items (an
// import, a long list, a chain verification). --timeout overrides both.
inline constexpr std::chrono::seconds kCallTimeout{30};
inline constexpr std::chrono::seconds kMatchTimeout{300};
inline constexpr std::chrono::seconds kStreamTimeout{3600};

// The flags of every command that talks to the node.
struct ConnectionFlags {
  ConfigOverrides config;
  // Seconds a call may take; 0 means the command's own default.
  double timeout_seconds = 0;
};

// Adds the connection flags to `command` (in their own "Connection" group of
// the help text). `flags` must outlive the command's parsing. Without
// `with_role` there is no --role flag (for `users create`, whose --role
// names the new user's roles; the acting role then comes from the config or
// the node's choice).
void AddConnectionFlags(CLI::App& command, ConnectionFlags& flags, bool with_role = true);

// What a call was for, in messages: "list signals", and the roles the node
// accepts for it ("professional or admin"), named on PERMISSION_DENIED.
struct CallInfo {
  CallInfo(std::string action_text, std::string roles_text,
           std::function<std::string(const std::string&)> rename = nullptr)
      : action(std::move(action_text)),
        roles(std::move(roles_text)),
        field_name(std::move(rename)) {}

  std::string action;
  std::string roles;
  // Renames a field path of the node's FieldProblems for the user, e.g.
  // "subjects[2].subject.bsn" -> "line 4 of subjects.csv: bsn"; unset keeps
  // the path.
  std::function<std::string(const std::string&)> field_name;
};

class NodeConnection {
 public:
  // Loads the config and the credential, reads the CA certificate(s) and
  // makes the channel (which connects lazily, on the first call). On any
  // problem prints it to `context` with ExitCode::kConfigError and returns
  // nullopt.
  static std::optional<NodeConnection> Open(const ConnectionFlags& flags,
                                            CommandContext& context);

  NodeConnection(NodeConnection&&) = default;
  NodeConnection& operator=(NodeConnection&&) = default;

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  // A client of `Service` (a generated gRPC service) over this connection,
  // e.g. connection->Client<schakel::v1::Signals>().
  template <typename Service>
  auto Client() const {
    return Service::NewStub(channel_);
  }
  const ClientConfig& config() const { return config_; }
  const std::string& user_id() const { return credential_.user_id(); }

  // A context for one call, with the deadline (--timeout, else
  // `default_timeout`) and the metadata above.
  std::unique_ptr<grpc::ClientContext> NewCall(std::chrono::seconds default_timeout) const;

  // Prints what went wrong with a call made for `call` (see the table at the
  // top of this file) and records the exit code. `status` must not be OK.
  void Fail(const grpc::Status& status, const CallInfo& call, CommandContext& context) const;

 private:
  NodeConnection(ClientConfig config, Credential credential,
                 std::shared_ptr<grpc::Channel> channel, double timeout_seconds)
      : config_(std::move(config)),
        credential_(std::move(credential)),
        channel_(std::move(channel)),
        timeout_seconds_(timeout_seconds) {}

  std::chrono::milliseconds Timeout(std::chrono::seconds default_timeout) const;

  ClientConfig config_;
  Credential credential_;
  std::shared_ptr<grpc::Channel> channel_;
  double timeout_seconds_ = 0;
};

// The ErrorDetail's field problems of a failed call, one per line as
// "  <field>: <problem> (allowed: <allowed>)", the field renamed by
// `field_name` when set; empty when there are none.
std::string FieldProblemLines(
    const grpc::Status& status,
    const std::function<std::string(const std::string&)>& field_name = nullptr);

}  // namespace schakel::cli

#endif  // SCHAKEL_CLI_CONNECTION_H_
