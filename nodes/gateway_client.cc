#include "nodes/gateway_client.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <utility>

#include "common/strings.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::nodes {

absl::StatusOr<std::unique_ptr<GatewayClient>> GatewayClient::Connect(const rpc::TlsFiles& tls,
                                                                      std::string_view endpoint,
                                                                      std::string_view server_name,
                                                                      Options options) {
  auto credentials = rpc::ClientCredentialsFromFiles(tls);
  if (!credentials.ok()) return credentials.status();
  auto channel = rpc::CreateChannel(endpoint, *std::move(credentials), server_name);
  if (!channel.ok()) return channel.status();
  return std::make_unique<GatewayClient>(*std::move(channel), std::move(options));
}

GatewayClient::GatewayClient(std::shared_ptr<grpc::Channel> channel, Options options)
    : channel_(std::move(channel)), gateway_(v1::Gateway::NewStub(channel_)),
      options_(std::move(options)) {}

absl::Status GatewayClient::FromGateway(const grpc::Status& status, std::string_view rpc) {
  absl::Status converted = rpc::FromGrpcStatus(status);
  if (converted.ok()) return converted;
  const bool from_gateway = rpc::ErrorDetailOf(converted).has_value();
  if (!from_gateway && (converted.code() == absl::StatusCode::kUnavailable ||
                        converted.code() == absl::StatusCode::kDeadlineExceeded)) {
    return absl::UnavailableError(
        StrCat("gateway unreachable: ", rpc,
               converted.code() == absl::StatusCode::kDeadlineExceeded ? " got no answer in time"
                                                                       : " failed",
               " (", converted.message(), ")"));
  }
  return converted;
}

absl::StatusOr<std::shared_ptr<const v1::GetDirectoryResponse>> GatewayClient::Directory(
    bool force) {
  const absl::Time now = Now();
  std::shared_ptr<const v1::GetDirectoryResponse> cached;
  {
    std::lock_guard lock(mu_);
    cached = directory_;
    const bool stale = cached == nullptr || now - directory_fetched_at_ >= options_.directory_max_age;
    const bool may_force = now - directory_forced_at_ >= options_.min_refresh_interval;
    if (!stale && !(force && may_force)) return cached;
    if (force) directory_forced_at_ = now;
  }
  // The call is made without the lock: concurrent refreshes are harmless
  // (the newest directory_version wins) and a slow gateway blocks no reader.
  grpc::ClientContext context;
  rpc::SetDeadline(context, options_.call_timeout);
  auto response = std::make_shared<v1::GetDirectoryResponse>();
  const grpc::Status status =
      gateway_->GetDirectory(&context, v1::GetDirectoryRequest(), response.get());
  if (!status.ok()) {
    if (cached != nullptr) return cached;
    return FromGateway(status, "GetDirectory");
  }
  std::lock_guard lock(mu_);
  if (directory_ == nullptr || directory_->directory_version() <= response->directory_version()) {
    directory_ = std::move(response);
    directory_fetched_at_ = now;
  }
  return directory_;
}

namespace {

const v1::Organisation* FindIn(const v1::GetDirectoryResponse& directory, std::string_view org_id) {
  for (const v1::Organisation& org : directory.organisations()) {
    if (org.org_id() == org_id && org.active()) return &org;
  }
  return nullptr;
}

const v1::PublicKey* FindKey(const v1::Organisation& org, crypto::ByteView key_id) {
  for (const v1::PublicKey& key : org.signing_keys()) {
    if (crypto::AsBytes(key.key_id()).size() == key_id.size() &&
        std::equal(key_id.begin(), key_id.end(),
                   reinterpret_cast<const uint8_t*>(key.key_id().data()))) {
      return &key;
    }
  }
  return nullptr;
}

}  // namespace

absl::StatusOr<v1::Organisation> GatewayClient::FindOrganisation(std::string_view org_id) {
  for (bool force : {false, true}) {
    auto directory = Directory(force);
    if (!directory.ok()) return directory.status();
    if (const v1::Organisation* org = FindIn(**directory, org_id)) return *org;
  }
  return absl::NotFoundError(
      StrCat("organisation ", org_id, " is not an active organisation in the gateway's directory"));
}

absl::StatusOr<crypto::VerifyKey> GatewayClient::NodeSigningKey(std::string_view org_id,
                                                                crypto::ByteView key_id) {
  for (bool force : {false, true}) {
    auto directory = Directory(force);
    if (!directory.ok()) return directory.status();
    const v1::Organisation* org = FindIn(**directory, org_id);
    if (org == nullptr) continue;
    if (const v1::PublicKey* key = FindKey(*org, key_id)) {
      auto parsed = crypto::VerifyKey::FromBytes(crypto::AsBytes(key->key()));
      if (!parsed.ok()) {
        return absl::InvalidArgumentError(StrCat("directory: signing key ", crypto::ToHex(key_id),
                                                 " of ", org_id, " is malformed: ",
                                                 parsed.status().message()));
      }
      return *parsed;
    }
  }
  return absl::NotFoundError(StrCat("signing key ", crypto::ToHex(key_id), " of organisation ",
                                    org_id, " is not in the gateway's directory"));
}

absl::StatusOr<v1::ListPurposesResponse> GatewayClient::ListPurposes(bool prefer_cache) {
  const absl::Time now = Now();
  if (prefer_cache) {
    std::lock_guard lock(mu_);
    if (purposes_.has_value() && now - purposes_fetched_at_ < options_.directory_max_age) {
      return *purposes_;
    }
  }
  grpc::ClientContext context;
  rpc::SetDeadline(context, options_.call_timeout);
  v1::ListPurposesResponse response;
  const grpc::Status status =
      gateway_->ListPurposes(&context, v1::ListPurposesRequest(), &response);
  std::lock_guard lock(mu_);
  if (!status.ok()) {
    absl::Status error = FromGateway(status, "ListPurposes");
    if (purposes_.has_value() && absl::IsUnavailable(error)) return *purposes_;
    return error;
  }
  purposes_ = response;
  purposes_fetched_at_ = now;
  return response;
}

std::optional<v1::PurposeView> GatewayClient::CachedPurpose(std::string_view purpose_id) {
  auto purposes = ListPurposes(/*prefer_cache=*/true);
  if (!purposes.ok()) return std::nullopt;
  for (const v1::PurposeView& view : purposes->purposes()) {
    if (view.purpose().purpose_id() == purpose_id) return view;
  }
  return std::nullopt;
}

}  // namespace schakel::nodes
