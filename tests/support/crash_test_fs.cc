#include "tests/support/crash_test_fs.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <system_error>
#include <utility>

namespace schakel::testing {
namespace {

namespace fs = std::filesystem;

std::string Normal(const std::string& path) { return fs::path(path).lexically_normal().string(); }
std::string DirOf(const std::string& path) { return fs::path(Normal(path)).parent_path().string(); }

std::optional<std::string> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

}  // namespace

// A writable file that reports its appends and syncs; syncs are simulated.
class CrashTestFileSystem::File : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  File(CrashTestFileSystem* fs, std::string path, std::unique_ptr<rocksdb::FSWritableFile> target)
      : FSWritableFileOwnerWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    if (auto s = fs_->Appended(path_, 0); !s.ok()) return s;
    auto s = target()->Append(data, options, dbg);
    if (s.ok()) s = fs_->Appended(path_, data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("crash test file system: PositionedAppend");
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice&, uint64_t, const rocksdb::IOOptions&,
                                     const rocksdb::DataVerificationInfo&,
                                     rocksdb::IODebugContext*) override {
    return rocksdb::IOStatus::NotSupported("crash test file system: PositionedAppend");
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    {
      std::lock_guard lock(fs_->mu_);
      if (auto s = fs_->CheckWritable("truncate"); !s.ok()) return s;
      FileState& f = fs_->files_[path_];
      f.written = size;
      f.synced = std::min(f.synced, size);
    }
    return target()->Truncate(size, options, dbg);
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return fs_->Synced(path_);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    return fs_->Synced(path_);
  }
  // sync_file_range: starts writeback, promises nothing.
  rocksdb::IOStatus RangeSync(uint64_t, uint64_t, const rocksdb::IOOptions&,
                              rocksdb::IODebugContext*) override {
    return fs_->Appended(path_, 0);
  }
  bool IsSyncThreadSafe() const override { return true; }

 private:
  CrashTestFileSystem* const fs_;
  const std::string path_;
};

class CrashTestFileSystem::Directory : public rocksdb::FSDirectoryWrapper {
 public:
  Directory(CrashTestFileSystem* fs, std::string path, std::unique_ptr<rocksdb::FSDirectory> target)
      : FSDirectoryWrapper(std::move(target)), fs_(fs), path_(std::move(path)) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions&, rocksdb::IODebugContext*) override {
    {
      std::lock_guard lock(fs_->mu_);
      if (fs_->crashed_ || fs_->failing_) return fs_->Refused("directory fsync");
    }
    fs_->DirectorySynced(path_);
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus FsyncWithDirOptions(const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
                                        const rocksdb::DirFsyncOptions&) override {
    return Fsync(options, dbg);
  }

 private:
  CrashTestFileSystem* const fs_;
  const std::string path_;
};

CrashTestFileSystem::CrashTestFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}

namespace {

// RocksDB waits a second after a failed background flush or compaction
// (before trying again, and before closing); a crash test causes many.
class ShortSleepEnv : public rocksdb::EnvWrapper {
 public:
  explicit ShortSleepEnv(std::shared_ptr<rocksdb::Env> target) : EnvWrapper(std::move(target)) {}
  const char* Name() const override { return "ShortSleepEnv"; }
  void SleepForMicroseconds(int micros) override {
    target()->SleepForMicroseconds(std::min(micros, 1000));
  }
};

}  // namespace

std::shared_ptr<rocksdb::Env> CrashTestFileSystem::EnvFor(
    const std::shared_ptr<CrashTestFileSystem>& fs) {
  return std::make_shared<ShortSleepEnv>(std::shared_ptr<rocksdb::Env>(rocksdb::NewCompositeEnv(fs)));
}

rocksdb::IOStatus CrashTestFileSystem::Refused(const char* what) const {
  return rocksdb::IOStatus::IOError(crashed_ ? "crash test file system: after the simulated crash"
                                             : "crash test file system: simulated disk failure",
                                    what);
}

rocksdb::IOStatus CrashTestFileSystem::CheckWritable(const char* what) {
  if (crashed_ || failing_) return Refused(what);
  return rocksdb::IOStatus::OK();
}

void CrashTestFileSystem::Track(const std::string& path, uint64_t existing_size) {
  files_.try_emplace(path, FileState{existing_size, existing_size});
}

rocksdb::IOStatus CrashTestFileSystem::Appended(const std::string& path, uint64_t bytes) {
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("append"); !s.ok()) return s;
  files_[path].written += bytes;
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus CrashTestFileSystem::Synced(const std::string& path) {
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("sync"); !s.ok()) return s;
  FileState& f = files_[path];
  f.synced = f.written;
  return rocksdb::IOStatus::OK();
}

void CrashTestFileSystem::DirectorySynced(const std::string& dir) {
  std::lock_guard lock(mu_);
  const std::string d = Normal(dir);
  std::erase_if(pending_, [&](const PendingOp& op) { return op.dir == d; });
}

void CrashTestFileSystem::Crash() {
  std::lock_guard lock(mu_);
  crashed_ = true;
}

void CrashTestFileSystem::FailWritesFromNow() {
  std::lock_guard lock(mu_);
  failing_ = true;
}

void CrashTestFileSystem::Heal() {
  std::lock_guard lock(mu_);
  failing_ = false;
}

CrashTestFileSystem::Stats CrashTestFileSystem::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

