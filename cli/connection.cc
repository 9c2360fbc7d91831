#include "cli/connection.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/security/credentials.h>

#include <cmath>
#include <string_view>
#include <utility>

#include "cli/proto_text.h"
#include "common/strings.h"
#include "crypto/checked_file.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/errors.pb.h"

namespace schakel::cli {
namespace {

// Where the user fixes a setting: the config file, or the flag.
std::string Where(const ClientConfig& config, std::string_view key, std::string_view flag) {
  if (config.source.empty()) return std::string(flag);
  return StrCat("\"", key, "\" in ", config.source.string(), " (or ", flag, ")");
}

std::optional<schakel::v1::ErrorDetail> DetailOf(const grpc::Status& status) {
  return rpc::ErrorDetailOf(rpc::FromGrpcStatus(status));
}

// " (reason: case_not_open)" when the node or gateway named a reason.
std::string ReasonSuffix(const grpc::Status& status) {
  auto detail = DetailOf(status);
  if (!detail.has_value() || detail->reason() == schakel::v1::DENIAL_REASON_UNSPECIFIED) {
    return {};
  }
  return StrCat(" (reason: ", EnumName(detail->reason()), ")");
}

std::string RetryAfter(const grpc::Status& status) {
  auto detail = DetailOf(status);
  if (!detail.has_value() || !detail->has_retry_after()) return {};
  const int64_t seconds =
      google::protobuf::util::TimeUtil::DurationToSeconds(detail->retry_after());
  return StrCat("; it may succeed again in ", seconds, " s");
}

}  // namespace

void AddConnectionFlags(CLI::App& command, ConnectionFlags& flags, bool with_role) {
  const std::string group = "Connection (override the config file)";
  command
      .add_option("--config", flags.config.config_file,
                  "client config file (default: $SCHAKEL_CONFIG, else "
                  "~/.config/schakel/cli.json)")
      ->group(group);
  command.add_option("--endpoint", flags.config.endpoint, "the node's local API, host:port")
      ->group(group);
  command.add_option("--ca", flags.config.ca, "CA certificate(s) of the node's local listener")
      ->group(group);
  command
      .add_option("--server-name", flags.config.server_name,
                  "name the node's certificate carries, when not the endpoint's host")
      ->group(group);
  command
      .add_option("--credential-file", flags.config.credential_file,
                  "file with your credential \"<user_id>.<secret>\" (mode 0600)")
      ->group(group);
  if (with_role) {
    command
        .add_option("--role", flags.config.role,
                    StrCat("role to act in: ", EnumNames<schakel::v1::Role>()))
        ->group(group);
  }
  command
      .add_option("--timeout", flags.timeout_seconds,
                  "seconds the node may take to answer (default: depends on the command)")
      ->check(CLI::PositiveNumber)
      ->group(group);
}

std::optional<NodeConnection> NodeConnection::Open(const ConnectionFlags& flags,
                                                   CommandContext& context) {
  constexpr std::string_view kConfigHint =
      "write the client config (docs/cli.md, \"Configuration\"), e.g. ~/.config/schakel/cli.json "
      "with {\"endpoint\": \"127.0.0.1:7443\", \"ca\": \"ca.pem\", \"credential_file\": "
      "\"me.cred\"}, or give --config FILE";
  auto config = LoadClientConfig(flags.config, context.environment());
  if (!config.ok()) {
    context.Fail(ExitCode::kConfigError, std::string(config.status().message()),
                 config.status().code() == absl::StatusCode::kNotFound
                     ? kConfigHint
                     : "correct it: docs/cli.md (\"Configuration\") lists the keys; flags "
                       "(--endpoint, --ca, --credential-file, --role) override single settings");
    return std::nullopt;
  }
  auto credential = LoadCredential(config->credential_file);
  if (!credential.ok()) {
    std::string hint =
        "the credential file holds the one line 'schakel users create --credential-out' wrote; ";
    hint += credential.status().code() == absl::StatusCode::kFailedPrecondition
                ? "make it readable by you alone (chmod 600 FILE)"
                : StrCat("check ", Where(*config, "credential_file", "--credential-file"));
    context.Fail(ExitCode::kConfigError, std::string(credential.status().message()), hint);
    return std::nullopt;
  }
  const std::string ca_named = StrCat("CA file ", config->ca.string());
  auto ca = crypto::ReadCheckedFile(config->ca, {.named = ca_named,
                                                 .max_size = size_t{1} << 20,
                                                 .secret = false,
                                                 .size_note = ", the most a PEM file may have"});
  std::string ca_pem;
  if (ca.ok()) ca_pem.assign(reinterpret_cast<const char*>(ca->data()), ca->size());
  if (!ca.ok() || ca_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    context.Fail(ExitCode::kConfigError,
                 ca.ok() ? StrCat(ca_named, " holds no PEM certificate")
                         : std::string(ca.status().message()),
                 StrCat("set ", Where(*config, "ca", "--ca"),
                        " to the CA certificate of the node's local listener (PEM)"));
    return std::nullopt;
  }
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ca_pem;
  auto channel =
      rpc::CreateChannel(config->endpoint, grpc::SslCredentials(options), config->server_name);
  if (!channel.ok()) {
    context.Fail(ExitCode::kConfigError, std::string(channel.status().message()),
                 StrCat("check ", Where(*config, "endpoint", "--endpoint")));
    return std::nullopt;
  }
  return NodeConnection(*std::move(config), *std::move(credential), *std::move(channel),
                        flags.timeout_seconds);
}

std::chrono::milliseconds NodeConnection::Timeout(std::chrono::seconds default_timeout) const {
  if (timeout_seconds_ > 0) {
    return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(timeout_seconds_ * 1000)));
  }
  return default_timeout;
}

