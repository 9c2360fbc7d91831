#include "proto/canonical.h"

#include <algorithm>
#include <limits>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/strings.h"

namespace schakel::canonical {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::FileDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr std::string_view kTimestampType = "google.protobuf.Timestamp";
constexpr std::string_view kDurationType = "google.protobuf.Duration";
constexpr std::string_view kRule =
    "messages that are signed or hashed contain no oneof, map, float, double or proto3 "
    "optional field (signing.proto)";

// Valid ranges of the well-known types (google/protobuf/timestamp.proto and
// duration.proto): 0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z, and about
// +-10,000 years. Both keep seconds * 1000 well inside int64.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;
constexpr int64_t kMaxDurationSeconds = 315576000000;
constexpr int32_t kNanosPerMilli = 1000000;
constexpr int32_t kMaxNanos = 999999999;

bool IsTimeType(const Descriptor& type) {
  return type.full_name() == kTimestampType || type.full_name() == kDurationType;
}

void AppendUint32(crypto::Bytes& out, uint32_t value) { crypto::AppendI2osp(out, value, 4); }
void AppendUint64(crypto::Bytes& out, uint64_t value) { crypto::AppendI2osp(out, value, 8); }

// What makes a field unencodable, or empty when it is fine. Its type (when a
// message) is checked separately.
std::string FieldProblem(const FieldDescriptor& field) {
  if (field.is_map()) return "is a map";
  if (field.real_containing_oneof() != nullptr) {
    return StrCat("is in oneof `", field.real_containing_oneof()->name(), "`");
  }
  if (field.containing_oneof() != nullptr || field.has_optional_keyword()) {
    return "is a proto3 optional field";
  }
  switch (field.type()) {
    case FieldDescriptor::TYPE_FLOAT:
      return "is a float";
    case FieldDescriptor::TYPE_DOUBLE:
      return "is a double";
    case FieldDescriptor::TYPE_GROUP:
      return "is a group";
    default:
      return "";
  }
}

// Walks the schema of one root type, recording each reachable message
// type's fields in field-number order, and encodes values of that type.
class Encoder {
 public:
  explicit Encoder(crypto::Bytes& out) : out_(out) {}

  // OK when `root` and every message type it reaches can be encoded.
  absl::Status Check(const Descriptor& root) {
    root_name_ = std::string(root.full_name());
    std::vector<std::string> via;
    return CheckType(root, via);
  }

  // Appends CE(m). Check(*m.GetDescriptor()) must have returned OK.
  absl::Status EncodeMessage(const Message& m) {
    const Descriptor& type = *m.GetDescriptor();
    if (IsTimeType(type)) return EncodeTime(m);
    const Reflection& reflection = *m.GetReflection();
    for (const FieldDescriptor* field : fields_.at(&type)) {
      if (field->is_repeated()) {
        const int count = reflection.FieldSize(m, field);
        AppendUint32(out_, static_cast<uint32_t>(count));  // an int always fits
        for (int i = 0; i < count; ++i) {
          path_.emplace_back(field, i);
          absl::Status status = EncodeValue(m, *field, i);
          if (!status.ok()) return status;
          path_.pop_back();
        }
      } else {
        path_.emplace_back(field, -1);
        absl::Status status = EncodeValue(m, *field, -1);
        if (!status.ok()) return status;
        path_.pop_back();
      }
    }
    return absl::OkStatus();
  }

