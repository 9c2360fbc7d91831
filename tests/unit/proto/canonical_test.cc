// The Schakel canonical encoding, signatures, digests and chain hashes
// (proto/canonical.h), checked against bytes computed by hand from
// signing.proto and log.proto.
#include "proto/canonical.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/timestamp.pb.h>

#include <array>
#include <memory>
#include <string>
#include <string_view>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/signing.h"
#include "schakel/v1/disclosure.pb.h"
#include "schakel/v1/errors.pb.h"
#include "schakel/v1/exchange.pb.h"
#include "schakel/v1/local.pb.h"
#include "schakel/v1/log.pb.h"
#include "schakel/v1/signals.pb.h"
#include "schakel/v1/signing.pb.h"

namespace schakel::canonical {
namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::FieldDescriptor;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::Message;
using ::google::protobuf::Reflection;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Bytes from hex, as a std::string for protobuf bytes fields.
std::string Raw(std::string_view hex) {
  const crypto::Bytes bytes = crypto::FromHex(hex).value();
  return std::string(bytes.begin(), bytes.end());
}

std::string EncodeHex(const Message& m) {
  absl::StatusOr<crypto::Bytes> encoded = Encode(m);
  EXPECT_TRUE(encoded.ok()) << encoded.status();
  return encoded.ok() ? crypto::ToHex(*encoded) : "";
}

void ExpectInvalid(const absl::Status& status, std::string_view fragment) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(std::string(fragment)));
}

void SetMillis(google::protobuf::Timestamp& t, int64_t seconds, int32_t millis) {
  t.set_seconds(seconds);
  t.set_nanos(millis * 1000000);
}

// --- Exact bytes for real contract messages --------------------------------

v1::CheckpointPayload SampleCheckpoint() {
  v1::CheckpointPayload p;
  p.set_sequence(5);
  p.set_head_hash(std::string(32, '\xab'));
  SetMillis(*p.mutable_created_at(), 1700000000, 123);
  p.set_previous_checkpoint_sequence(0x0102030405060708);
  return p;
}

// CE of SampleCheckpoint(), field by field.
constexpr std::string_view kSampleCheckpointHex =
    "0000000000000005"  // 1 sequence: uint64
    "00000020"          // 2 head_hash: length 32
    "abababababababababababababababababababababababababababababababab"
    "01"                // 3 created_at: set
    "0000018bcfe5687b"  //   1700000000123 ms
    "0102030405060708";  // 4 previous_checkpoint_sequence

TEST(CanonicalEncodingTest, CheckpointPayloadExactBytes) {
  EXPECT_EQ(EncodeHex(SampleCheckpoint()), kSampleCheckpointHex);
}

