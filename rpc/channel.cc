#include "rpc/channel.h"

#include <grpc/grpc.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/support/channel_arguments.h>

#include <string>
#include <utility>

#include "absl/status/status.h"

namespace schakel::rpc {
namespace {

int Ms(std::chrono::milliseconds duration) { return static_cast<int>(duration.count()); }

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    std::string_view endpoint, std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::string_view target_name_override) {
  if (endpoint.empty()) {
    return absl::InvalidArgumentError("channel endpoint is empty; expected \"host:port\"");
  }
  if (credentials == nullptr) {
    return absl::InvalidArgumentError("channel credentials are missing (null)");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(kKeepaliveTime));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(kKeepaliveTimeout));
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);  // keep pinging while idle
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, Ms(kMaxReconnectBackoff));
  args.SetInt(GRPC_ARG_DNS_MIN_TIME_BETWEEN_RESOLUTIONS_MS, Ms(kMinTimeBetweenResolutions));
  if (!target_name_override.empty()) {
    args.SetSslTargetNameOverride(std::string(target_name_override));
  }
  return grpc::CreateCustomChannel(std::string(endpoint), std::move(credentials), args);
}

void ConfigureServer(grpc::ServerBuilder& builder) {
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                             Ms(kServerPingPermitInterval));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(kServerKeepaliveTime));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(kKeepaliveTimeout));
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, Ms(kServerHandshakeTimeout));
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS,
                              kMaxIdleServerThreads);
}

}  // namespace schakel::rpc