 private:
  absl::Status CheckType(const Descriptor& type, std::vector<std::string>& via) {
    if (!visited_.insert(&type).second) return absl::OkStatus();  // checked or being checked
    if (IsTimeType(type)) return absl::OkStatus();
    auto refuse = [&](std::string_view what, std::string_view rule = kRule) {
      std::string where;
      if (!via.empty()) {
        where = " (reached through ";
        for (size_t i = 0; i < via.size(); ++i) where += (i == 0 ? "" : ".") + via[i];
        where += ")";
      }
      return absl::InvalidArgumentError(
          StrCat(root_name_, " has no canonical encoding: ", what, where, "; ", rule));
    };
    if (std::string_view(type.file()->package()) == "google.protobuf") {
      return refuse(StrCat("well-known type ", type.full_name(), " is not allowed"),
                    "of the well-known types only google.protobuf.Timestamp and Duration have a "
                    "canonical encoding (signing.proto)");
    }
    if (type.file()->syntax() != FileDescriptor::SYNTAX_PROTO3) {
      return refuse(StrCat(type.full_name(), " is not a proto3 message"),
                    "the canonical encoding is defined for proto3 messages (signing.proto)");
    }
    std::vector<const FieldDescriptor*> fields;
    fields.reserve(static_cast<size_t>(type.field_count()));
    for (int i = 0; i < type.field_count(); ++i) fields.push_back(type.field(i));
    std::sort(fields.begin(), fields.end(), [](const FieldDescriptor* a, const FieldDescriptor* b) {
      return a->number() < b->number();
    });
    for (const FieldDescriptor* field : fields) {
      const std::string problem = FieldProblem(*field);
      if (!problem.empty()) {
        return refuse(StrCat("field ", field->full_name(), " ", problem));
      }
      if (field->type() == FieldDescriptor::TYPE_MESSAGE) {
        via.push_back(std::string(field->name()));
        absl::Status status = CheckType(*field->message_type(), via);
        if (!status.ok()) return status;
        via.pop_back();
      }
    }
    fields_.emplace(&type, std::move(fields));
    return absl::OkStatus();
  }

  // Appends CE of element `index` of a repeated field, or of the singular
  // field when index is -1.
  absl::Status EncodeValue(const Message& m, const FieldDescriptor& field, int index) {
    const Reflection& r = *m.GetReflection();
    const bool rep = index >= 0;
    const FieldDescriptor* f = &field;
    switch (field.type()) {
      case FieldDescriptor::TYPE_INT32:
      case FieldDescriptor::TYPE_SINT32:
      case FieldDescriptor::TYPE_SFIXED32:
        AppendUint32(out_, static_cast<uint32_t>(rep ? r.GetRepeatedInt32(m, f, index)
                                                     : r.GetInt32(m, f)));
        return absl::OkStatus();
      case FieldDescriptor::TYPE_UINT32:
      case FieldDescriptor::TYPE_FIXED32:
        AppendUint32(out_, rep ? r.GetRepeatedUInt32(m, f, index) : r.GetUInt32(m, f));
        return absl::OkStatus();
      case FieldDescriptor::TYPE_ENUM:
        // The number, also for values this build does not know (open enums).
        AppendUint32(out_, static_cast<uint32_t>(rep ? r.GetRepeatedEnumValue(m, f, index)
                                                     : r.GetEnumValue(m, f)));
        return absl::OkStatus();
      case FieldDescriptor::TYPE_INT64:
      case FieldDescriptor::TYPE_SINT64:
      case FieldDescriptor::TYPE_SFIXED64:
        AppendUint64(out_, static_cast<uint64_t>(rep ? r.GetRepeatedInt64(m, f, index)
                                                     : r.GetInt64(m, f)));
        return absl::OkStatus();
      case FieldDescriptor::TYPE_UINT64:
      case FieldDescriptor::TYPE_FIXED64:
        AppendUint64(out_, rep ? r.GetRepeatedUInt64(m, f, index) : r.GetUInt64(m, f));
        return absl::OkStatus();
      case FieldDescriptor::TYPE_BOOL:
        out_.push_back((rep ? r.GetRepeatedBool(m, f, index) : r.GetBool(m, f)) ? 1 : 0);
        return absl::OkStatus();
      case FieldDescriptor::TYPE_STRING:
      case FieldDescriptor::TYPE_BYTES: {
        std::string scratch;
        const std::string& value =
            rep ? r.GetRepeatedStringReference(m, f, index, &scratch)
                : r.GetStringReference(m, f, &scratch);
        if (value.size() > std::numeric_limits<uint32_t>::max()) {
          return Refuse(StrCat("is ", value.size(), " bytes long; at most 2^32 - 1 can be encoded"));
        }
        AppendUint32(out_, static_cast<uint32_t>(value.size()));
        crypto::Append(out_, std::string_view(value));
        return absl::OkStatus();
      }
      case FieldDescriptor::TYPE_MESSAGE:
        if (rep) return EncodeMessage(r.GetRepeatedMessage(m, f, index));
        if (!r.HasField(m, f)) {
          out_.push_back(0x00);
          return absl::OkStatus();
        }
        out_.push_back(0x01);
        return EncodeMessage(r.GetMessage(m, f));
      default:
        // Refused by Check (float, double, group).
        return Refuse(StrCat("has type ", field.type_name(), ", which has no canonical encoding"));
    }
  }