v1::AuthorisationPayload SampleAuthorisation() {
  v1::AuthorisationPayload p;
  p.set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
  p.set_exchange_id(Raw("000102030405060708090a0b0c0d0e0f"));
  p.set_requester_org_id("riec-zuid");
  p.set_responder_org_id("politie-oost-nl");
  p.set_purpose_id("riec.ondermijning");
  // case_id left empty: still encoded.
  p.set_policy_version("2025.1");
  p.set_subject_count(3);
  p.set_element_count(5);
  p.set_request_digest(std::string(32, '\xdd'));
  SetMillis(*p.mutable_issued_at(), 1700000000, 250);
  SetMillis(*p.mutable_expires_at(), 1700000030, 250);
  p.set_nonce(Raw("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  // disclosure_id left empty.
  return p;
}

constexpr std::string_view kSampleAuthorisationHex =
    "00000001"                                  // 1 operation: EVALUATE (enum)
    "00000010"                                  // 2 exchange_id: 16 bytes
    "000102030405060708090a0b0c0d0e0f"          //
    "00000009" "726965632d7a756964"             // 3 "riec-zuid"
    "0000000f" "706f6c697469652d6f6f73742d6e6c"  // 4 "politie-oost-nl"
    "00000011"                                  // 5 "riec.ondermijning"
    "726965632e6f6e6465726d696a6e696e67"        //
    "00000000"                                  // 6 case_id: ""
    "00000006" "323032352e31"                   // 7 "2025.1"
    "00000003"                                  // 8 subject_count: uint32
    "00000005"                                  // 9 element_count
    "00000020"                                  // 10 request_digest: 32 bytes
    "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
    "01" "0000018bcfe568fa"                     // 11 issued_at: 1700000000250 ms
    "01" "0000018bcfe5de2a"                     // 12 expires_at: 1700000030250 ms
    "00000010"                                  // 13 nonce: 16 bytes
    "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"          //
    "00000000";                                 // 14 disclosure_id: ""

TEST(CanonicalEncodingTest, AuthorisationPayloadExactBytes) {
  EXPECT_EQ(EncodeHex(SampleAuthorisation()), kSampleAuthorisationHex);
}

TEST(CanonicalEncodingTest, EmptyMessagesEncodeEveryField) {
  // 14 fields: enum, 2 x bytes, 5 x string, 2 x uint32, bytes, 2 x unset
  // Timestamp, 2 x bytes.
  EXPECT_EQ(EncodeHex(v1::AuthorisationPayload()),
            "00000000"                          // operation
            "00000000"                          // exchange_id
            "00000000000000000000000000000000"  // four strings
            "00000000"                          // policy_version
            "0000000000000000"                  // subject_count, element_count
            "00000000"                          // request_digest
            "0000"                              // issued_at, expires_at unset
            "0000000000000000");                // nonce, disclosure_id
  EXPECT_EQ(EncodeHex(v1::CheckpointPayload()),
            "0000000000000000" "00000000" "00" "0000000000000000");
  EXPECT_EQ(EncodeHex(v1::ElementBatch()), "00000000");  // zero elements
}

TEST(CanonicalEncodingTest, RepeatedBytes) {
  v1::ElementBatch batch;
  batch.add_elements(Raw("0102"));
  batch.add_elements("");
  batch.add_elements(Raw("ff"));
  EXPECT_EQ(EncodeHex(batch), "00000003" "000000020102" "00000000" "00000001ff");
}

TEST(CanonicalEncodingTest, NestedAndRepeatedMessagesAndEnums) {
  v1::DisclosureOrder order;
  order.set_disclosure_id(Raw("1011"));
  order.mutable_requester()->set_org_id("riec");
  order.mutable_requester()->set_role(v1::ROLE_ANALYST);
  // lawful_basis unset.
  v1::DisclosureTarget* first = order.add_targets();
  first->set_subject_index(1);
  first->add_tags(Raw("aa"));
  order.add_targets()->set_subject_index(2);  // no tags
  order.mutable_ask()->add_fields(v1::SIGNAL_FIELD_CATEGORY);
  order.mutable_ask()->add_fields(v1::SIGNAL_FIELD_REGISTERED_AT);
  order.mutable_ask()->add_categories("x");
  // requester_box_key empty, decide_by unset.
  EXPECT_EQ(EncodeHex(order),
            "00000002" "1011"                 // 1 disclosure_id
            "01"                              // 2 requester: set
            "00000004" "72696563"             //   org_id "riec"
            "00000000"                        //   user_id ""
            "00000002"                        //   role ANALYST
            "00"                              // 3 lawful_basis: unset
            "00000002"                        // 4 targets: 2, no presence bytes
            "00000001" "00000001" "00000001aa"  //   {1, ["aa"]}
            "00000002" "00000000"             //   {2, []}
            "01"                              // 5 ask: set
            "00000002" "00000001" "00000003"  //   fields [CATEGORY, REGISTERED_AT]
            "00000001" "0000000178"           //   categories ["x"]
            "00000000"                        //   reason ""
            "00000000"                        // 6 requester_box_key ""
            "00");                            // 7 decide_by: unset
}

TEST(CanonicalEncodingTest, SetButEmptySubmessageDiffersFromUnset) {
  v1::DisclosureOrder unset;
  v1::DisclosureOrder empty;
  empty.mutable_lawful_basis();
  EXPECT_NE(EncodeHex(unset), EncodeHex(empty));
}

TEST(CanonicalEncodingTest, DurationAndBoolInContractMessages) {
  v1::PartnerOutcome outcome;
  outcome.set_org_id("x");
  outcome.set_domain(v1::DOMAIN_CARE);
  outcome.mutable_latency()->set_seconds(1);
  outcome.mutable_latency()->set_nanos(234000000);
  outcome.set_subjects_hit(7);
  EXPECT_EQ(EncodeHex(outcome),
            "0000000178"              // 1 org_id
            "00000002"                // 2 domain CARE
            "00000000"                // 3 status
            "00000000"                // 4 reason
            "00000000"                // 5 detail ""
            "01" "00000000000004d2"   // 6 latency 1234 ms
            "00000007");              // 7 subjects_hit

  v1::ImportEnd end;
  EXPECT_EQ(EncodeHex(end), "00");
  end.set_commit(true);
  EXPECT_EQ(EncodeHex(end), "01");
}

TEST(CanonicalEncodingTest, WellKnownTypesOtherThanTimesAreRefused) {
  // RpcStatus.details holds google.protobuf.Any (wire bytes inside).
  const absl::Status status = Encode(v1::RpcStatus()).status();
  ExpectInvalid(status, "schakel.v1.RpcStatus has no canonical encoding");
  ExpectInvalid(status, "google.protobuf.Any");
  ExpectInvalid(status, "reached through details");
}

// --- Times -----------------------------------------------------------------

TEST(CanonicalEncodingTest, TimesAreWholeMilliseconds) {
  v1::CheckpointPayload p;
  p.mutable_created_at();  // set, at the epoch
  EXPECT_EQ(EncodeHex(p), "0000000000000000" "00000000" "01" "0000000000000000"
                          "0000000000000000");
  // Before 1970: -1 s + 0.5 s = -500 ms.
  p.mutable_created_at()->set_seconds(-1);
  p.mutable_created_at()->set_nanos(500000000);
  EXPECT_EQ(EncodeHex(p), "0000000000000000" "00000000" "01" "fffffffffffffe0c"
                          "0000000000000000");
  // Negative durations: seconds and nanos have the same sign.
  v1::PartnerOutcome outcome;
  outcome.mutable_latency()->set_seconds(-1);
  outcome.mutable_latency()->set_nanos(-500000000);
  EXPECT_THAT(EncodeHex(outcome), HasSubstr("01" "fffffffffffffa24"));
}

TEST(CanonicalEncodingTest, SubMillisecondTimesAreRefusedNamingTheField) {
  v1::AuthorisationPayload p = SampleAuthorisation();
  p.mutable_issued_at()->set_nanos(1500000);  // 1.5 ms
  const absl::Status status = Encode(p).status();
  ExpectInvalid(status, "schakel.v1.AuthorisationPayload.issued_at");
  ExpectInvalid(status, "whole number of milliseconds");

  v1::LogRecord record;
  record.add_partners();
  record.add_partners()->mutable_latency()->set_nanos(1);
  ExpectInvalid(Encode(record).status(), "schakel.v1.LogRecord.partners[1].latency");
  ExpectInvalid(Digest(kLogRecordContext, record).status(), "partners[1].latency");
}

TEST(CanonicalEncodingTest, InvalidTimesAreRefused) {
  v1::CheckpointPayload p;
  p.mutable_created_at()->set_nanos(-1000000);
  ExpectInvalid(Encode(p).status(), "not a valid Timestamp");
  p.mutable_created_at()->set_nanos(1000000000);
  ExpectInvalid(Encode(p).status(), "not a valid Timestamp");
  p.mutable_created_at()->set_nanos(0);
  p.mutable_created_at()->set_seconds(253402300800);  // year 10000
  ExpectInvalid(Encode(p).status(), "schakel.v1.CheckpointPayload.created_at");

  v1::PartnerOutcome outcome;
  outcome.mutable_latency()->set_seconds(1);
  outcome.mutable_latency()->set_nanos(-1000000);  // signs differ
  ExpectInvalid(Encode(outcome).status(), "not a valid Duration");
}

// --- Types that have no canonical encoding ---------------------------------

TEST(CanonicalEncodingTest, OneofIsRefusedNamingTypeAndField) {
  v1::ImportSignalsRequest request;  // refused even with nothing set
  const absl::Status status = Encode(request).status();
  ExpectInvalid(status, "schakel.v1.ImportSignalsRequest");
  ExpectInvalid(status, "oneof `part`");
  ExpectInvalid(status, "schakel.v1.ImportSignalsRequest.header");
  ExpectInvalid(CheckEncodable(*v1::ImportSignalsRequest::descriptor()), "oneof");
  ExpectInvalid(Sign(crypto::SigningKey::Generate(), kAuthorisationContext, request).status(),
                "schakel.v1.ImportSignalsRequest");
}

// Every message type that signing.proto says is signed or hashed, with every
// type it reaches, has a canonical encoding.
TEST(CanonicalEncodingTest, EverySignedOrHashedContractTypeIsEncodable) {
  const Descriptor* types[] = {
      v1::AuthorisationPayload::descriptor(), v1::ElementBatch::descriptor(),
      v1::DisclosureOrder::descriptor(),      v1::EvaluationStatement::descriptor(),
      v1::DisclosureStatement::descriptor(),  v1::ReceiptPayload::descriptor(),
      v1::CheckpointPayload::descriptor(),    v1::LogRecord::descriptor(),
      v1::LocalLogRecord::descriptor(),
  };
  for (const Descriptor* type : types) {
    EXPECT_TRUE(CheckEncodable(*type).ok()) << CheckEncodable(*type);
  }
}

// Types built at run time for what the contract does not contain.
constexpr char kTestFile[] = R"pb(
  name: "canonical_test.proto"
  package: "test.canonical"
  syntax: "proto3"
  dependency: "google/protobuf/timestamp.proto"
  dependency: "google/protobuf/duration.proto"
  message_type {
    name: "Widths"
    field { name: "a" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
    field { name: "b" number: 2 label: LABEL_OPTIONAL type: TYPE_SINT32 }
    field { name: "c" number: 3 label: LABEL_OPTIONAL type: TYPE_SFIXED32 }
    field { name: "d" number: 4 label: LABEL_OPTIONAL type: TYPE_FIXED32 }
    field { name: "e" number: 5 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "f" number: 6 label: LABEL_OPTIONAL type: TYPE_INT64 }
    field { name: "g" number: 7 label: LABEL_OPTIONAL type: TYPE_SINT64 }
    field { name: "h" number: 8 label: LABEL_OPTIONAL type: TYPE_SFIXED64 }
    field { name: "i" number: 9 label: LABEL_OPTIONAL type: TYPE_FIXED64 }
    field { name: "j" number: 10 label: LABEL_OPTIONAL type: TYPE_UINT64 }
    field { name: "k" number: 11 label: LABEL_OPTIONAL type: TYPE_BOOL }
  }
  message_type {
    name: "Order"
    field { name: "second" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field { name: "third" number: 30 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "first" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32 }
  }
  message_type {
    name: "Chain"
    field { name: "value" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field {
      name: "next" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
      type_name: ".test.canonical.Chain"
    }
  }
  message_type {
    name: "Times"
    field {
      name: "at" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
      type_name: ".google.protobuf.Timestamp"
    }
    field {
      name: "took" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
      type_name: ".google.protobuf.Duration"
    }
  }
  message_type {
    name: "WithMap"
    field {
      name: "counts" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
      type_name: ".test.canonical.WithMap.CountsEntry"
    }
    nested_type {
      name: "CountsEntry"
      field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
      field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_UINT32 }
      options { map_entry: true }
    }
  }
  message_type {
    name: "WithFloat"
    field { name: "ratio" number: 1 label: LABEL_OPTIONAL type: TYPE_FLOAT }
  }
  message_type {
    name: "WithDouble"
    field { name: "ratio" number: 1 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
  }
  message_type {
    name: "WithOptional"
    field {
      name: "limit" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32
      oneof_index: 0 proto3_optional: true
    }
    oneof_decl { name: "_limit" }
  }
  message_type {
    name: "Outer"
    field { name: "n" number: 1 label: LABEL_OPTIONAL type: TYPE_UINT32 }
    field {
      name: "middle" number: 2 label: LABEL_OPTIONAL type: TYPE_MESSAGE
      type_name: ".test.canonical.Middle"
    }
  }
  message_type {
    name: "Middle"
    field {
      name: "inner" number: 1 label: LABEL_REPEATED type: TYPE_MESSAGE
      type_name: ".test.canonical.Inner"
    }
  }
  message_type {
    name: "Inner"
    field { name: "x" number: 1 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
  }
)pb";

class DynamicTypesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const Descriptor* wkt : {google::protobuf::Timestamp::descriptor(),
                                  google::protobuf::Duration::descriptor()}) {
      FileDescriptorProto file;
      wkt->file()->CopyTo(&file);
      ASSERT_NE(pool_.BuildFile(file), nullptr);
    }
    FileDescriptorProto file;
    ASSERT_TRUE(google::protobuf::TextFormat::ParseFromString(kTestFile, &file));
    ASSERT_NE(pool_.BuildFile(file), nullptr);
  }

  std::unique_ptr<Message> New(std::string_view name) {
    const Descriptor* type = pool_.FindMessageTypeByName(StrCat("test.canonical.", name));
    EXPECT_NE(type, nullptr) << name;
    return std::unique_ptr<Message>(factory_.GetPrototype(type)->New());
  }

  DescriptorPool pool_;
  DynamicMessageFactory factory_{&pool_};
};

TEST_F(DynamicTypesTest, IntegerKindsAreMappedByWidth) {
  std::unique_ptr<Message> m = New("Widths");
  const Descriptor& d = *m->GetDescriptor();
  const Reflection& r = *m->GetReflection();
  r.SetInt32(m.get(), d.FindFieldByName("a"), -2);
  r.SetInt32(m.get(), d.FindFieldByName("b"), -3);
  r.SetInt32(m.get(), d.FindFieldByName("c"), 0x01020304);
  r.SetUInt32(m.get(), d.FindFieldByName("d"), 0xfffffffe);
  r.SetUInt32(m.get(), d.FindFieldByName("e"), 7);
  r.SetInt64(m.get(), d.FindFieldByName("f"), -2);
  r.SetInt64(m.get(), d.FindFieldByName("g"), -256);
  r.SetInt64(m.get(), d.FindFieldByName("h"), 0x0102030405060708);
  r.SetUInt64(m.get(), d.FindFieldByName("i"), 0xfffffffffffffffe);
  r.SetUInt64(m.get(), d.FindFieldByName("j"), 9);
  r.SetBool(m.get(), d.FindFieldByName("k"), true);
  EXPECT_EQ(EncodeHex(*m),
            "fffffffe" "fffffffd" "01020304" "fffffffe" "00000007"
            "fffffffffffffffe" "ffffffffffffff00" "0102030405060708" "fffffffffffffffe"
            "0000000000000009" "01");
}

TEST_F(DynamicTypesTest, FieldsInFieldNumberOrderNotDeclarationOrder) {
  std::unique_ptr<Message> m = New("Order");
  const Descriptor& d = *m->GetDescriptor();
  m->GetReflection()->SetUInt32(m.get(), d.FindFieldByName("first"), 1);
  m->GetReflection()->SetUInt32(m.get(), d.FindFieldByName("second"), 2);
  m->GetReflection()->SetString(m.get(), d.FindFieldByName("third"), "x");
  EXPECT_EQ(EncodeHex(*m), "00000001" "00000002" "0000000178");
}

TEST_F(DynamicTypesTest, RecursiveTypes) {
  std::unique_ptr<Message> m = New("Chain");
  const Descriptor& d = *m->GetDescriptor();
  const Reflection& r = *m->GetReflection();
  r.SetUInt32(m.get(), d.FindFieldByName("value"), 1);
  Message* next = r.MutableMessage(m.get(), d.FindFieldByName("next"));
  r.SetUInt32(next, d.FindFieldByName("value"), 2);
  EXPECT_EQ(EncodeHex(*m), "00000001" "01" "00000002" "00");
}

TEST_F(DynamicTypesTest, RepeatedTimestampsCarryNoPresenceByte) {
  std::unique_ptr<Message> m = New("Times");
  const Descriptor& d = *m->GetDescriptor();
  const Reflection& r = *m->GetReflection();
  const FieldDescriptor* at = d.FindFieldByName("at");
  Message* t0 = r.AddMessage(m.get(), at);
  t0->GetReflection()->SetInt64(t0, t0->GetDescriptor()->FindFieldByName("seconds"), 1);
  r.AddMessage(m.get(), at);  // the epoch
  Message* took = r.MutableMessage(m.get(), d.FindFieldByName("took"));
  took->GetReflection()->SetInt32(took, took->GetDescriptor()->FindFieldByName("nanos"), 2000000);
  EXPECT_EQ(EncodeHex(*m), "00000002" "00000000000003e8" "0000000000000000"
                           "01" "0000000000000002");

  t0->GetReflection()->SetInt32(t0, t0->GetDescriptor()->FindFieldByName("nanos"), 999);
  ExpectInvalid(Encode(*m).status(), "test.canonical.Times.at[0]: google.protobuf.Timestamp");
}

TEST_F(DynamicTypesTest, MapFloatDoubleAndOptionalAreRefused) {
  struct Case {
    std::string_view type;
    std::string_view fragment;
  };
  for (const Case& c : {Case{"WithMap", "field test.canonical.WithMap.counts is a map"},
                        Case{"WithFloat", "field test.canonical.WithFloat.ratio is a float"},
                        Case{"WithDouble", "field test.canonical.WithDouble.ratio is a double"},
                        Case{"WithOptional",
                             "field test.canonical.WithOptional.limit is a proto3 optional"}}) {
    SCOPED_TRACE(c.type);
    std::unique_ptr<Message> m = New(c.type);
    const absl::Status status = Encode(*m).status();
    ExpectInvalid(status, StrCat("test.canonical.", c.type, " has no canonical encoding"));
    ExpectInvalid(status, c.fragment);
    ExpectInvalid(Digest(kLogRecordContext, *m).status(), c.fragment);
  }
}

TEST_F(DynamicTypesTest, RefusalDeepInsideIsNamedWithItsPath) {
  std::unique_ptr<Message> m = New("Outer");  // nothing set: the schema decides
  const absl::Status status = Encode(*m).status();
  ExpectInvalid(status, "test.canonical.Outer has no canonical encoding");
  ExpectInvalid(status, "field test.canonical.Inner.x is a double");
  ExpectInvalid(status, "reached through middle.inner");
}

// --- Wire-order independence -----------------------------------------------

std::string Varint(uint64_t v) {
  std::string out;
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
  return out;
}
std::string Tag(int field, int wire_type) {
  return Varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type));
}
std::string VarintField(int field, uint64_t v) { return Tag(field, 0) + Varint(v); }
std::string LengthDelimited(int field, std::string_view value) {
  return Tag(field, 2) + Varint(value.size()) + std::string(value);
}

