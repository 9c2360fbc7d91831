// Test only: a RocksDB file system that simulates a power loss.
//
// CrashTestFileSystem wraps the real (POSIX) file system and keeps, per
// file written through it, how many bytes were appended and how many of
// those a Sync or Fsync made durable; and, per directory, the files created,
// renamed and deleted since the directory was last fsynced. Syncs are
// simulated (not passed to the disk), so a test runs at page-cache speed.
//
// Crash() is the power cut: from then on every write, sync, create, rename
// and delete fails with an I/O error (so the database can write nothing
// more while it is closed). DropUnsyncedData() is the restart of the
// machine, called after the database is closed: each file is cut back to
// its synced length, or, to model pages the kernel had already written,
// to a random length between its synced and its written one (a torn
// tail); files created since their directory's last fsync disappear;
// renames since then are undone and deleted files come back. Then the
// file system is healthy again and everything on disk counts as durable.
//
// FailWritesFromNow() instead makes every later Append and Sync fail with
// an I/O error without losing anything: a disk that fails while running,
// producing the real RocksDB I/O errors the store reports.
//
// Thread safety: safe for concurrent use.
#ifndef SCHAKEL_TESTS_SUPPORT_CRASH_TEST_FS_H_
#define SCHAKEL_TESTS_SUPPORT_CRASH_TEST_FS_H_

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <vector>

namespace schakel::testing {

class CrashTestFileSystem : public rocksdb::FileSystemWrapper {
 public:
  CrashTestFileSystem();
  const char* Name() const override { return "CrashTestFileSystem"; }

  // The power cut: every later write fails (see the top of this file).
  void Crash();
  // The restart: drops what was not durable, then heals. Only when nothing
  // holds a file of this file system open (the database is closed).
  // `torn_tails`: keep a random part of each file's unsynced bytes.
  void DropUnsyncedData(std::mt19937_64& rng, bool torn_tails);
  // A failing disk: every later Append and Sync fails; nothing is dropped.
  void FailWritesFromNow();
  // Undoes FailWritesFromNow.
  void Heal();

  // Counters, for a test to show the faults were exercised.
  struct Stats {
    uint64_t files_cut = 0;         // files cut back to a shorter length
    uint64_t bytes_dropped = 0;     // unsynced bytes dropped
    uint64_t creates_undone = 0;    // files removed: created after the last directory fsync
    uint64_t renames_undone = 0;
    uint64_t deletes_undone = 0;
  };
  Stats stats() const;

  // An Env for rocksdb::Options::env (a CompositeEnv over this file system).
  static std::shared_ptr<rocksdb::Env> EnvFor(const std::shared_ptr<CrashTestFileSystem>& fs);

  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname,
                                       const rocksdb::FileOptions& options,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& options,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& target,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;

 private:
  class File;
  class Directory;
  friend class File;
  friend class Directory;

  struct FileState {
    uint64_t written = 0;  // bytes appended through this file system
    uint64_t synced = 0;   // of those, made durable by a Sync or Fsync
  };
  // A directory operation not yet made durable by an fsync of the directory.
  struct PendingOp {
    enum Kind { kCreate, kRename, kDelete } kind;
    std::string dir;                   // the directory whose fsync makes it durable
    std::string path;                  // created / deleted file; rename target
    std::string from;                  // rename source
    std::optional<std::string> old;    // rename: what the target held; delete: the file's bytes
  };

  rocksdb::IOStatus Refused(const char* what) const;  // the error once crashed or failing
  rocksdb::IOStatus CheckWritable(const char* what);  // mu_ held
  void Track(const std::string& path, uint64_t existing_size);  // mu_ held
  void DirectorySynced(const std::string& dir);
  rocksdb::IOStatus Appended(const std::string& path, uint64_t bytes);
  rocksdb::IOStatus Synced(const std::string& path);

  mutable std::mutex mu_;
  bool crashed_ = false;        // guarded by mu_
  bool failing_ = false;        // guarded by mu_
  std::map<std::string, FileState> files_;              // guarded by mu_
  std::vector<PendingOp> pending_;  // in the order done; guarded by mu_
  Stats stats_;                 // guarded by mu_
};

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_CRASH_TEST_FS_H_