void CrashTestFileSystem::DropUnsyncedData(std::mt19937_64& rng, bool torn_tails) {
  std::lock_guard lock(mu_);
  std::error_code ec;
  // Each file back to its durable length (or a torn part of what followed).
  for (const auto& [path, state] : files_) {
    const uintmax_t size = fs::file_size(path, ec);
    if (ec) continue;  // deleted since
    uint64_t keep = state.synced;
    if (torn_tails && state.written > state.synced) {
      keep += std::uniform_int_distribution<uint64_t>(0, state.written - state.synced)(rng);
    }
    if (keep < size) {
      fs::resize_file(path, keep, ec);
      ++stats_.files_cut;
      stats_.bytes_dropped += size - keep;
    }
  }
  // Directory changes not made durable, newest first.
  for (auto it = pending_.rbegin(); it != pending_.rend(); ++it) {
    switch (it->kind) {
      case PendingOp::kCreate:
        fs::remove(it->path, ec);
        ++stats_.creates_undone;
        break;
      case PendingOp::kRename:
        fs::rename(it->path, it->from, ec);
        if (it->old) WriteAll(it->path, *it->old);
        ++stats_.renames_undone;
        break;
      case PendingOp::kDelete:
        if (it->old) WriteAll(it->path, *it->old);
        ++stats_.deletes_undone;
        break;
    }
  }
  pending_.clear();
  files_.clear();
  crashed_ = false;
  failing_ = false;
}

rocksdb::IOStatus CrashTestFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  const std::string path = Normal(fname);
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("create"); !s.ok()) return s;
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target()->NewWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  files_[path] = FileState{};
  if (!existed) pending_.push_back(PendingOp{PendingOp::kCreate, DirOf(path), path, "", std::nullopt});
  *result = std::make_unique<File>(this, path, std::move(file));
  return s;
}

rocksdb::IOStatus CrashTestFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result, rocksdb::IODebugContext* dbg) {
  const std::string path = Normal(fname);
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("reopen"); !s.ok()) return s;
  std::error_code ec;
  const bool existed = fs::exists(path, ec);
  const uintmax_t size = existed ? fs::file_size(path, ec) : 0;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  auto s = target()->ReopenWritableFile(fname, options, &file, dbg);
  if (!s.ok()) return s;
  if (existed) {
    Track(path, ec ? 0 : size);
  } else {
    files_[path] = FileState{};
    pending_.push_back(PendingOp{PendingOp::kCreate, DirOf(path), path, "", std::nullopt});
  }
  *result = std::make_unique<File>(this, path, std::move(file));
  return s;
}

rocksdb::IOStatus CrashTestFileSystem::ReuseWritableFile(const std::string&, const std::string&,
                                                         const rocksdb::FileOptions&,
                                                         std::unique_ptr<rocksdb::FSWritableFile>*,
                                                         rocksdb::IODebugContext*) {
  return rocksdb::IOStatus::NotSupported("crash test file system: ReuseWritableFile");
}

rocksdb::IOStatus CrashTestFileSystem::NewRandomRWFile(const std::string&,
                                                       const rocksdb::FileOptions&,
                                                       std::unique_ptr<rocksdb::FSRandomRWFile>*,
                                                       rocksdb::IODebugContext*) {
  return rocksdb::IOStatus::NotSupported("crash test file system: NewRandomRWFile");
}

rocksdb::IOStatus CrashTestFileSystem::LinkFile(const std::string&, const std::string&,
                                                const rocksdb::IOOptions&, rocksdb::IODebugContext*) {
  return rocksdb::IOStatus::NotSupported("crash test file system: LinkFile");
}

rocksdb::IOStatus CrashTestFileSystem::NewDirectory(const std::string& name,
                                                    const rocksdb::IOOptions& options,
                                                    std::unique_ptr<rocksdb::FSDirectory>* result,
                                                    rocksdb::IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  auto s = target()->NewDirectory(name, options, &dir, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<Directory>(this, Normal(name), std::move(dir));
  return s;
}

rocksdb::IOStatus CrashTestFileSystem::DeleteFile(const std::string& fname,
                                                  const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* dbg) {
  const std::string path = Normal(fname);
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("delete"); !s.ok()) return s;
  std::optional<std::string> bytes = ReadAll(path);
  if (bytes) {
    if (auto it = files_.find(path); it != files_.end() && bytes->size() > it->second.synced) {
      bytes->resize(it->second.synced);
    }
  }
  auto s = target()->DeleteFile(fname, options, dbg);
  if (!s.ok()) return s;
  files_.erase(path);
  pending_.push_back(PendingOp{PendingOp::kDelete, DirOf(path), path, "", std::move(bytes)});
  return s;
}

rocksdb::IOStatus CrashTestFileSystem::RenameFile(const std::string& src, const std::string& target_name,
                                                  const rocksdb::IOOptions& options,
                                                  rocksdb::IODebugContext* dbg) {
  const std::string from = Normal(src);
  const std::string to = Normal(target_name);
  std::lock_guard lock(mu_);
  if (auto s = CheckWritable("rename"); !s.ok()) return s;
  std::optional<std::string> old = ReadAll(to);
  if (old) {
    if (auto it = files_.find(to); it != files_.end() && old->size() > it->second.synced) {
      old->resize(it->second.synced);
    }
  }
  auto s = target()->RenameFile(src, target_name, options, dbg);
  if (!s.ok()) return s;
  if (auto it = files_.find(from); it != files_.end()) {
    files_[to] = it->second;
    files_.erase(from);
  } else {
    files_.erase(to);
  }
  pending_.push_back(PendingOp{PendingOp::kRename, DirOf(to), to, from, std::move(old)});
  return s;
}

}  // namespace schakel::testing
