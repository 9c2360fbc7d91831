// The directory in force (directory.h) and its reload without a restart.
//
// DirectoryInForce holds the directory every part of the gateway reads:
// one immutable Directory behind a shared_ptr that a reload swaps
// atomically. A call takes the pointer once (current()) and keeps it, so
// it never sees two directories: an exchange in flight finishes with the
// directory it started with (its partners, their endpoints and keys) while
// the next call sees the new one, and a deactivated organisation's next
// call is refused (Directory::CallerOrg).
//
// Start records what changed since the store last knew the directory
// (CompareWithStored): one DIRECTORY_CHANGED entry per organisation
// registered, updated or deactivated (detail "directory at start: ..."),
// the store's directory written with the last entry, and only then the
// directory is in force.
//
// Reload (GatewayAdmin.ReloadDirectory, SIGHUP in schakel-gateway) re-reads
// the configured file and:
//   - no file configured (the directory is inline in the config):
//     FAILED_PRECONDITION, nothing logged, nothing changes;
//   - cannot be read: FAILED_PRECONDITION, refusal logged, nothing changes;
//   - has errors (every problem of the file, or the gateway's own org id
//     in it): INVALID_ARGUMENT with ErrorDetail.problems naming each (field
//     = its JSON path), the refusal logged (DIRECTORY_CHANGED, outcome
//     REFUSED, the problems in its detail), the directory in force stays;
//   - the same as in force (no change against the store): nothing happens
//     (changed = false);
//   - else: one DIRECTORY_CHANGED entry per change (detail "directory
//     reloaded: ..."), synced, the store's directory written with the last
//     one, and only then the new directory is put in force: a directory no
//     log entry names is never used. When the log cannot be written:
//     UNAVAILABLE and the directory in force stays. (The log stops at its
//     first failed write, so a failure part-way leaves entries of changes
//     that were not put in force; the next start or reload records them
//     again against the store, which was not written.)
// "In force" and "in the store" are the same directory: every change of
// one is written with its log entries. An organisation no longer in the
// file is recorded as deactivated and kept, inactive, in the store.
// A dry run checks the file and reports the changes it would make; it logs
// nothing. Reloads are serialised.
//
// Errors are named by field and problem; log lines give counts only.
//
// Thread safety: all methods may be called concurrently.
#ifndef SCHAKEL_GATEWAY_DIRECTORY_IN_FORCE_H_
#define SCHAKEL_GATEWAY_DIRECTORY_IN_FORCE_H_

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/directory.h"
#include "gateway/exchange_log.h"
#include "schakel/v1/common.pb.h"
#include "schakel/v1/log.pb.h"

namespace schakel::gateway {

class DirectoryInForce {
 public:
  struct Options {
    // The directory file a reload reads; empty: the directory is inline in
    // the gateway's config and cannot be reloaded.
    std::filesystem::path file;
    // The gateway's own organisation id, which the directory must not list.
    std::string gateway_org_id;
    // The clock (whole milliseconds are recorded).
    std::function<absl::Time()> now = absl::Now;
    // The policy version the log records name; may be empty.
    std::function<std::string()> policy_version;
    // One line per start change count, reload and refusal; may be empty.
    std::function<void(std::string_view)> log_line;
  };

  // Records `initial` (just loaded, not yet shared) against what the log's
  // store knew (see the top of this file) as done by `by` (the gateway)
  // and puts it in force. `log` is not owned and must outlive the result.
  // Errors: the log's or the store's (nothing is then in force).
  static absl::StatusOr<std::unique_ptr<DirectoryInForce>> Start(std::unique_ptr<Directory> initial,
                                                                 ExchangeLog* log,
                                                                 const v1::Requester& by,
                                                                 Options options);

  // The directory in force; never null.
  std::shared_ptr<const Directory> current() const { return in_force_.load(); }
  // Whether Reload can read a file (false: inline directory).
  bool reloadable() const { return !options_.file.empty(); }

  struct Reloaded {
    std::shared_ptr<const Directory> directory;  // in force after the call
    bool changed = false;
    // The changes recorded (for a dry run: those a reload would record).
    std::vector<v1::DirectoryRecord> changes;
    // Their DIRECTORY_CHANGED entries, in order; empty unless changed.
    std::vector<ExchangeLog::Appended> entries;
  };
  // See the top of this file. `by` is who asked (the gateway itself for
  // SIGHUP); it goes into the log records.
  absl::StatusOr<Reloaded> Reload(const v1::Requester& by, bool dry_run);

 private:
  DirectoryInForce(ExchangeLog* log, Options options) : log_(log), options_(std::move(options)) {}
  absl::Time Now() const;
  void Note(std::string_view line) const;
  // Appends one DIRECTORY_CHANGED entry per change (the store writes with
  // the last) and returns them.
  absl::StatusOr<std::vector<ExchangeLog::Appended>> Record(const DirectoryChanges& changes,
                                                            const v1::Requester& by, absl::Time now,
                                                            std::string_view detail_prefix);
  absl::Status LogRefused(const v1::Requester& by, std::string_view detail);

  ExchangeLog* const log_;
  const Options options_;
  std::mutex reload_mu_;  // one reload at a time
  std::atomic<std::shared_ptr<const Directory>> in_force_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_DIRECTORY_IN_FORCE_H_
