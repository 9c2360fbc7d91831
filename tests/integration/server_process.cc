#include "tests/integration/server_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace schakel::integration {

ServerProcess::~ServerProcess() { Kill(); }

bool ServerProcess::Start(const std::string& program, const std::vector<std::string>& args,
                          const std::filesystem::path& stderr_file) {
  Kill();
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return false;
  std::vector<std::string> argv_storage;
  argv_storage.push_back(program);
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string err_path = stderr_file.string();

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    return false;
  }
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (err >= 0) ::dup2(err, 2);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::execv(program.c_str(), argv.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  pid_ = pid;
  {
    std::lock_guard lock(mu_);
    lines_.clear();
    eof_ = false;
  }
  reader_ = std::thread([this, fd = pipe_fds[0]] { ReadLoop(fd); });
  return true;
}

void ServerProcess::ReadLoop(int fd) {
  std::string line;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    for (ssize_t i = 0; i < n; ++i) {
      if (buf[i] != '\n') {
        line += buf[i];
        continue;
      }
      std::lock_guard lock(mu_);
      lines_.push_back(std::move(line));
      line.clear();
      cv_.notify_all();
    }
  }
  ::close(fd);
  std::lock_guard lock(mu_);
  if (!line.empty()) lines_.push_back(std::move(line));
  eof_ = true;
  cv_.notify_all();
}

std::optional<std::string> ServerProcess::WaitForLine(std::string_view prefix,
                                                      std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  size_t checked = 0;
  for (;;) {
    for (; checked < lines_.size(); ++checked) {
      if (lines_[checked].rfind(prefix, 0) == 0) return lines_[checked].substr(prefix.size());
    }
    if (eof_) return std::nullopt;
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout) {
      for (; checked < lines_.size(); ++checked) {
        if (lines_[checked].rfind(prefix, 0) == 0) return lines_[checked].substr(prefix.size());
      }
      return std::nullopt;
    }
  }
}

std::vector<std::string> ServerProcess::Lines() const {
  std::lock_guard lock(mu_);
  return lines_;
}

void ServerProcess::JoinReader() {
  if (reader_.joinable()) reader_.join();
}

void ServerProcess::Kill() {
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  JoinReader();
}

int ServerProcess::SignalAndWait(int sig, std::chrono::milliseconds limit) {
  if (pid_ <= 0) return -1;
  ::kill(pid_, sig);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      JoinReader();
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return -1;
}

}  // namespace schakel::integration
