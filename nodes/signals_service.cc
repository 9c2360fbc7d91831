#include "nodes/signals_service.h"

#include <google/protobuf/util/field_mask_util.h>

#include <algorithm>
#include <array>
#include <set>

#include "common/strings.h"
#include "common/utf8.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::array<v1::Role, 2> kSignalRoles = {v1::ROLE_PROFESSIONAL, v1::ROLE_ADMIN};
constexpr size_t kListBatch = 500;
constexpr size_t kMaxReasonChars = 2000;
constexpr int kUpdateAttempts = 3;

// INVALID_ARGUMENT with every problem in the ErrorDetail.
absl::Status ProblemsStatus(const std::vector<SignalProblem>& problems, std::string_view prefix) {
  v1::ErrorDetail detail;
  std::string message;
  for (const SignalProblem& p : problems) {
    const std::string field = p.field.empty() ? std::string(prefix.substr(0, prefix.size() - 1))
                                              : StrCat(prefix, p.field);
    v1::FieldProblem* problem = detail.add_problems();
    problem->set_field(field);
    problem->set_problem(p.problem);
    message += StrCat(message.empty() ? "" : "; ", field, ": ", p.problem);
  }
  return rpc::WithErrorDetail(absl::InvalidArgumentError(message), detail);
}

absl::Status OneProblem(std::string field, std::string problem) {
  return ProblemsStatus({{std::move(field), std::move(problem)}}, "");
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ms = absl::ToUnixMillis(t);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
}

// Paths UpdateSignal may change, and the prefixes under which sub-paths are
// accepted.
bool UpdatablePath(std::string_view path) {
  static const std::set<std::string_view> kExact = {"subject",    "category", "domain",
                                                    "expires_at", "contact",  "free_text"};
  if (kExact.contains(path)) return true;
  return path.starts_with("subject.") || path.starts_with("contact.");
}

bool OwnerOrAdmin(const LocalCaller& caller, const v1::Signal& signal) {
  return caller.role == v1::ROLE_ADMIN || signal.owner_user_id() == caller.user_id;
}

}  // namespace

SignalsService::SignalsService(SignalStore* signals, store::KvStore* kv, LocalLog* log,
                               LocalAuthenticator* authenticator, Options options)
    : signals_(signals),
      kv_(kv),
      log_(log),
      authenticator_(authenticator),
      options_(std::move(options)) {}

grpc::Status SignalsService::AddSignal(grpc::ServerContext* context,
                                       const v1::AddSignalRequest* request,
                                       v1::AddSignalResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  const absl::Time now = Now();
  v1::Signal candidate = request->signal();
  if (candidate.signal_id().empty()) candidate.set_signal_id("assigned");  // as Add would
  if (std::vector<SignalProblem> problems = signals_->Validate(candidate, now); !problems.empty()) {
    return rpc::ToGrpcStatus(ProblemsStatus(problems, "signal."));
  }
  auto added = signals_->Add(request->signal(), now, caller->user_id, caller->role);
  if (!added.ok()) return rpc::ToGrpcStatus(added.status());
  *response->mutable_signal() = *std::move(added);
  Queued();
  return grpc::Status::OK;
}

grpc::Status SignalsService::GetSignal(grpc::ServerContext* context,
                                       const v1::GetSignalRequest* request,
                                       v1::GetSignalResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  if (!SignalStore::ValidSignalId(request->signal_id())) {
    return rpc::ToGrpcStatus(
        OneProblem("signal_id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'"));
  }
  auto signal = signals_->Get(request->signal_id());
  if (!signal.ok()) return rpc::ToGrpcStatus(signal.status());
  *response->mutable_signal() = *std::move(signal);
  return grpc::Status::OK;
}