TEST(CanonicalEncodingTest, WireOrderAndWireFormDoNotMatter) {
  const v1::AuthorisationPayload original = SampleAuthorisation();
  const std::string forward = original.SerializeAsString();

  // The same payload by hand: fields in reverse order (also inside the
  // Timestamps), an unknown field, an explicit default (case_id "",
  // disclosure_id ""), a non-minimal varint, and subject_count sent twice
  // (the last value wins).
  const std::string expires = VarintField(2, 250000000) + VarintField(1, 1700000030);
  const std::string issued = VarintField(2, 250000000) + VarintField(1, 1700000000);
  std::string reverse;
  reverse += LengthDelimited(14, "");
  reverse += LengthDelimited(13, Raw("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff"));
  reverse += LengthDelimited(12, expires);
  reverse += LengthDelimited(11, issued);
  reverse += LengthDelimited(10, std::string(32, '\xdd'));
  reverse += VarintField(99, 12345);  // unknown
  reverse += Tag(9, 0) + std::string("\x85\x80\x00", 3);  // 5, padded
  reverse += VarintField(8, 9);
  reverse += LengthDelimited(7, "2025.1");
  reverse += LengthDelimited(6, "");
  reverse += LengthDelimited(5, "riec.ondermijning");
  reverse += LengthDelimited(4, "politie-oost-nl");
  reverse += LengthDelimited(3, "riec-zuid");
  reverse += LengthDelimited(2, Raw("000102030405060708090a0b0c0d0e0f"));
  reverse += VarintField(1, 1);
  reverse += VarintField(8, 3);
  ASSERT_NE(reverse, forward);

  v1::AuthorisationPayload from_forward;
  v1::AuthorisationPayload from_reverse;
  ASSERT_TRUE(from_forward.ParseFromString(forward));
  ASSERT_TRUE(from_reverse.ParseFromString(reverse));
  EXPECT_EQ(EncodeHex(from_reverse), EncodeHex(from_forward));
  EXPECT_EQ(EncodeHex(from_reverse), kSampleAuthorisationHex);

  const crypto::SigningKey key = crypto::SigningKey::Generate();
  const v1::Signature signature = Sign(key, kAuthorisationContext, from_forward).value();
  EXPECT_TRUE(Verify(key.verify_key(), kAuthorisationContext, from_reverse, signature).ok());
  EXPECT_EQ(Digest(kAuthorisationContext, from_forward).value(),
            Digest(kAuthorisationContext, from_reverse).value());
}

