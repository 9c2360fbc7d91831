// Client channels and deadlines (rpc/channel.h, rpc/deadline.h).
#include "rpc/channel.h"

#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>

#include "rpc/deadline.h"
#include "rpc/status.h"
#include "rpc_test_support.h"
#include "schakel/v1/diagnostics.grpc.pb.h"

namespace schakel::rpc {
namespace {

using ::testing::HasSubstr;

TEST(ChannelTest, AnEmptyEndpointOrNoCredentialsIsRefused) {
  auto empty = CreateChannel("", grpc::InsecureChannelCredentials());
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(empty.status().message(), HasSubstr("endpoint is empty"));

  auto no_credentials = CreateChannel("127.0.0.1:1", nullptr);
  EXPECT_EQ(no_credentials.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(no_credentials.status().message(), HasSubstr("credentials are missing"));
}

TEST(ChannelTest, AnUnreachableEndpointFailsTheCallWithUnavailableNotAHang) {
  // Port 1 on loopback: nothing listens there.
  schakel::v1::GetHealthResponse response;
  const auto start = std::chrono::steady_clock::now();
  const grpc::Status status =
      testing::CallGetHealth("127.0.0.1:1", grpc::InsecureChannelCredentials(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
}

TEST(DeadlineTest, SetsTheDeadlineThatFarFromNow) {
  grpc::ClientContext context;
  const auto before = std::chrono::system_clock::now();
  SetDeadline(context, std::chrono::milliseconds(1500));
  const auto after = std::chrono::system_clock::now();
  EXPECT_GE(context.deadline(), before + std::chrono::milliseconds(1500));
  EXPECT_LE(context.deadline(), after + std::chrono::milliseconds(1500));
}

TEST(DeadlineTest, ACallThatOutlivesItsDeadlineEndsWithDeadlineExceeded) {
  testing::TestServer server(grpc::InsecureServerCredentials());
  ASSERT_NE(server.port(), 0);
  testing::CallOptions options;
  options.timeout = std::chrono::milliseconds(200);
  options.metadata = {{"test-delay-ms", "3000"}};  // the server would answer after 3 s
  schakel::v1::GetHealthResponse response;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = FromGrpcStatus(testing::CallGetHealth(
      server.endpoint(), grpc::InsecureChannelCredentials(), &response, options));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(status.code(), absl::StatusCode::kDeadlineExceeded) << status;
  EXPECT_GE(elapsed, std::chrono::milliseconds(100)) << "it waited for the deadline";
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace schakel::rpc