std::unique_ptr<grpc::ClientContext> NodeConnection::NewCall(
    std::chrono::seconds default_timeout) const {
  auto call = std::make_unique<grpc::ClientContext>();
  rpc::SetDeadline(*call, Timeout(default_timeout));
  call->AddMetadata("authorization", credential_.AuthorizationValue());
  if (!config_.role.empty()) call->AddMetadata("x-schakel-role", config_.role);
  return call;
}

std::string FieldProblemLines(const grpc::Status& status,
                              const std::function<std::string(const std::string&)>& field_name) {
  auto detail = DetailOf(status);
  if (!detail.has_value()) return {};
  std::string lines;
  for (const schakel::v1::FieldProblem& problem : detail->problems()) {
    std::string field = problem.field().empty() ? std::string("(request)") : problem.field();
    if (field_name) field = field_name(field);
    lines += StrCat("\n  ", field, ": ", problem.problem());
    if (!problem.allowed().empty()) lines += StrCat(" (allowed: ", problem.allowed(), ")");
  }
  return lines;
}

void NodeConnection::Fail(const grpc::Status& status, const CallInfo& call,
                          CommandContext& context) const {
  const std::string message = status.error_message();
  const std::string& endpoint = config_.endpoint;
  switch (status.error_code()) {
    case grpc::StatusCode::UNAVAILABLE: {
      const grpc_connectivity_state state = channel_->GetState(false);
      if (state != GRPC_CHANNEL_READY) {
        context.Fail(
            ExitCode::kUnavailable,
            StrCat("cannot reach the node at ", endpoint, ": ", message,
                   "; is schakel-node running?"),
            StrCat("check ", Where(config_, "endpoint", "--endpoint"),
                   " and that schakel-node listens there; a TLS or certificate error means ",
                   Where(config_, "ca", "--ca"), " or ",
                   Where(config_, "server_name", "--server-name"),
                   " does not fit the node's local certificate"));
      } else {
        context.Fail(ExitCode::kUnavailable,
                     StrCat("the node could not ", call.action, " now: ", message, RetryAfter(status)),
                     "nothing was done; try again shortly. If it persists, the node cannot reach "
                     "the gateway or its store: ask the node's operator");
      }
      return;
    }
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      context.Fail(ExitCode::kUnavailable,
                   StrCat("the node at ", endpoint, " did not answer in time to ", call.action),
                   "check whether it was done before retrying (a change may have been made); "
                   "give it longer with --timeout SECONDS");
      return;
    case grpc::StatusCode::UNAUTHENTICATED:
      context.Fail(ExitCode::kRefused,
                   StrCat("the node refused the credential in ",
                          config_.credential_file.string(), " (user ", user_id(), ")"),
                   "the file must hold the credential the node issued to you ('schakel users "
                   "create'); it stops working when rotated or when the user is disabled: ask "
                   "your node's admin for a new one");
      return;
    case grpc::StatusCode::PERMISSION_DENIED:
      context.Fail(
          ExitCode::kRefused,
          StrCat("not allowed to ", call.action, ": ", message, ReasonSuffix(status),
                 call.roles.empty() ? std::string()
                                    : StrCat("; this needs the role ", call.roles)),
          config_.role.empty()
              ? "act in a role you hold with --role ROLE (see 'schakel whoami'), or ask your "
                "node's admin for the role"
              : StrCat("you acted as ", config_.role,
                       "; choose another role you hold with --role ROLE (see 'schakel "
                       "whoami'), or ask your node's admin for the role"));
      return;
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      context.Fail(ExitCode::kRefused,
                   StrCat("refused to ", call.action, ": ", message, ReasonSuffix(status),
                          RetryAfter(status)),
                   "a limit or quota is reached; try later or with fewer rows or subjects");
      return;
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::OUT_OF_RANGE:
      context.Fail(ExitCode::kInvalidInput,
                   StrCat("the node refused to ", call.action, ": ", message, ReasonSuffix(status),
                          FieldProblemLines(status, call.field_name)),
                   "correct the field(s) named above; nothing was changed");
      return;
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::FAILED_PRECONDITION:
      context.Fail(ExitCode::kConflict,
                   StrCat("cannot ", call.action, ": ", message, ReasonSuffix(status)),
                   "nothing was changed; check the id, or list what exists");
      return;
    case grpc::StatusCode::ABORTED:
      context.Fail(ExitCode::kConflict,
                   StrCat("cannot ", call.action, ": ", message,
                          " (it was changed by someone else meanwhile)"),
                   "nothing was changed; read it again and retry with the new version");
      return;
    case grpc::StatusCode::UNIMPLEMENTED:
      context.Fail(ExitCode::kInternalError,
                   StrCat("the node does not offer this (", call.action, "): ", message),
                   "is the node an older schakel-node? Upgrade it, or use a matching schakel");
      return;
    default:
      context.Fail(ExitCode::kInternalError,
                   StrCat("could not ", call.action, ": ", message, " (gRPC code ",
                          static_cast<int>(status.error_code()), ")"),
                   "this is unexpected; try again, and report it with the command you ran "
                   "(leave out the identifiers) if it persists");
      return;
  }
}

}  // namespace schakel::cli
