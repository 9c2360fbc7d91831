#include "gateway/directory_in_force.h"

#include <utility>

#include "common/json_checker.h"
#include "common/strings.h"
#include "gateway/authoriser.h"
#include "gateway/service_records.h"
#include "rpc/status.h"
#include "schakel/v1/errors.pb.h"

namespace schakel::gateway {
namespace {

v1::LogRecord DirectoryRecordBase(absl::Time now, std::string_view policy_version,
                                  const v1::Requester& by, v1::Outcome outcome) {
  v1::LogRecord r;
  r.set_kind(v1::RECORD_KIND_DIRECTORY_CHANGED);
  SetMillis(r.mutable_recorded_at(), absl::ToUnixMillis(now));
  r.set_policy_version(std::string(policy_version));
  *r.mutable_requester() = by;
  r.set_outcome(outcome);
  return r;
}

// "<path>: <problem>" lines of a refused file (Directory::Parse: a first
// line "<source>: directory refused, N problem(s):", then one per problem).
std::vector<std::string> ProblemLines(std::string_view message) {
  std::vector<std::string> lines;
  size_t at = message.find('\n');
  while (at != std::string_view::npos) {
    const size_t next = message.find('\n', at + 1);
    std::string_view line = message.substr(at + 1, next == std::string_view::npos ? next : next - at - 1);
    if (!line.empty()) lines.emplace_back(line);
    at = next;
  }
  return lines;
}

}  // namespace

absl::Time DirectoryInForce::Now() const {
  return absl::FromUnixMillis(absl::ToUnixMillis(options_.now ? options_.now() : absl::Now()));
}

void DirectoryInForce::Note(std::string_view line) const {
  if (options_.log_line) options_.log_line(line);
}

absl::StatusOr<std::vector<ExchangeLog::Appended>> DirectoryInForce::Record(
    const DirectoryChanges& changes, const v1::Requester& by, absl::Time now,
    std::string_view detail_prefix) {
  const std::string policy_version = options_.policy_version ? options_.policy_version() : "";
  std::vector<ExchangeLog::Appended> entries;
  for (size_t i = 0; i < changes.records.size(); ++i) {
    const v1::DirectoryRecord& d = changes.records[i];
    v1::LogRecord r = DirectoryRecordBase(now, policy_version, by, v1::OUTCOME_GRANTED);
    *r.mutable_directory() = d;
    r.add_answering_org_ids(d.organisation().org_id());
    r.set_detail(StrCat(detail_prefix, v1::DirectoryChange_Name(d.change())));
    const bool last = i + 1 == changes.records.size();
    auto appended = log_->Append(r, [&](uint64_t, store::WriteBatch& batch) {
      if (!last) return;
      for (const store::WriteBatch::Op& op : changes.writes.ops()) batch.Put(op.key, op.value);
    });
    if (!appended.ok()) return appended.status();
    entries.push_back(*appended);
  }
  return entries;
}

absl::StatusOr<std::unique_ptr<DirectoryInForce>> DirectoryInForce::Start(std::unique_ptr<Directory> initial,
                                                                         ExchangeLog* log,
                                                                         const v1::Requester& by,
                                                                         Options options) {
  std::unique_ptr<DirectoryInForce> d(new DirectoryInForce(log, std::move(options)));
  const absl::Time now = d->Now();
  auto changes = CompareWithStored(*initial, *log->store(), now);
  if (!changes.ok()) return changes.status();
  auto recorded = d->Record(*changes, by, now, "directory at start: ");
  if (!recorded.ok()) return recorded.status();
  if (!changes->records.empty()) {
    d->Note(StrCat("directory version ", changes->version, ": ", changes->records.size(),
                   changes->records.size() == 1 ? " change" : " changes", " recorded"));
  }
  initial->RecordHistory(changes->version, changes->first_seen);
  d->in_force_.store(std::shared_ptr<const Directory>(std::move(initial)));
  return d;
}

absl::Status DirectoryInForce::LogRefused(const v1::Requester& by, std::string_view detail) {
  const std::string policy_version = options_.policy_version ? options_.policy_version() : "";
  v1::LogRecord r = DirectoryRecordBase(Now(), policy_version, by, v1::OUTCOME_REFUSED);
  r.set_detail(TruncateUtf8(detail, kMaxLogDetailChars));
  auto appended = log_->Append(r);
  return appended.ok() ? absl::OkStatus() : appended.status();
}

absl::StatusOr<DirectoryInForce::Reloaded> DirectoryInForce::Reload(const v1::Requester& by, bool dry_run) {
  if (!reloadable()) {
    return absl::FailedPreconditionError(
        "ReloadDirectory: the directory is inline in the gateway's configuration and cannot be "
        "reloaded; name a file instead (\"directory\": \"directory.json\") and restart once");
  }
  std::lock_guard lock(reload_mu_);
  const std::shared_ptr<const Directory> old = current();
  const std::string file_name = options_.file.filename().string();
  const std::string stays = StrCat("directory version ", old->version(), " stays in force");

  // Read and check the whole file: every problem, or why it cannot be read.
  std::vector<std::string> problems;
  absl::Status failed;
  auto text = ReadConfigText(options_.file, "directory");
  std::unique_ptr<Directory> loaded;
  if (!text.ok()) {
    failed = absl::FailedPreconditionError(
        StrCat("ReloadDirectory: ", text.status().message(), "; the directory in force stays"));
  } else if (auto parsed = Directory::Parse(*text, options_.file.string()); !parsed.ok()) {
    const absl::string_view message = parsed.status().message();
    problems = ProblemLines(std::string_view(message.data(), message.size()));
    failed = absl::InvalidArgumentError(
        StrCat("ReloadDirectory: ", parsed.status().message(), "\nthe directory in force stays"));
  } else if ((*parsed)->Find(options_.gateway_org_id) != nullptr) {
    problems.push_back("organisations[].org_id: the gateway's own organisation id is listed; the "
                       "gateway needs an id of its own");
    failed = absl::InvalidArgumentError(StrCat("ReloadDirectory: ", options_.file.string(),
                                               ": directory refused, 1 problem:\n", problems.back(),
                                               "\nthe directory in force stays"));
  } else {
    loaded = *std::move(parsed);
  }
  if (!failed.ok()) {
    v1::ErrorDetail detail;
    detail.set_reason(v1::DENIAL_REASON_MALFORMED_REQUEST);
    for (const std::string& line : problems) {
      const size_t colon = line.find(": ");
      v1::FieldProblem& fp = *detail.add_problems();
      fp.set_field(colon == std::string::npos ? "" : line.substr(0, colon));
      fp.set_problem(colon == std::string::npos ? line : line.substr(colon + 2));
    }
    if (!dry_run) {
      std::string logged = StrCat("directory reload refused: ", file_name,
                                  problems.empty() ? " cannot be read"
                                                   : StrCat(" has ", problems.size(), " problem(s)"),
                                  "; ", stays);
      for (const std::string& line : problems) logged += StrCat("\n", line);
      if (absl::Status written = LogRefused(by, logged); !written.ok()) return written;
      Note(StrCat("directory reload refused (", problems.empty() ? "cannot be read" : StrCat(problems.size(), " problem(s)"),
                  "); ", stays));
    }
    return rpc::WithErrorDetail(std::move(failed), detail);
  }

  // The changes against the directory in force (= the store's).
  const absl::Time now = Now();
  auto changes = CompareWithStored(*loaded, *log_->store(), now);
  if (!changes.ok()) return changes.status();
  Reloaded out;
  out.directory = old;
  out.changes = changes->records;
  if (changes->records.empty() || dry_run) return out;

  auto recorded = Record(*changes, by, now, "directory reloaded: ");
  if (!recorded.ok()) {
    Note(StrCat("directory reload not done: the log could not be written (", recorded.status().message(),
                "); ", stays));
    return absl::UnavailableError(StrCat("ReloadDirectory: the exchange log could not be written; ", stays));
  }
  loaded->RecordHistory(changes->version, changes->first_seen);
  in_force_.store(std::shared_ptr<const Directory>(std::move(loaded)));
  out.directory = current();
  out.changed = true;
  out.entries = *std::move(recorded);
  Note(StrCat("directory version ", changes->version, " in force (was ", old->version(), "): ",
              changes->records.size(), changes->records.size() == 1 ? " change" : " changes"));
  return out;
}

}  // namespace schakel::gateway