grpc::Status SignalsService::ListSignals(grpc::ServerContext* context,
                                         const v1::ListSignalsRequest* request,
                                         grpc::ServerWriter<v1::ListSignalsResponse>* writer) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  const absl::Time now = Now();
  std::vector<SignalProblem> problems;
  for (int i = 0; i < request->domains_size(); ++i) {
    if (!v1::Domain_IsValid(request->domains(i)) || request->domains(i) == v1::DOMAIN_UNSPECIFIED) {
      problems.push_back({StrCat("domains[", i, "]"), "not a domain"});
    }
  }
  if (request->has_registered() && request->registered().has_from() &&
      request->registered().has_to() &&
      ToTime(request->registered().from()) > ToTime(request->registered().to())) {
    problems.push_back({"registered", "from is after to"});
  }
  // The subject filter compares canonical match keys.
  std::set<std::string> wanted_keys;
  if (request->has_subject()) {
    auto keys = SignalStore::MatchKeysOf(request->subject(), now);
    if (!keys.ok()) {
      problems.push_back({"subject", std::string(keys.status().message())});
    } else {
      for (const crypto::MatchKey& k : *keys) wanted_keys.insert(k.OprfInput());
    }
  }
  if (!problems.empty()) return rpc::ToGrpcStatus(ProblemsStatus(problems, ""));

  const std::set<std::string> categories(request->categories().begin(),
                                         request->categories().end());
  const std::set<int> domains(request->domains().begin(), request->domains().end());
  const auto matches = [&](const v1::Signal& s) {
    if (!categories.empty() && !categories.contains(s.category())) return false;
    if (!domains.empty() && !domains.contains(s.domain())) return false;
    if (!request->owner_user_id().empty() && s.owner_user_id() != request->owner_user_id()) {
      return false;
    }
    if (request->has_registered()) {
      const absl::Time at = ToTime(s.registered_at());
      if (request->registered().has_from() && at < ToTime(request->registered().from())) {
        return false;
      }
      if (request->registered().has_to() && at >= ToTime(request->registered().to())) {
        return false;
      }
    }
    if (request->has_expires_before() &&
        ToTime(s.expires_at()) >= ToTime(request->expires_before())) {
      return false;
    }
    if (!request->family_id().empty() && s.subject().family_id() != request->family_id()) {
      return false;
    }
    if (request->has_subject()) {
      auto keys = SignalStore::MatchKeysOf(s.subject(), now);
      if (!keys.ok()) return false;
      if (std::none_of(keys->begin(), keys->end(), [&](const crypto::MatchKey& k) {
            return wanted_keys.contains(k.OprfInput());
          })) {
        return false;
      }
    }
    return true;
  };

  ListOptions options;
  options.page_size = 1000;
  uint64_t sent = 0;
  v1::ListSignalsResponse batch;
  while (true) {
    if (context->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
    auto page = signals_->List(options);
    if (!page.ok()) return rpc::ToGrpcStatus(page.status());
    for (v1::Signal& s : page->signals) {
      if (!matches(s)) continue;
      *batch.add_signals() = std::move(s);
      ++sent;
      const bool done = request->limit() != 0 && sent >= request->limit();
      if (static_cast<size_t>(batch.signals_size()) >= kListBatch || done) {
        if (!writer->Write(batch)) return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
        batch.Clear();
      }
      if (done) return grpc::Status::OK;
    }
    if (page->next_page_token.empty()) break;
    options.page_token = page->next_page_token;
  }
  if (batch.signals_size() > 0 && !writer->Write(batch)) {
    return grpc::Status(grpc::StatusCode::CANCELLED, "cancelled");
  }
  return grpc::Status::OK;
}

grpc::Status SignalsService::UpdateSignal(grpc::ServerContext* context,
                                          const v1::UpdateSignalRequest* request,
                                          v1::UpdateSignalResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  std::vector<SignalProblem> problems;
  if (!SignalStore::ValidSignalId(request->signal().signal_id())) {
    problems.push_back(
        {"signal.signal_id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'"});
  }
  if (request->update_mask().paths_size() == 0) {
    problems.push_back({"update_mask", "no path; name the fields to change, e.g. \"free_text\""});
  }
  for (int i = 0; i < request->update_mask().paths_size(); ++i) {
    const std::string& path = request->update_mask().paths(i);
    if (!UpdatablePath(path) || !google::protobuf::util::FieldMaskUtil::GetFieldDescriptors(
                                    v1::Signal::descriptor(), path, nullptr)) {
      problems.push_back({StrCat("update_mask.paths[", i, "]"),
                          StrCat("\"", path.substr(0, 64),
                                 "\" cannot be changed; allowed: subject (and its fields), "
                                 "category, domain, expires_at, contact (and its fields), "
                                 "free_text")});
    }
  }
  if (Utf8Chars(request->reason()) > kMaxReasonChars) {
    problems.push_back({"reason", StrCat("longer than ", kMaxReasonChars, " characters")});
  }
  if (!problems.empty()) return rpc::ToGrpcStatus(ProblemsStatus(problems, ""));

  google::protobuf::util::FieldMaskUtil::MergeOptions merge;
  merge.set_replace_message_fields(true);
  merge.set_replace_repeated_fields(true);
  const bool expires_in_mask =
      std::find(request->update_mask().paths().begin(), request->update_mask().paths().end(),
                "expires_at") != request->update_mask().paths().end();
  const SignalActor actor{caller->user_id, caller->role, request->reason()};
  for (int attempt = 0;; ++attempt) {
    auto stored = signals_->Get(request->signal().signal_id());
    if (!stored.ok()) return rpc::ToGrpcStatus(stored.status());
    if (!OwnerOrAdmin(*caller, *stored)) {
      return rpc::ToGrpcStatus(
          absl::PermissionDeniedError("only the signal's owner or an admin may change it"));
    }
    if (request->expected_version() != 0 && stored->version() != request->expected_version()) {
      return rpc::ToGrpcStatus(
          absl::AbortedError(StrCat("signal: version is ", stored->version(), ", not ",
                                    request->expected_version(), "; re-read and retry")));
    }
    v1::Signal replacement = *stored;
    google::protobuf::util::FieldMaskUtil::MergeMessageTo(request->signal(), request->update_mask(),
                                                          merge, &replacement);
    // Unchanged expires_at: the store keeps it, or recomputes it when the
    // category changes.
    if (!expires_in_mask) replacement.clear_expires_at();
    const absl::Time now = Now();
    v1::Signal check = replacement;
    if (!check.has_expires_at()) *check.mutable_expires_at() = stored->expires_at();
    if (replacement.category() != stored->category() && !expires_in_mask) check.clear_expires_at();
    if (std::vector<SignalProblem> found = signals_->Validate(check, now); !found.empty()) {
      return rpc::ToGrpcStatus(ProblemsStatus(found, "signal."));
    }
    // Without an expected version the stored one guards against a change
    // made between reading and writing; such a race is retried.
    auto updated = signals_->Update(std::move(replacement), stored->version(), now, actor);
    if (absl::IsAborted(updated.status()) && request->expected_version() == 0 &&
        attempt + 1 < kUpdateAttempts) {
      continue;
    }
    if (!updated.ok()) return rpc::ToGrpcStatus(updated.status());
    *response->mutable_signal() = *std::move(updated);
    Queued();
    return grpc::Status::OK;
  }
}

