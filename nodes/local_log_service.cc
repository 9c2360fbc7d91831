#include "nodes/local_log_service.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <array>
#include <set>
#include <utility>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "nodes/signal_store.h"
#include "nodes/subject_keys.h"
#include "proto/canonical.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 2> kListRoles = {v1::ROLE_AUDITOR, v1::ROLE_ADMIN};
constexpr std::array<v1::Role, 1> kAuditorRoles = {v1::ROLE_AUDITOR};

int64_t Millis(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000 + ts.nanos() / 1'000'000;
}

absl::Status Problem(std::string field, std::string problem) {
  v1::ErrorDetail detail;
  v1::FieldProblem* p = detail.add_problems();
  p->set_field(field);
  p->set_problem(problem);
  return rpc::WithErrorDetail(absl::InvalidArgumentError(StrCat(field, ": ", problem)), detail);
}

}  // namespace

grpc::Status LocalLogService::ListLocalLog(grpc::ServerContext* context,
                                           const v1::ListLocalLogRequest* request,
                                           grpc::ServerWriter<v1::ListLocalLogResponse>* writer) {
  auto caller = authenticator_->Authenticate(*context, kListRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  LocalLogFilter filter;
  if (request->time().has_from()) filter.from_ms = Millis(request->time().from());
  if (request->time().has_to()) filter.to_ms = Millis(request->time().to());
  if (filter.from_ms && filter.to_ms && *filter.from_ms > *filter.to_ms) {
    return rpc::ToGrpcStatus(Problem("time", "from is after to (an inverted range)"));
  }
  for (int i = 0; i < request->kinds_size(); ++i) {
    if (!v1::LocalEventKind_IsValid(request->kinds(i)) ||
        request->kinds(i) == v1::LOCAL_EVENT_KIND_UNSPECIFIED) {
      return rpc::ToGrpcStatus(Problem(StrCat("kinds[", i, "]"), "not an event kind"));
    }
    filter.kinds.push_back(request->kinds(i));
  }
  if (!request->exchange_id().empty() && request->exchange_id().size() != 16) {
    return rpc::ToGrpcStatus(
        Problem("exchange_id", StrCat(request->exchange_id().size(), " bytes; exactly 16")));
  }
  filter.from_sequence = std::max<uint64_t>(request->from_sequence(), 1);
  filter.user_id = request->user_id();
  filter.purpose_id = request->purpose_id();
  filter.exchange_id = request->exchange_id();
  filter.limit = request->limit();

  // The query is recorded before anything is read (fail closed).
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  record.set_user_id(caller->user_id);
  record.set_role(caller->role);
  record.set_purpose_id(request->purpose_id());
  record.set_exchange_id(request->exchange_id());
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(
      StrCat("ListLocalLog from sequence ", filter.from_sequence,
             request->user_id().empty() ? "" : StrCat(", user ", request->user_id()),
             filter.kinds.empty() ? "" : StrCat(", ", filter.kinds.size(), " kind(s)"),
             filter.limit == 0 ? "" : StrCat(", limit ", filter.limit)));
  if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
    return rpc::ToGrpcStatus(absl::UnavailableError(
        StrCat("the node cannot record the query in its log: ", logged.status().message())));
  }

  bool cancelled = false;
  absl::Status scanned =
      log_->Scan(filter, kLocalLogBatch, [&](std::vector<v1::LocalLogEntry>& entries) {
        v1::ListLocalLogResponse response;
        for (v1::LocalLogEntry& e : entries) *response.add_entries() = std::move(e);
        if (!writer->Write(response)) {
          cancelled = true;
          return false;
        }
        return true;
      });
  if (cancelled) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  return rpc::ToGrpcStatus(scanned);
}

void LocalLogService::EnableAudit(AuditOptions options) {
  audit_ = std::move(options);
  if (audit_.gateway != nullptr) audit_stub_ = v1::Audit::NewStub(audit_.gateway->channel());
}