  // Appends CE(int64 milliseconds) of a Timestamp or Duration.
  absl::Status EncodeTime(const Message& t) {
    const Descriptor& type = *t.GetDescriptor();
    const bool is_duration = type.full_name() == kDurationType;
    const FieldDescriptor* seconds_field = type.FindFieldByNumber(1);
    const FieldDescriptor* nanos_field = type.FindFieldByNumber(2);
    const Reflection& r = *t.GetReflection();
    const int64_t seconds = r.GetInt64(t, seconds_field);
    const int32_t nanos = r.GetInt32(t, nanos_field);
    const std::string value = StrCat(type.full_name(), " {seconds: ", seconds, ", nanos: ", nanos, "}");
    if (is_duration) {
      if (seconds < -kMaxDurationSeconds || seconds > kMaxDurationSeconds ||
          nanos < -kMaxNanos || nanos > kMaxNanos || (seconds > 0 && nanos < 0) ||
          (seconds < 0 && nanos > 0)) {
        return Refuse(StrCat(value, " is not a valid Duration"));
      }
    } else if (seconds < kMinTimestampSeconds || seconds > kMaxTimestampSeconds || nanos < 0 ||
               nanos > kMaxNanos) {
      return Refuse(StrCat(value, " is not a valid Timestamp (years 0001 to 9999, nanos 0 to ",
                           kMaxNanos, ")"));
    }
    if (nanos % kNanosPerMilli != 0) {
      return Refuse(StrCat(value,
                           " is not a whole number of milliseconds; times that are signed or "
                           "hashed must be whole milliseconds (signing.proto)"));
    }
    AppendUint64(out_, static_cast<uint64_t>(seconds * 1000 + nanos / kNanosPerMilli));
    return absl::OkStatus();
  }

  // INVALID_ARGUMENT naming the current field path, e.g.
  // "schakel.v1.LogRecord.partners[2].latency: ...".
  absl::Status Refuse(std::string_view what) const {
    std::string path = root_name_;
    for (const auto& [field, index] : path_) {
      path += StrCat(".", field->name());
      if (index >= 0) path += StrCat("[", index, "]");
    }
    return absl::InvalidArgumentError(StrCat(path, ": ", what));
  }

  crypto::Bytes& out_;
  std::string root_name_;
  std::unordered_set<const Descriptor*> visited_;
  std::unordered_map<const Descriptor*, std::vector<const FieldDescriptor*>> fields_;
  std::vector<std::pair<const FieldDescriptor*, int>> path_;
};

absl::Status AppendEncoding(crypto::Bytes& out, const Message& m) {
  Encoder encoder(out);
  absl::Status status = encoder.Check(*m.GetDescriptor());
  if (!status.ok()) return status;
  return encoder.EncodeMessage(m);
}

DigestBytes ChainHash(std::string_view prefix, uint64_t sequence, crypto::ByteView previous_hash,
                      crypto::ByteView record_hash) {
  crypto::Blake2b256 hash;
  hash.Update(EncodeString(prefix));
  hash.Update(EncodeUint64(sequence));
  hash.Update(EncodeBytes(previous_hash));
  hash.Update(EncodeBytes(record_hash));
  return hash.Final();
}

}  // namespace

absl::Status CheckEncodable(const Descriptor& type) {
  crypto::Bytes unused;
  Encoder encoder(unused);
  return encoder.Check(type);
}