// --- Signatures, key ids, digests ------------------------------------------

// RFC 8032 section 7.1, TEST 1.
crypto::SigningKey Rfc8032Key() {
  const crypto::Bytes seed =
      crypto::FromHex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60").value();
  std::array<uint8_t, crypto::kSigningSeedSize> s{};
  std::copy(seed.begin(), seed.end(), s.begin());
  return crypto::SigningKey::FromSeed(s);
}

// SM("schakel:v1:checkpoint", SampleCheckpoint()) written out.
std::string SampleCheckpointSignedMessageHex() {
  return StrCat("00000015", "736368616b656c3a76313a636865636b706f696e74", kSampleCheckpointHex);
}

TEST(CanonicalSignatureTest, SignedMessageIsContextThenMessage) {
  EXPECT_EQ(crypto::ToHex(SignedMessage(kCheckpointContext, SampleCheckpoint()).value()),
            SampleCheckpointSignedMessageHex());
  ExpectInvalid(SignedMessage("", SampleCheckpoint()).status(), "context");
}

TEST(CanonicalSignatureTest, KeyIdIsFirstEightBytesOfBlake2bOfThePublicKey) {
  // BLAKE2b-256(d75a9801...511a) = 7849ac3049680be1..., computed separately.
  EXPECT_EQ(crypto::ToHex(KeyId(Rfc8032Key().verify_key())), "7849ac3049680be1");
}