namespace {

constexpr size_t kGetEntriesBatch = 1000;

absl::Status NoGateway(std::string_view method) {
  return absl::FailedPreconditionError(
      StrCat("LocalLog.", method,
             " needs the gateway, and this node has none configured (gateway_endpoint)"));
}

bool InRange(const google::protobuf::Timestamp& t, const v1::TimeRange& range) {
  const int64_t at = Millis(t);
  if (range.has_from() && at < Millis(range.from())) return false;
  if (range.has_to() && at >= Millis(range.to())) return false;
  return true;
}

absl::Status CheckRange(const v1::TimeRange& range) {
  if (range.has_from() && range.has_to() && Millis(range.from()) > Millis(range.to())) {
    return Problem("time", "from is after to (an inverted range)");
  }
  return absl::OkStatus();
}

std::string HexStart(std::string_view bytes) {
  return crypto::ToHex(crypto::AsBytes(bytes.substr(0, std::min<size_t>(bytes.size(), 8))));
}

// Checks `receipt`'s signature with the gateway key its key id names.
absl::Status CheckSignature(const google::protobuf::Message& payload, std::string_view context,
                            const v1::Signature& signature,
                            const std::vector<crypto::VerifyKey>& keys) {
  absl::Status last = absl::InvalidArgumentError("no gateway signing key is configured");
  for (const crypto::VerifyKey& key : keys) {
    last = canonical::Verify(key, context, payload, signature);
    if (last.ok()) return last;
  }
  return last;
}

// Whether the entry's own hashes hold: its record hashes to record_hash,
// and entry_hash follows from sequence, previous_hash and record_hash.
bool EntrySelfConsistent(const v1::LogEntry& e) {
  auto record_hash = canonical::Digest(canonical::kLogRecordContext, e.record());
  if (!record_hash.ok()) return false;
  const std::string rh(reinterpret_cast<const char*>(record_hash->data()), record_hash->size());
  if (rh != e.record_hash()) return false;
  const auto entry_hash =
      canonical::EntryHash(e.sequence(), crypto::AsBytes(e.previous_hash()), *record_hash);
  return std::string(reinterpret_cast<const char*>(entry_hash.data()), entry_hash.size()) ==
         e.entry_hash();
}

bool LinkConsistent(const v1::ChainLink& link) {
  if (link.previous_hash().size() != canonical::kDigestSize ||
      link.record_hash().size() != canonical::kDigestSize) {
    return false;
  }
  const auto entry_hash = canonical::EntryHash(link.sequence(), crypto::AsBytes(link.previous_hash()),
                                               crypto::AsBytes(link.record_hash()));
  return std::string(reinterpret_cast<const char*>(entry_hash.data()), entry_hash.size()) ==
         link.entry_hash();
}

// A call to the gateway that ends with the local caller's call.
std::unique_ptr<grpc::ClientContext> GatewayCall(const grpc::ServerContext& context,
                                                 std::chrono::milliseconds timeout) {
  std::unique_ptr<grpc::ClientContext> client = grpc::ClientContext::FromServerContext(context);
  rpc::SetDeadline(*client, timeout);
  return client;
}

v1::Actor ActorOf(const LocalCaller& caller) {
  v1::Actor actor;
  actor.set_user_id(caller.user_id);
  actor.set_role(caller.role);
  return actor;
}

}  // namespace

