// absl::Status <-> grpc::Status (rpc/status.h): every code one to one, the
// message kept, unknown codes made UNKNOWN, and ErrorDetail carried in the
// binary details as errors.proto says.
#include "rpc/status.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/cord.h"
#include "common/utf8.h"
#include "schakel/v1/errors.pb.h"

namespace schakel::rpc {
namespace {

using ::testing::Eq;

struct CodePair {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

// Written out by name on both sides, so that a wrong mapping cannot hide
// behind a cast in the test too.
const std::vector<CodePair>& AllCodes() {
  static const std::vector<CodePair> codes = {
      {absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
      {absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
      {absl::StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
      {absl::StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
      {absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
      {absl::StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
      {absl::StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
      {absl::StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
      {absl::StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
      {absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
      {absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
      {absl::StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
      {absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
      {absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
      {absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
      {absl::StatusCode::kUnauthenticated, grpc::StatusCode::UNAUTHENTICATED},
  };
  return codes;
}

TEST(StatusTest, EveryErrorCodeMapsOneToOneWithItsMessage) {
  ASSERT_EQ(AllCodes().size(), 16u);
  for (const CodePair& pair : AllCodes()) {
    const std::string message = "subjects[3].keys[1].blinded_element: 31 bytes, expected 32";
    const grpc::Status out = ToGrpcStatus(absl::Status(pair.absl_code, message));
    EXPECT_EQ(out.error_code(), pair.grpc_code) << absl::StatusCodeToString(pair.absl_code);
    EXPECT_EQ(out.error_message(), message);
    EXPECT_EQ(out.error_details(), "") << "no payload, so no details";

    const absl::Status back = FromGrpcStatus(grpc::Status(pair.grpc_code, message));
    EXPECT_EQ(back.code(), pair.absl_code) << absl::StatusCodeToString(pair.absl_code);
    EXPECT_EQ(back.message(), message);

    EXPECT_EQ(FromGrpcStatus(out), absl::Status(pair.absl_code, message));
  }
}

TEST(StatusTest, OkIsOkBothWays) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::OkStatus()).error_message(), "");
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

TEST(StatusTest, CodesOutsideTheCanonicalRangeBecomeUnknownKeepingTheMessage) {
  const grpc::Status out = ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(42), "odd"));
  EXPECT_EQ(out.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(out.error_message(), "odd");

  // 20 is no code, but lies within the values grpc::StatusCode can hold (it
  // has no fixed underlying type; a larger value would be undefined).
  const absl::Status back = FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  EXPECT_EQ(back.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(back.message(), "odd");
}

// A peer's message goes into log records (protobuf strings, which must be
// valid UTF-8 to be read back): bytes that are not UTF-8 become U+FFFD.
TEST(StatusTest, APeersMessageThatIsNotUtf8IsMadeValid) {
  const absl::Status valid = FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "café ✓"));
  EXPECT_EQ(valid.message(), "café ✓");
  const absl::Status fixed =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::INTERNAL, "a\xc3\x28" "b\xff\xed\xa0\x80" "c\xe2\x82"));
  EXPECT_EQ(fixed.message(),
            "a\uFFFD(b\uFFFD\uFFFD\uFFFD\uFFFDc\uFFFD\uFFFD");
  EXPECT_TRUE(Utf8Valid(std::string(fixed.message())));
}

schakel::v1::ErrorDetail SampleDetail() {
  schakel::v1::ErrorDetail detail;
  detail.set_reason(schakel::v1::DENIAL_REASON_MALFORMED_REQUEST);
  schakel::v1::FieldProblem* problem = detail.add_problems();
  problem->set_field("subjects[3].keys[1].blinded_element");
  problem->set_problem("31 bytes");
  problem->set_allowed("exactly 32 bytes");
  detail.mutable_retry_after()->set_seconds(7);
  return detail;
}

TEST(StatusTest, ErrorDetailTravelsInRpcStatusDetailsAsErrorsProtoSays) {
  const absl::Status status =
      WithErrorDetail(absl::InvalidArgumentError("subjects[3]: bad"), SampleDetail());
  const grpc::Status out = ToGrpcStatus(status);
  ASSERT_EQ(out.error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  schakel::v1::RpcStatus wire;
  ASSERT_TRUE(wire.ParseFromString(out.error_details()));
  EXPECT_EQ(wire.code(), static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
  EXPECT_EQ(wire.message(), "subjects[3]: bad");
  ASSERT_EQ(wire.details_size(), 1);
  EXPECT_EQ(wire.details(0).type_url(), kErrorDetailTypeUrl);
  schakel::v1::ErrorDetail unpacked;
  ASSERT_TRUE(wire.details(0).UnpackTo(&unpacked)) << "a standard Any, as any client unpacks it";
  EXPECT_EQ(unpacked.SerializeAsString(), SampleDetail().SerializeAsString());

  const absl::Status back = FromGrpcStatus(out);
  EXPECT_EQ(back.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(back.message(), "subjects[3]: bad");
  const auto detail = ErrorDetailOf(back);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->SerializeAsString(), SampleDetail().SerializeAsString());
  EXPECT_EQ(detail->problems(0).allowed(), "exactly 32 bytes");
}

TEST(StatusTest, OtherDetailTypesRoundTripToo) {
  absl::Status status = absl::ResourceExhaustedError("quota");
  status.SetPayload("type.googleapis.com/google.rpc.RetryInfo", absl::Cord("\x0a\x02\x08\x07"));
  const absl::Status back = FromGrpcStatus(ToGrpcStatus(status));
  EXPECT_EQ(back, status);
  EXPECT_FALSE(ErrorDetailOf(back).has_value());
}

TEST(StatusTest, UnparseableDetailsAreDroppedButCodeAndMessageArrive) {
  const absl::Status back =
      FromGrpcStatus(grpc::Status(grpc::StatusCode::PERMISSION_DENIED, "no", "\xff\xff\xff"));
  EXPECT_EQ(back, absl::PermissionDeniedError("no"));
  EXPECT_FALSE(ErrorDetailOf(back).has_value());
}

TEST(StatusTest, ErrorDetailOfAPayloadThatIsNotAnErrorDetailIsNone) {
  absl::Status status = absl::InternalError("x");
  status.SetPayload(kErrorDetailTypeUrl, absl::Cord("\xff\xff"));
  EXPECT_FALSE(ErrorDetailOf(status).has_value());
  EXPECT_FALSE(ErrorDetailOf(absl::InternalError("x")).has_value());
}

TEST(StatusTest, WithErrorDetailLeavesOkAloneAndReplacesAnEarlierDetail) {
  EXPECT_TRUE(WithErrorDetail(absl::OkStatus(), SampleDetail()).ok());
  EXPECT_TRUE(
      ToGrpcStatus(WithErrorDetail(absl::OkStatus(), SampleDetail())).error_details().empty());

  schakel::v1::ErrorDetail second;
  second.set_reason(schakel::v1::DENIAL_REASON_QUOTA_EXCEEDED);
  const absl::Status status =
      WithErrorDetail(WithErrorDetail(absl::ResourceExhaustedError("q"), SampleDetail()), second);
  const auto detail = ErrorDetailOf(FromGrpcStatus(ToGrpcStatus(status)));
  ASSERT_TRUE(detail.has_value());
  EXPECT_THAT(detail->reason(), Eq(schakel::v1::DENIAL_REASON_QUOTA_EXCEEDED));
  EXPECT_EQ(detail->problems_size(), 0);
}

}  // namespace
}  // namespace schakel::rpc