TEST(CanonicalSignatureTest, SignIsEd25519OverTheSignedMessage) {
  const crypto::SigningKey key = Rfc8032Key();
  const absl::StatusOr<v1::Signature> signature =
      Sign(key, kCheckpointContext, SampleCheckpoint());
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(crypto::ToHex(crypto::AsBytes(signature->key_id())), "7849ac3049680be1");
  ASSERT_EQ(signature->signature().size(), 64u);
  // Independent check: the raw Ed25519 signature over the bytes written out
  // above.
  const crypto::Bytes sm = crypto::FromHex(SampleCheckpointSignedMessageHex()).value();
  EXPECT_TRUE(key.verify_key().Verify(sm, crypto::AsBytes(signature->signature())).ok());
  const crypto::Signature direct = key.Sign(sm);
  EXPECT_EQ(signature->signature(), std::string(direct.begin(), direct.end()));
}

TEST(CanonicalSignatureTest, RoundTripAndEveryWayToFail) {
  const crypto::SigningKey key = crypto::SigningKey::Generate();
  const v1::AuthorisationPayload payload = SampleAuthorisation();
  const v1::Signature signature = Sign(key, kAuthorisationContext, payload).value();
  EXPECT_TRUE(Verify(key.verify_key(), kAuthorisationContext, payload, signature).ok());

  // A changed field.
  v1::AuthorisationPayload changed = payload;
  changed.set_subject_count(4);
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, changed, signature),
                "signature does not verify");
  // A changed default (empty case id now set) and a time moved by 1 ms.
  changed = payload;
  changed.set_case_id("2025-0042");
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, changed, signature),
                "signature does not verify");
  changed = payload;
  changed.mutable_expires_at()->set_nanos(251000000);
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, changed, signature),
                "signature does not verify");

  // The wrong context.
  ExpectInvalid(Verify(key.verify_key(), kReceiptContext, payload, signature),
                "signature does not verify");

  // Another key: the key id says so, naming both ids.
  const crypto::SigningKey other = crypto::SigningKey::Generate();
  const absl::Status mismatch = Verify(other.verify_key(), kAuthorisationContext, payload, signature);
  ExpectInvalid(mismatch, StrCat("key id ", crypto::ToHex(KeyId(key.verify_key())),
                                 " does not match the verifying key's id ",
                                 crypto::ToHex(KeyId(other.verify_key()))));

  // Another key's signature under this key's id.
  v1::Signature forged = Sign(other, kAuthorisationContext, payload).value();
  forged.set_key_id(signature.key_id());
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, payload, forged),
                "signature does not verify");

  // Malformed signatures.
  v1::Signature short_id = signature;
  short_id.set_key_id(signature.key_id().substr(0, 7));
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, payload, short_id),
                "key id has 7 bytes");
  v1::Signature truncated = signature;
  truncated.set_signature(signature.signature().substr(0, 63));
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, payload, truncated), "63");

  // A payload that cannot be encoded cannot be signed or verified.
  v1::AuthorisationPayload sub_ms = payload;
  sub_ms.mutable_issued_at()->set_nanos(250000001);
  ExpectInvalid(Sign(key, kAuthorisationContext, sub_ms).status(),
                "schakel.v1.AuthorisationPayload.issued_at");
  ExpectInvalid(Verify(key.verify_key(), kAuthorisationContext, sub_ms, signature),
                "schakel.v1.AuthorisationPayload.issued_at");
}