grpc::Status LocalLogService::AuditSubject(grpc::ServerContext* context,
                                           const v1::AuditSubjectRequest* request,
                                           v1::AuditSubjectResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kAuditorRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  if (audit_stub_ == nullptr) return rpc::ToGrpcStatus(NoGateway("AuditSubject"));
  if (absl::Status range = CheckRange(request->time()); !range.ok()) {
    return rpc::ToGrpcStatus(range);
  }
  const absl::Time now = audit_.now ? audit_.now() : absl::Now();
  // Errors name the field, never its value.
  auto keys = SignalStore::MatchKeysOf(request->subject(), now);
  if (!keys.ok()) return rpc::ToGrpcStatus(keys.status());
  if (keys->empty()) {
    return rpc::ToGrpcStatus(Problem("subject", "no match key can be derived from it"));
  }
  std::vector<std::string> purposes;
  for (int i = 0; i < request->purpose_ids_size(); ++i) {
    const std::string& id = request->purpose_ids(i);
    if (!audit_.purpose_keys.contains(id)) {
      return rpc::ToGrpcStatus(Problem(StrCat("purpose_ids[", i, "]"),
                                       StrCat("this node does not answer purpose \"", id, "\"")));
    }
    if (std::find(purposes.begin(), purposes.end(), id) == purposes.end()) purposes.push_back(id);
  }
  if (purposes.empty()) {
    for (const auto& [id, key] : audit_.purpose_keys) purposes.push_back(id);
  }

  v1::FindSubjectEntriesRequest find;
  *find.mutable_actor() = ActorOf(*caller);
  if (request->has_time()) *find.mutable_time() = request->time();
  for (const std::string& purpose : purposes) {
    v1::TagSet& set = *find.add_tag_sets();
    set.set_org_id(audit_.own_org_id);
    set.set_purpose_id(purpose);
    std::set<std::string> seen;
    for (const crypto::MatchKey& k : *keys) {
      auto tag = audit_.purpose_keys.at(purpose).TagFor(crypto::AsBytes(k.OprfInput()));
      if (!tag.ok()) return rpc::ToGrpcStatus(tag.status());
      std::string bytes(reinterpret_cast<const char*>(tag->data()), tag->size());
      if (seen.insert(bytes).second) set.add_tags(std::move(bytes));
    }
  }
  std::map<v1::MatchKeyType, uint32_t> per_type;
  for (const crypto::MatchKey& k : *keys) ++per_type[MatchKeyTypeToProto(k.type)];

  auto call = GatewayCall(*context, audit_.gateway->options().call_timeout);
  v1::FindSubjectEntriesResponse found;
  const absl::Status status = GatewayClient::FromGateway(
      audit_stub_->FindSubjectEntries(call.get(), find, &found), "Audit.FindSubjectEntries");

  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  record.set_user_id(caller->user_id);
  record.set_role(caller->role);
  record.set_subject_count(1);
  record.set_outcome(status.ok() ? v1::OUTCOME_GRANTED : v1::OUTCOME_FAILED);
  record.set_detail(StrCat("AuditSubject: ", keys->size(), " key(s) under ", purposes.size(),
                           " purpose(s)",
                           status.ok() ? StrCat("; ", found.records_size(), " record(s) found")
                                       : StrCat("; the gateway answered ",
                                                absl::StatusCodeToString(status.code()))));
  if (found.has_receipt()) *record.add_receipts() = found.receipt();
  if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
    return rpc::ToGrpcStatus(absl::UnavailableError(StrCat(
        "the node cannot record the query in its log, so the answer is withheld: ",
        logged.status().message())));
  }
  if (!status.ok()) return rpc::ToGrpcStatus(status);
  *response->mutable_records() = std::move(*found.mutable_records());
  for (const std::string& p : purposes) response->add_purposes_checked(p);
  for (const auto& [type, count] : per_type) {
    v1::KeyTypeCount& c = *response->add_keys();
    c.set_key_type(type);
    c.set_count(count);
  }
  if (found.has_receipt()) *response->mutable_receipt() = found.receipt();
  return grpc::Status::OK;
}

