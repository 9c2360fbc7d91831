#include "rpc/server_main.h"

#include <signal.h>

#include <cerrno>
#include <ctime>
#include <iostream>
#include <optional>

#include "common/strings.h"

namespace schakel::rpc {
namespace {

sigset_t StopSignals() {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  return stop_signals;
}

// "--config FILE" or "--config=FILE"; nullopt after --help (help set) or
// after printing a usage error.
std::optional<std::string> ParseArgs(int argc, char** argv, std::string_view program,
                                     std::string_view usage, bool& help) {
  std::optional<std::string> config;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      return std::nullopt;
    }
    if (arg == "--config" && i + 1 < argc) {
      config = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config = arg.substr(9);
    } else {
      std::cerr << program << ": error: "
                << (arg == "--config" ? std::string("--config needs a file")
                                      : StrCat("unexpected argument \"", arg.substr(0, 40), "\""))
                << "\n"
                << usage;
      return std::nullopt;
    }
  }
  if (!config.has_value() || config->empty()) {
    std::cerr << program << ": error: --config FILE is required\n" << usage;
    return std::nullopt;
  }
  return config;
}

}  // namespace

int RunServerMain(int argc, char** argv, std::string_view program, std::string_view usage,
                  const std::function<int(const std::string& config_path)>& run) {
  bool help = false;
  const std::optional<std::string> config = ParseArgs(argc, argv, program, usage, help);
  if (help) {
    std::cout << usage;
    return 0;
  }
  if (!config.has_value()) return 2;

  const sigset_t stop_signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return run(*config);
}

std::string_view WaitForStopSignal(absl::Duration tick_interval,
                                   const std::function<void()>& tick) {
  const sigset_t stop_signals = StopSignals();
  int signal_number = 0;
  if (!tick || tick_interval == absl::InfiniteDuration()) {
    while (sigwait(&stop_signals, &signal_number) != 0) {
    }
  } else {
    const timespec timeout = absl::ToTimespec(tick_interval);
    while (true) {
      signal_number = sigtimedwait(&stop_signals, nullptr, &timeout);
      if (signal_number > 0) break;
      if (errno == EAGAIN) tick();
    }
  }
  return signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace schakel::rpc