TEST(CanonicalDigestTest, KnownAnswerDeterministicAndContextSeparated) {
  const v1::CheckpointPayload checkpoint = SampleCheckpoint();
  // BLAKE2b-256 of SampleCheckpointSignedMessageHex(), computed separately.
  EXPECT_EQ(crypto::ToHex(Digest(kCheckpointContext, checkpoint).value()),
            "ef9d14cc429cf7563a05a2b52063b419dfd3169730180ce1d8543afc50e63ff1");
  EXPECT_EQ(Digest(kCheckpointContext, checkpoint).value(),
            crypto::Blake2b256Hash(SignedMessage(kCheckpointContext, checkpoint).value()));

  v1::CheckpointPayload copy;
  ASSERT_TRUE(copy.ParseFromString(checkpoint.SerializeAsString()));
  EXPECT_EQ(Digest(kCheckpointContext, copy).value(), Digest(kCheckpointContext, checkpoint).value());

  EXPECT_NE(Digest(kReceiptContext, checkpoint).value(),
            Digest(kCheckpointContext, checkpoint).value());
  EXPECT_NE(Digest(kLogRecordContext, v1::LogRecord()).value(),
            Digest(kNodeLogRecordContext, v1::LogRecord()).value());
  copy.set_sequence(6);
  EXPECT_NE(Digest(kCheckpointContext, copy).value(), Digest(kCheckpointContext, checkpoint).value());
}

