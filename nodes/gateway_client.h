// The node's side of its channel to the gateway (gateway.proto): one
// mutual-TLS channel shared by every caller in the node, the gateway's
// directory cached, and the translation of the gateway's answers into
// absl::Status.
//
// Directory cache: GetDirectory is asked at first use, again when the copy
// is older than Options::directory_max_age, and whenever a caller meets an
// organisation or a key id it does not know (FindOrganisation,
// NodeSigningKey); such forced refreshes happen at most once per
// Options::min_refresh_interval, so a partner sending unknown key ids cannot
// make the node hammer the gateway. ListPurposes is cached the same way for
// callers that can live with a slightly old copy (the Matching service's role
// check, GetFederation while the gateway is unreachable).
//
// Errors (every method): the gateway's status is passed through with its
// code, message and ErrorDetail (rpc/status.h). A gateway that cannot be
// reached, or that does not answer before the deadline, gives UNAVAILABLE
// "gateway unreachable: ..." (a transport error carries no ErrorDetail;
// one the gateway sent, e.g. "the log could not be written", keeps its own).
//
// Thread safety: every method may be called from several threads at once;
// the stub and the channel are thread-safe, the caches are guarded by a
// mutex. The returned directory snapshots are immutable.
#ifndef SCHAKEL_NODES_GATEWAY_CLIENT_H_
#define SCHAKEL_NODES_GATEWAY_CLIENT_H_

#include <grpcpp/channel.h>
#include <grpcpp/support/status.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "crypto/bytes.h"
#include "crypto/signing.h"
#include "rpc/tls.h"
#include "schakel/v1/gateway.grpc.pb.h"

namespace schakel::nodes {

class GatewayClient {
 public:
  struct Options {
    // Deadline of the gateway's short calls (directory, purposes, index
    // state, resolve, cases, audit unary calls).
    std::chrono::milliseconds call_timeout{10'000};
    // Deadline of OpenExchange: the gateway fans out to every partner and
    // large batches take a while to evaluate (gateway.proto asks for at
    // least 10 s).
    std::chrono::milliseconds exchange_timeout{60'000};
    // Deadline of a streaming audit call (VerifyChain, Export, ...).
    std::chrono::milliseconds stream_timeout{600'000};
    // Age after which the cached directory / purposes are asked again.
    absl::Duration directory_max_age = absl::Minutes(1);
    // Least time between two refreshes forced by an unknown org or key.
    absl::Duration min_refresh_interval = absl::Seconds(5);
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
  };

  // A client over a new mutual-TLS channel to `endpoint` ("host:port"),
  // presenting the node's certificate; `server_name`, when not empty, is
  // the name the gateway's certificate must carry (rpc/channel.h). Nothing
  // is checked on the network here.
  // Errors: those of rpc::ClientCredentialsFromFiles (naming the TLS file)
  // and rpc::CreateChannel (INVALID_ARGUMENT for an empty endpoint).
  static absl::StatusOr<std::unique_ptr<GatewayClient>> Connect(const rpc::TlsFiles& tls,
                                                                std::string_view endpoint,
                                                                std::string_view server_name,
                                                                Options options);

  // A client over an existing channel (tests: an in-process gateway).
  explicit GatewayClient(std::shared_ptr<grpc::Channel> channel, Options options);

  GatewayClient(const GatewayClient&) = delete;
  GatewayClient& operator=(const GatewayClient&) = delete;

  // The gateway's stub, for calls this class does not wrap (streams,
  // forwarding). Thread-safe.
  v1::Gateway::Stub& gateway() const { return *gateway_; }
  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  const Options& options() const { return options_; }

  // The directory, fetched when there is no copy yet, when the copy is older
  // than directory_max_age, or when `force` (subject to
  // min_refresh_interval). When a refresh fails and a copy exists, the copy
  // is returned; errors only when there is none.
  absl::StatusOr<std::shared_ptr<const v1::GetDirectoryResponse>> Directory(bool force = false);

  // The active organisation `org_id`; refreshes the directory once when it
  // is not in the cached copy. Errors: NOT_FOUND "organisation <id> is not
  // in the gateway's directory"; those of Directory.
  absl::StatusOr<v1::Organisation> FindOrganisation(std::string_view org_id);

  // The Ed25519 key with `key_id` among `org_id`'s signing keys; refreshes
  // the directory once when either is unknown. Errors: NOT_FOUND (naming the
  // organisation and the key id in hex); INVALID_ARGUMENT when the directory
  // holds a malformed key; those of Directory.
  absl::StatusOr<crypto::VerifyKey> NodeSigningKey(std::string_view org_id,
                                                   crypto::ByteView key_id);

  // Gateway.ListPurposes, remembered. With `prefer_cache`, a copy younger
  // than directory_max_age is returned without a call. When the gateway
  // cannot be reached the last copy is returned, however old. Errors: the
  // gateway's, or UNAVAILABLE when unreachable and nothing is cached.
  absl::StatusOr<v1::ListPurposesResponse> ListPurposes(bool prefer_cache);

  // The purpose as this organisation takes part in it, from ListPurposes
  // (cached); nullopt when the purpose is not listed or the gateway cannot
  // be asked and nothing is cached.
  std::optional<v1::PurposeView> CachedPurpose(std::string_view purpose_id);

  // A gateway call's status as absl::Status, following the rules at the top
  // of this file; `rpc` names the call in an UNAVAILABLE message.
  static absl::Status FromGateway(const grpc::Status& status, std::string_view rpc);

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  const std::shared_ptr<grpc::Channel> channel_;
  const std::unique_ptr<v1::Gateway::Stub> gateway_;
  const Options options_;

  std::mutex mu_;
  std::shared_ptr<const v1::GetDirectoryResponse> directory_ ABSL_GUARDED_BY(mu_);
  absl::Time directory_fetched_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  absl::Time directory_forced_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::optional<v1::ListPurposesResponse> purposes_ ABSL_GUARDED_BY(mu_);
  absl::Time purposes_fetched_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_GATEWAY_CLIENT_H_