grpc::Status SignalsService::DeleteSignal(grpc::ServerContext* context,
                                          const v1::DeleteSignalRequest* request,
                                          v1::DeleteSignalResponse* response) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  std::vector<SignalProblem> problems;
  if (!SignalStore::ValidSignalId(request->signal_id())) {
    problems.push_back({"signal_id", "must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '-'"});
  }
  if (request->reason().empty() || Utf8Chars(request->reason()) > kMaxReasonChars) {
    problems.push_back(
        {"reason", StrCat("must be 1 to ", kMaxReasonChars,
                          " characters (e.g. \"correction\", \"erasure request\")")});
  }
  if (!problems.empty()) return rpc::ToGrpcStatus(ProblemsStatus(problems, ""));
  auto stored = signals_->Get(request->signal_id());
  if (!stored.ok()) return rpc::ToGrpcStatus(stored.status());
  if (!OwnerOrAdmin(*caller, *stored)) {
    return rpc::ToGrpcStatus(
        absl::PermissionDeniedError("only the signal's owner or an admin may delete it"));
  }
  const uint64_t expected =
      request->expected_version() != 0 ? request->expected_version() : stored->version();
  auto withdrawn = signals_->Delete(request->signal_id(), expected,
                                    {caller->user_id, caller->role, request->reason()});
  if (!withdrawn.ok()) return rpc::ToGrpcStatus(withdrawn.status());
  SetTime(Now(), response->mutable_deleted_at());
  response->set_tags_withdrawn(*withdrawn);
  Queued();
  return grpc::Status::OK;
}

grpc::Status SignalsService::ImportSignals(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<v1::ImportSignalsResponse, v1::ImportSignalsRequest>* stream) {
  auto caller = authenticator_->Authenticate(*context, kSignalRoles);
  if (!caller.ok()) return rpc::ToGrpcStatus(caller.status());
  v1::ImportSignalsRequest message;
  if (!stream->Read(&message) || !message.has_header()) {
    return rpc::ToGrpcStatus(
        OneProblem("header", "the first message of an import must be its header"));
  }
  auto import = SignalImport::Begin(signals_, kv_, log_, message.header(),
                                    {caller->user_id, caller->role, ""}, Now(), options_.import);
  if (!import.ok()) return rpc::ToGrpcStatus(import.status());

  auto last_progress = std::chrono::steady_clock::now();
  const auto maybe_progress = [&](const v1::ImportProgress& progress) {
    const auto now = std::chrono::steady_clock::now();
    if (now - last_progress < options_.progress_interval) return;
    last_progress = now;
    v1::ImportSignalsResponse update;
    *update.mutable_progress() = progress;
    stream->Write(update);  // a client that went away is noticed at the next Read
  };
  while (stream->Read(&message)) {
    if (message.has_header()) {
      (void)(*import)->Abandon("a second header");
      return rpc::ToGrpcStatus(OneProblem("header", "a second header; send one per import"));
    }
    if (message.has_rows()) {
      if (absl::Status added = (*import)->AddRows(message.rows()); !added.ok()) {
        (void)(*import)->Abandon(std::string(added.message()));
        return rpc::ToGrpcStatus(added);
      }
      maybe_progress((*import)->Progress());
      continue;
    }
    if (message.has_end()) {
      auto result = (*import)->Finish(message.end().commit(), maybe_progress);
      if (!result.ok()) return rpc::ToGrpcStatus(result.status());
      if (result->committed()) Queued();
      v1::ImportSignalsResponse last;
      *last.mutable_result() = *std::move(result);
      stream->Write(last);
      return grpc::Status::OK;
    }
    (void)(*import)->Abandon("an empty message");
    return rpc::ToGrpcStatus(
        OneProblem("part", "an empty message; send a header, rows or the end"));
  }
  (void)(*import)->Abandon("the stream ended without an end message");
  return rpc::ToGrpcStatus(absl::InvalidArgumentError(
      "end: the stream ended without an end message; nothing was stored"));
}

}  // namespace schakel::nodes
