// A long-running program under test (schakel-gateway, schakel-node): started
// in the background, its stdout read line by line so a test can wait for a
// startup line ("schakel-node: serving on 127.0.0.1:PORT"), its stderr sent
// to a file the test can read afterwards. Killed (SIGKILL) on destruction.
//
// Thread safety: one thread drives an instance; a reader thread owned by the
// instance collects stdout lines under a mutex.
#ifndef SCHAKEL_TESTS_INTEGRATION_SERVER_PROCESS_H_
#define SCHAKEL_TESTS_INTEGRATION_SERVER_PROCESS_H_

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace schakel::integration {

class ServerProcess {
 public:
  ServerProcess() = default;
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;
  ~ServerProcess();

  // Starts `program` with `args` (argv[0] is added), stdin from /dev/null,
  // stderr appended to `stderr_file`. False when it could not be started.
  bool Start(const std::string& program, const std::vector<std::string>& args,
             const std::filesystem::path& stderr_file);

  // Waits until a stdout line starts with `prefix` and returns the rest of
  // that line; nullopt when the process exits or `timeout` passes first.
  // Lines already seen count (searched from the first line).
  std::optional<std::string> WaitForLine(std::string_view prefix,
                                         std::chrono::milliseconds timeout);

  // Every stdout line so far.
  std::vector<std::string> Lines() const;

  // SIGKILL and reap (no-op when not running).
  void Kill();

  // Sends `sig` and waits up to `limit` for the exit; returns the exit code,
  // 128 + signal when killed by one, or -1 when it did not exit in time.
  int SignalAndWait(int sig, std::chrono::milliseconds limit);

  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }

 private:
  void ReadLoop(int fd);
  void JoinReader();

  pid_t pid_ = -1;
  std::thread reader_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> lines_;
  bool eof_ = false;
};

}  // namespace schakel::integration

#endif  // SCHAKEL_TESTS_INTEGRATION_SERVER_PROCESS_H_