TEST(CanonicalDigestTest, ElementBatchDigestIsOverTheElementsOnly) {
  v1::ElementBatch batch;
  batch.add_elements(std::string(32, '\x01'));
  crypto::Bytes expected = EncodeString(kElementBatchContext);
  const crypto::Bytes count = crypto::FromHex("00000001" "00000020").value();
  crypto::Append(expected, count);
  crypto::Append(expected, std::string_view(std::string(32, '\x01')));
  EXPECT_EQ(Digest(kElementBatchContext, batch).value(), crypto::Blake2b256Hash(expected));
}

// --- Value helpers and the log chains --------------------------------------

TEST(CanonicalChainTest, ValueHelpers) {
  EXPECT_EQ(crypto::ToHex(EncodeString("schakel:v1:log-entry")),
            "00000014736368616b656c3a76313a6c6f672d656e747279");
  EXPECT_EQ(crypto::ToHex(EncodeString("")), "00000000");
  EXPECT_EQ(crypto::ToHex(EncodeBytes(crypto::FromHex("ff00").value())), "00000002ff00");
  EXPECT_EQ(crypto::ToHex(EncodeUint64(0x0102030405060708)), "0102030405060708");
}

TEST(CanonicalChainTest, EntryHashKnownAnswers) {
  const std::array<uint8_t, 32> record_hash = [] {
    std::array<uint8_t, 32> h{};
    h.fill(0x11);
    return h;
  }();
  // Computed separately from the formula in log.proto.
  const DigestBytes gateway = EntryHash(1, kFirstPreviousHash, record_hash);
  EXPECT_EQ(crypto::ToHex(gateway),
            "0b7e5fd81107221cdb1bde7da469fd24671df3769fc892d7d858678468493ffa");
  const DigestBytes node = NodeEntryHash(1, kFirstPreviousHash, record_hash);
  EXPECT_EQ(crypto::ToHex(node),
            "bb942571af2ccacffdc56d67c9b6e1e0ba3f6dffd21b8063762ed91a36f6e2e1");

  // The formula, spelled out with the helpers.
  crypto::Bytes spelled = EncodeString(kLogEntryPrefix);
  crypto::Append(spelled, EncodeUint64(2));
  crypto::Append(spelled, EncodeBytes(gateway));
  crypto::Append(spelled, EncodeBytes(record_hash));
  EXPECT_EQ(EntryHash(2, gateway, record_hash), crypto::Blake2b256Hash(spelled));
  EXPECT_NE(EntryHash(2, gateway, record_hash), EntryHash(3, gateway, record_hash));
}

}  // namespace
}  // namespace schakel::canonical