absl::StatusOr<crypto::Bytes> Encode(const Message& m) {
  crypto::Bytes out;
  absl::Status status = AppendEncoding(out, m);
  if (!status.ok()) return status;
  return out;
}

crypto::Bytes EncodeString(std::string_view s) { return EncodeBytes(crypto::AsBytes(s)); }

crypto::Bytes EncodeBytes(crypto::ByteView b) {
  crypto::Bytes out;
  out.reserve(4 + b.size());
  crypto::AppendI2osp(out, b.size(), 4);  // aborts when the length does not fit
  crypto::Append(out, b);
  return out;
}

crypto::Bytes EncodeUint64(uint64_t value) {
  crypto::Bytes out;
  AppendUint64(out, value);
  return out;
}

absl::StatusOr<crypto::Bytes> SignedMessage(std::string_view context, const Message& m) {
  if (context.empty()) {
    return absl::InvalidArgumentError(
        StrCat("signing context for ", m.GetDescriptor()->full_name(),
               " is empty; use one of the context strings of signing.proto"));
  }
  crypto::Bytes out = EncodeString(context);
  absl::Status status = AppendEncoding(out, m);
  if (!status.ok()) return status;
  return out;
}

KeyIdBytes KeyId(const crypto::VerifyKey& key) {
  const DigestBytes digest = crypto::Blake2b256Hash(key.bytes());
  KeyIdBytes id;
  std::copy_n(digest.begin(), id.size(), id.begin());
  return id;
}

absl::StatusOr<v1::Signature> Sign(const crypto::SigningKey& key, std::string_view context,
                                   const Message& m) {
  absl::StatusOr<crypto::Bytes> message = SignedMessage(context, m);
  if (!message.ok()) return message.status();
  const crypto::Signature signature = key.Sign(*message);
  const KeyIdBytes key_id = KeyId(key.verify_key());
  v1::Signature out;
  out.set_key_id(std::string(key_id.begin(), key_id.end()));
  out.set_signature(std::string(signature.begin(), signature.end()));
  return out;
}

absl::Status Verify(const crypto::VerifyKey& key, std::string_view context, const Message& m,
                    const v1::Signature& signature) {
  const std::string_view type = m.GetDescriptor()->full_name();
  const KeyIdBytes expected = KeyId(key);
  const crypto::ByteView key_id = crypto::AsBytes(signature.key_id());
  if (key_id.size() != kKeyIdSize) {
    return absl::InvalidArgumentError(StrCat("signature over ", type, ": key id has ",
                                             key_id.size(), " bytes; a key id is ", kKeyIdSize,
                                             " bytes"));
  }
  if (!std::equal(key_id.begin(), key_id.end(), expected.begin())) {
    return absl::InvalidArgumentError(
        StrCat("signature over ", type, ": key id ", crypto::ToHex(key_id),
               " does not match the verifying key's id ", crypto::ToHex(expected)));
  }
  absl::StatusOr<crypto::Bytes> message = SignedMessage(context, m);
  if (!message.ok()) return message.status();
  absl::Status status = key.Verify(*message, crypto::AsBytes(signature.signature()));
  if (!status.ok()) {
    // "Ed25519 signature: signature does not verify" or a length problem.
    return absl::InvalidArgumentError(StrCat(type, " (context \"", context, "\", key id ",
                                             crypto::ToHex(expected), "): ", status.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<DigestBytes> Digest(std::string_view context, const Message& m) {
  absl::StatusOr<crypto::Bytes> message = SignedMessage(context, m);
  if (!message.ok()) return message.status();
  return crypto::Blake2b256Hash(*message);
}

DigestBytes EntryHash(uint64_t sequence, crypto::ByteView previous_hash,
                      crypto::ByteView record_hash) {
  return ChainHash(kLogEntryPrefix, sequence, previous_hash, record_hash);
}

DigestBytes NodeEntryHash(uint64_t sequence, crypto::ByteView previous_hash,
                          crypto::ByteView record_hash) {
  return ChainHash(kNodeLogEntryPrefix, sequence, previous_hash, record_hash);
}

}  // namespace schakel::canonical
