// Connections between Schakel processes: the client channel every caller
// uses, and the matching settings for every server.
//
// Client and server settings are made here together because they must fit:
// a client that sends keepalive pings more often than the server permits is
// disconnected by it ("too_many_pings").
//
// Settings, and why:
// - Messages up to kMaxMessageBytes (32 MiB) each way, on both sides. The
//   largest message Schakel sends is a batch evaluation: 10,000 subjects with
//   several match keys of 32 bytes each, plus the DLEQ proof, about 2-3 MB per
//   partner; the gateway's answer to a batch carries that for every partner
//   asked. gRPC's default receive limit (4 MiB) is too small for that;
//   32 MiB leaves room and still bounds what a peer can make us buffer.
//   Index publication is a stream of small messages, not one large one.
// - Client keepalive: a ping after kKeepaliveTime (30 s) without activity,
//   also between calls, and the connection is given up when no answer comes
//   within kKeepaliveTimeout (10 s). The gateway keeps long-lived channels to
//   every node; keepalive finds a silently dead peer (crashed host, dropped
//   NAT entry) in under a minute instead of at the next call's deadline.
// - Reconnection: after a failure gRPC retries with backoff, at most
//   kMaxReconnectBackoff (5 s) apart (gRPC's default is 120 s), so that a
//   partner that restarts is reachable again within seconds. A lost
//   connection makes the channel resolve its address again before it
//   reconnects; gRPC 1.51 spaces resolutions 30 s apart by default, which
//   kept a channel to a restarted peer failing for up to 30 s (found by
//   faults.KillNineTest.RequestingNodeUnderLoad): at most
//   kMinTimeBetweenResolutions (1 s) here. Calls made while
//   a channel is not connected fail at once with UNAVAILABLE (they do not
//   wait for the connection), so one partner down never holds up the rest.
// - Server: permits pings from clients without calls every 20 s (below the
//   clients' 30 s), pings its own idle clients every 60 s, and gives a TLS
//   handshake at most 10 s.
// - Server threads: a synchronous gRPC server runs each call on one of its
//   polling threads and, by default, keeps at most 2 of them idle: under a
//   steady load of concurrent calls it then starts and ends a thread for
//   nearly every call (a few hundred microseconds each, and a context switch
//   more). kMaxIdleServerThreads idle threads are kept instead.
//
// Thread safety: reentrant. A channel is thread-safe and meant to be shared:
// create one per peer and reuse it for every call.
#ifndef SCHAKEL_RPC_CHANNEL_H_
#define SCHAKEL_RPC_CHANNEL_H_

#include <grpcpp/channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <memory>
#include <string_view>

#include "absl/status/statusor.h"

namespace schakel::rpc {

inline constexpr int kMaxMessageBytes = 32 * 1024 * 1024;
inline constexpr std::chrono::milliseconds kKeepaliveTime{30'000};
inline constexpr std::chrono::milliseconds kKeepaliveTimeout{10'000};
inline constexpr std::chrono::milliseconds kMaxReconnectBackoff{5'000};
inline constexpr std::chrono::milliseconds kMinTimeBetweenResolutions{1'000};
inline constexpr std::chrono::milliseconds kServerPingPermitInterval{20'000};
inline constexpr std::chrono::milliseconds kServerKeepaliveTime{60'000};
inline constexpr std::chrono::milliseconds kServerHandshakeTimeout{10'000};
inline constexpr int kMaxIdleServerThreads = 16;

// A channel to `endpoint` ("host:port", or any gRPC target such as
// "dns:///gateway.example:8443") with the settings above, secured by
// `credentials` (tls.h). When `target_name_override` is not empty, the
// server's certificate must name it (as a DNS or IP SAN) instead of the
// endpoint's host: for a peer reached by an address its certificate does not
// name. The channel connects lazily: nothing is checked on the network here;
// an unreachable endpoint or a failed handshake shows as UNAVAILABLE on the
// calls.
// Errors: INVALID_ARGUMENT when `endpoint` is empty or `credentials` is null.
absl::StatusOr<std::shared_ptr<grpc::Channel>> CreateChannel(
    std::string_view endpoint, std::shared_ptr<grpc::ChannelCredentials> credentials,
    std::string_view target_name_override = {});

// Applies the server settings above to `builder`. Call it before
// BuildAndStart. Cannot fail.
void ConfigureServer(grpc::ServerBuilder& builder);

}  // namespace schakel::rpc

#endif  // SCHAKEL_RPC_CHANNEL_H_