grpc::Status LocalLogService::ReconcileReceipts(
    grpc::ServerContext* context, const v1::ReconcileReceiptsRequest* request,
    grpc::ServerWriter<v1::ReconcileReceiptsResponse>* writer) {
  auto caller = authenticator_->Authenticate(*context, kAuditorRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  if (audit_stub_ == nullptr) return rpc::ToGrpcStatus(NoGateway("ReconcileReceipts"));
  if (absl::Status range = CheckRange(request->time()); !range.ok()) {
    return rpc::ToGrpcStatus(range);
  }

  // The receipts kept, one per (sequence, entry hash), by sequence.
  std::map<std::pair<uint64_t, std::string>, v1::Receipt> kept;
  absl::Status scanned = log_->Scan(LocalLogFilter{}, kLocalLogBatch,
                                    [&](std::vector<v1::LocalLogEntry>& entries) {
                                      for (const v1::LocalLogEntry& e : entries) {
                                        for (const v1::Receipt& r : e.record().receipts()) {
                                          if (!InRange(r.payload().issued_at(), request->time())) {
                                            continue;
                                          }
                                          kept.try_emplace({r.payload().sequence(),
                                                            r.payload().entry_hash()},
                                                           r);
                                        }
                                      }
                                      return true;
                                    });
  if (!scanned.ok()) return rpc::ToGrpcStatus(scanned);

  v1::ReconcileReport report;
  std::vector<v1::Receipt> gateway_receipts;  // of the queries below
  auto finding = [&](const v1::Receipt& r, v1::ReconcileProblem problem, std::string detail) {
    v1::ReconcileFinding& f = *report.add_findings();
    *f.mutable_receipt() = r;
    f.set_problem(problem);
    f.set_detail(std::move(detail));
  };
  const uint64_t total = kept.size();
  auto progress = [&](uint64_t checked) {
    v1::ReconcileReceiptsResponse m;
    m.mutable_progress()->set_receipts_checked(checked);
    m.mutable_progress()->set_receipts_total(total);
    return writer->Write(m);
  };
  if (!progress(0)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");

  // 1. Signatures; then the entries of the receipts that verify.
  std::vector<const v1::Receipt*> valid;
  for (const auto& [key, r] : kept) {
    if (absl::Status ok = CheckSignature(r.payload(), canonical::kReceiptContext, r.signature(),
                                         audit_.gateway_keys);
        !ok.ok()) {
      finding(r, v1::RECONCILE_PROBLEM_RECEIPT_INVALID,
              StrCat("the receipt for entry ", key.first, " does not verify: ", ok.message()));
    } else {
      valid.push_back(&r);
    }
  }
  uint64_t checked = total - valid.size();
  for (size_t at = 0; at < valid.size(); at += kGetEntriesBatch) {
    const size_t end = std::min(valid.size(), at + kGetEntriesBatch);
    v1::GetEntriesRequest get;
    *get.mutable_actor() = ActorOf(*caller);
    std::set<uint64_t> asked;
    for (size_t i = at; i < end; ++i) asked.insert(valid[i]->payload().sequence());
    for (uint64_t s : asked) get.add_sequences(s);
    auto call = GatewayCall(*context, audit_.gateway->options().call_timeout);
    v1::GetEntriesResponse got;
    const absl::Status status =
        GatewayClient::FromGateway(audit_stub_->GetEntries(call.get(), get, &got), "Audit.GetEntries");
    if (!status.ok()) return rpc::ToGrpcStatus(status);
    if (got.has_receipt()) gateway_receipts.push_back(got.receipt());
    std::map<uint64_t, const v1::LogEntry*> entries;
    for (const v1::LogEntry& e : got.entries()) entries[e.sequence()] = &e;
    for (size_t i = at; i < end; ++i) {
      const v1::Receipt& r = *valid[i];
      const uint64_t seq = r.payload().sequence();
      auto it = entries.find(seq);
      if (it == entries.end()) {
        finding(r, v1::RECONCILE_PROBLEM_ENTRY_MISSING,
                StrCat("the gateway's log does not show entry ", seq));
      } else if (it->second->entry_hash() != r.payload().entry_hash()) {
        finding(r, v1::RECONCILE_PROBLEM_ENTRY_CHANGED,
                StrCat("entry ", seq, " has entry hash ", HexStart(it->second->entry_hash()),
                       "..., the receipt says ", HexStart(r.payload().entry_hash()), "..."));
      } else if (!EntrySelfConsistent(*it->second)) {
        finding(r, v1::RECONCILE_PROBLEM_ENTRY_CHANGED,
                StrCat("entry ", seq, " no longer hashes to the entry hash of the receipt: its "
                                      "content was changed"));
      }
      ++checked;
    }
    if (!progress(checked)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  }

  // 2. The chain up to the latest checkpoint.
  v1::ListCheckpointsRequest latest;
  *latest.mutable_actor() = ActorOf(*caller);
  latest.set_latest_only(true);
  v1::ListCheckpointsResponse checkpoints;
  {
    auto call = GatewayCall(*context, audit_.gateway->options().call_timeout);
    const absl::Status status = GatewayClient::FromGateway(
        audit_stub_->ListCheckpoints(call.get(), latest, &checkpoints), "Audit.ListCheckpoints");
    if (!status.ok()) return rpc::ToGrpcStatus(status);
    if (checkpoints.has_receipt()) gateway_receipts.push_back(checkpoints.receipt());
  }
  if (!checkpoints.checkpoints().empty()) {
    const v1::Checkpoint& cp = checkpoints.checkpoints(0);
    *report.mutable_checkpoint() = cp;
    const uint64_t head = cp.payload().sequence();
    std::map<uint64_t, std::vector<const v1::Receipt*>> covered;
    for (const v1::Receipt* r : valid) {
      if (r->payload().sequence() <= head) covered[r->payload().sequence()].push_back(r);
    }
    std::string broken;  // why the links do not lead to the signed head
    if (absl::Status sig = CheckSignature(cp.payload(), canonical::kCheckpointContext,
                                          cp.signature(), audit_.gateway_keys);
        !sig.ok()) {
      broken = StrCat("the checkpoint at entry ", head, " does not verify: ", sig.message());
    }
    std::map<uint64_t, std::string> link_hashes;  // of the covered sequences
    if (broken.empty() && !covered.empty()) {
      v1::ListChainLinksRequest links;
      *links.mutable_actor() = ActorOf(*caller);
      links.set_from_sequence(1);
      links.set_to_sequence(head);
      auto call = GatewayCall(*context, audit_.gateway->options().stream_timeout);
      auto reader = audit_stub_->ListChainLinks(call.get(), links);
      v1::ListChainLinksResponse m;
      std::string previous(canonical::kDigestSize, '\0');
      uint64_t expected = 1;
      while (reader->Read(&m)) {
        if (m.has_receipt()) gateway_receipts.push_back(m.receipt());
        for (const v1::ChainLink& l : m.links()) {
          if (!broken.empty()) break;
          if (l.sequence() != expected) {
            broken = StrCat("the chain links skip from entry ", expected - 1, " to ", l.sequence());
          } else if (l.previous_hash() != previous || !LinkConsistent(l)) {
            broken = StrCat("the chain links do not hold at entry ", l.sequence());
          }
          if (covered.contains(l.sequence())) link_hashes[l.sequence()] = l.entry_hash();
          previous = l.entry_hash();
          ++expected;
        }
      }
      const absl::Status status =
          GatewayClient::FromGateway(reader->Finish(), "Audit.ListChainLinks");
      if (!status.ok()) return rpc::ToGrpcStatus(status);
      if (broken.empty() && (expected != head + 1 || previous != cp.payload().head_hash())) {
        broken = StrCat("the chain links do not lead to the head hash the checkpoint at entry ",
                        head, " signs");
      }
    }
    for (const auto& [seq, receipts] : covered) {
      for (const v1::Receipt* r : receipts) {
        if (!broken.empty()) {
          finding(*r, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN, broken);
        } else if (link_hashes[seq] != r->payload().entry_hash()) {
          finding(*r, v1::RECONCILE_PROBLEM_NOT_IN_CHAIN,
                  StrCat("entry ", seq, " in the chain the checkpoint at entry ", head,
                         " signs has another entry hash than the receipt"));
        }
      }
    }
  }
  std::stable_sort(report.mutable_findings()->begin(), report.mutable_findings()->end(),
                   [](const v1::ReconcileFinding& a, const v1::ReconcileFinding& b) {
                     return a.receipt().payload().sequence() < b.receipt().payload().sequence();
                   });
  report.set_receipts_checked(total);
  report.set_consistent(report.findings().empty());

  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_AUDIT_QUERY);
  record.set_user_id(caller->user_id);
  record.set_role(caller->role);
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_detail(StrCat("ReconcileReceipts: ", total, " receipt(s) checked, ",
                           report.findings_size(), " finding(s)"));
  for (v1::Receipt& r : gateway_receipts) *record.add_receipts() = std::move(r);
  if (auto logged = log_->Append(std::move(record)); !logged.ok()) {
    return rpc::ToGrpcStatus(absl::UnavailableError(StrCat(
        "the node cannot record the query in its log, so the report is withheld: ",
        logged.status().message())));
  }
  v1::ReconcileReceiptsResponse last;
  *last.mutable_report() = std::move(report);
  if (!writer->Write(last)) return grpc::Status(grpc::StatusCode::CANCELLED, "the client went away");
  return grpc::Status::OK;
}

}  // namespace schakel::nodes
