// The Schakel canonical encoding (CE) and what is built on it: signed
// messages, signatures, digests, key ids and the exchange-log chain hashes,
// exactly as proto/schakel/v1/signing.proto and log.proto define them.
//
// Signatures and hashes are never computed over protobuf wire bytes. They are
// computed over CE(m), which a verifier recomputes from the fields it
// received, so two parties that parsed different (but equivalent) wire bytes
// agree on what was signed.
//
// Encode is implemented once, generically, with protobuf reflection:
//   * fields in increasing field-number order, default values included,
//     unknown fields ignored;
//   * 32-bit integers and enums (int32, uint32, sint32, fixed32, sfixed32,
//     enum) as 4 bytes big-endian, two's complement where signed; 64-bit
//     integers (int64, uint64, sint64, fixed64, sfixed64) as 8 bytes;
//     bool as 1 byte; string and bytes as a uint32 length and the bytes;
//   * google.protobuf.Timestamp and Duration as int64 milliseconds;
//   * a singular message field as 0x00 when unset, else 0x01 || CE(value);
//   * a repeated field as a uint32 count and each element (elements of a
//     repeated message field carry no presence byte).
// A message type can be encoded only when neither it nor any message type it
// reaches has a oneof, map, float, double or proto3 `optional` field, a
// group, or a well-known type other than Timestamp and Duration. This is
// checked on the schema, not on the values: a type is encodable or not
// whatever fields happen to be set.
//
// Errors: every function taking a message returns INVALID_ARGUMENT when the
// type cannot be encoded (naming the type and the field), or when a value has
// no canonical encoding (a time that is not a whole number of milliseconds or
// out of range, a string or list longer than 2^32 - 1), naming the field path,
// e.g. "schakel.v1.LogRecord.partners[2].latency".
//
// Thread safety: free functions only; all are reentrant. A message must not
// be modified while it is being encoded.
#ifndef SCHAKEL_PROTO_CANONICAL_H_
#define SCHAKEL_PROTO_CANONICAL_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "crypto/bytes.h"
#include "crypto/hash.h"
#include "crypto/signing.h"
#include "schakel/v1/signing.pb.h"

namespace schakel::canonical {

// Context strings (signing.proto); each is used for exactly one message type.
// AuthorisationPayload, signed by the gateway.
inline constexpr char kAuthorisationContext[] = "schakel:v1:authorisation";
// ElementBatch, digested into AuthorisationPayload.request_digest (EVALUATE).
inline constexpr char kElementBatchContext[] = "schakel:v1:element-batch";
// DisclosureOrder, digested into AuthorisationPayload.request_digest (DISCLOSE).
inline constexpr char kDisclosureOrderContext[] = "schakel:v1:disclosure-order";
// EvaluationStatement, signed by the answering node.
inline constexpr char kEvaluationContext[] = "schakel:v1:evaluation";
// DisclosureStatement, signed by the answering node.
inline constexpr char kDisclosureContext[] = "schakel:v1:disclosure";
// ReceiptPayload, signed by the gateway.
inline constexpr char kReceiptContext[] = "schakel:v1:receipt";
// CheckpointPayload, signed by the gateway.
inline constexpr char kCheckpointContext[] = "schakel:v1:checkpoint";
// LogRecord, digested into LogEntry.record_hash.
inline constexpr char kLogRecordContext[] = "schakel:v1:log-record";
// LocalLogRecord, digested into LocalLogEntry.record_hash.
inline constexpr char kNodeLogRecordContext[] = "schakel:v1:node-log-record";
// The literal first terms of the gateway's and the node's chain hashes
// (EntryHash, NodeEntryHash below).
inline constexpr char kLogEntryPrefix[] = "schakel:v1:log-entry";
inline constexpr char kNodeLogEntryPrefix[] = "schakel:v1:node-log-entry";

// Sizes (signing.proto, common.proto).
inline constexpr size_t kKeyIdSize = 8;
inline constexpr size_t kDigestSize = 32;

using KeyIdBytes = std::array<uint8_t, kKeyIdSize>;
using DigestBytes = crypto::Blake2b256Digest;  // 32 bytes

// previous_hash of the first entry of either log chain: 32 zero bytes.
inline constexpr DigestBytes kFirstPreviousHash{};

// OK when messages of `type` can be canonically encoded (see the top of this
// file); else INVALID_ARGUMENT naming `type`, the offending field and what is
// wrong with it.
absl::Status CheckEncodable(const google::protobuf::Descriptor& type);

// CE(m). Errors: see the top of this file.
absl::StatusOr<crypto::Bytes> Encode(const google::protobuf::Message& m);

// CE of single values, for the terms of the log chain hashes and for tests.
// EncodeString and EncodeBytes require size < 2^32 (the process aborts
// otherwise: a truncated length would change what the bytes mean).
crypto::Bytes EncodeString(std::string_view s);
crypto::Bytes EncodeBytes(crypto::ByteView b);
crypto::Bytes EncodeUint64(uint64_t value);

// SM(context, m) = CE(string context) || CE(m). `context` must not be empty
// (INVALID_ARGUMENT); use the constants above.
absl::StatusOr<crypto::Bytes> SignedMessage(std::string_view context,
                                            const google::protobuf::Message& m);

// The key id of a public key: the first 8 bytes of BLAKE2b-256 of its raw
// 32 bytes.
KeyIdBytes KeyId(const crypto::VerifyKey& key);

// Ed25519 over SM(context, m) with `key`; key_id is KeyId(key.verify_key()),
// signature is 64 bytes. Errors: as SignedMessage.
absl::StatusOr<v1::Signature> Sign(const crypto::SigningKey& key, std::string_view context,
                                   const google::protobuf::Message& m);

// Checks that `signature` is `key`'s signature over SM(context, m).
// Errors, all INVALID_ARGUMENT: the key id is not 8 bytes or is not
// KeyId(key) ("key id ... does not match", naming both ids); the signature
// is not 64 bytes; "signature does not verify" (wrong key, context or
// message); and those of SignedMessage.
absl::Status Verify(const crypto::VerifyKey& key, std::string_view context,
                    const google::protobuf::Message& m, const v1::Signature& signature);

// D(context, m) = BLAKE2b-256(SM(context, m)). Errors: as SignedMessage.
absl::StatusOr<DigestBytes> Digest(std::string_view context, const google::protobuf::Message& m);

// The gateway's log chain (log.proto):
//   BLAKE2b-256( CE(string "schakel:v1:log-entry") || CE(uint64 sequence)
//                || CE(bytes previous_hash) || CE(bytes record_hash) ).
// Hashes whatever it is given: the caller checks that both hashes are 32
// bytes (previous_hash of entry 1 is kFirstPreviousHash).
DigestBytes EntryHash(uint64_t sequence, crypto::ByteView previous_hash,
                      crypto::ByteView record_hash);

// The node's local log chain (local.proto, LocalLogEntry): the same with
// "schakel:v1:node-log-entry" in place of "schakel:v1:log-entry".
DigestBytes NodeEntryHash(uint64_t sequence, crypto::ByteView previous_hash,
                          crypto::ByteView record_hash);

}  // namespace schakel::canonical

#endif  // SCHAKEL_PROTO_CANONICAL_H_
