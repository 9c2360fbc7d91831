#include "rpc/server_main.h"

#include <grpcpp/support/interceptor.h>
#include <grpcpp/support/server_interceptor.h>
#include <signal.h>

#include <cerrno>
#include <condition_variable>
#include <ctime>
#include <iostream>
#include <optional>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "common/strings.h"
#include "rpc/runtime.h"

namespace schakel::rpc {
namespace {

sigset_t StopSignals(bool with_reload = false) {
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (with_reload) sigaddset(&stop_signals, SIGHUP);
  return stop_signals;
}

std::string_view SignalName(int signal_number) {
  switch (signal_number) {
    case SIGTERM:
      return "SIGTERM";
    case SIGHUP:
      return "SIGHUP";
    default:
      return "SIGINT";
  }
}

std::string_view Wait(const sigset_t& signals, absl::Duration tick_interval,
                      const std::function<void()>& tick) {
  int signal_number = 0;
  if (!tick || tick_interval == absl::InfiniteDuration()) {
    while (sigwait(&signals, &signal_number) != 0) {
    }
  } else {
    const timespec timeout = absl::ToTimespec(tick_interval);
    while (true) {
      signal_number = sigtimedwait(&signals, nullptr, &timeout);
      if (signal_number > 0) break;
      if (errno == EAGAIN) tick();
    }
  }
  return SignalName(signal_number);
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

  // SIGHUP too: a process that does not wait for it then ignores it
  // instead of dying (its default action).
  const sigset_t stop_signals = StopSignals(/*with_reload=*/true);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Debian's Abseil is built with its mutex deadlock detection on: every
  // lock of an absl::Mutex (gRPC takes several per call) then updates a
  // global lock graph, about 1 % of a server's CPU under load. It is a
  // debugging aid, off in Abseil's own release builds.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  const GrpcRuntime grpc;  // after the mask: gRPC's threads inherit it
  return run(*config);
}

std::string_view WaitForStopSignal(absl::Duration tick_interval,
                                   const std::function<void()>& tick) {
  return Wait(StopSignals(), tick_interval, tick);
}

std::string_view WaitForSignal(absl::Duration tick_interval, const std::function<void()>& tick) {
  return Wait(StopSignals(/*with_reload=*/true), tick_interval, tick);
}

// ------------------------------------------------------------- CallDrainer

struct CallDrainer::State {
  explicit State(std::set<std::string> names) : long_methods(std::move(names)) {}
  const std::set<std::string> long_methods;
  mutable std::mutex mu;
  std::condition_variable idle;                   // a short call ended
  std::set<grpc::ServerContextBase*> long_calls;  // guarded by mu
  size_t short_calls = 0;                         // guarded by mu
  bool draining = false;                          // guarded by mu
};

namespace {

// Lives as long as its call: counts it while it runs.
class TrackingInterceptor final : public grpc::experimental::Interceptor {
 public:
  TrackingInterceptor(std::shared_ptr<CallDrainer::State> state, grpc::ServerContextBase* context,
                      bool long_lived)
      : state_(std::move(state)), context_(context), long_lived_(long_lived) {
    std::lock_guard lock(state_->mu);
    if (long_lived_) {
      state_->long_calls.insert(context_);
    } else {
      ++state_->short_calls;
    }
  }
  ~TrackingInterceptor() override {
    std::lock_guard lock(state_->mu);
    if (long_lived_) {
      state_->long_calls.erase(context_);
    } else if (--state_->short_calls == 0) {
      state_->idle.notify_all();
    }
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (long_lived_ && methods->QueryInterceptionHookPoint(
                           grpc::experimental::InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      std::lock_guard lock(state_->mu);
      if (state_->draining) context_->TryCancel();  // started after Drain began
    }
    methods->Proceed();
  }

 private:
  const std::shared_ptr<CallDrainer::State> state_;
  grpc::ServerContextBase* const context_;
  const bool long_lived_;
};

class TrackingFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit TrackingFactory(std::shared_ptr<CallDrainer::State> state) : state_(std::move(state)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    const bool long_lived = info->method() != nullptr && state_->long_methods.count(info->method()) > 0;
    return new TrackingInterceptor(state_, info->server_context(), long_lived);
  }

 private:
  const std::shared_ptr<CallDrainer::State> state_;
};

}  // namespace

const std::set<std::string>& CallDrainer::DefaultLongMethods() {
  static const std::set<std::string>* const kMethods = new std::set<std::string>{
      "/schakel.v1.Gateway/PublishIndex", "/grpc.health.v1.Health/Watch",
      "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"};
  return *kMethods;
}

CallDrainer::CallDrainer(std::set<std::string> long_methods)
    : state_(std::make_shared<State>(std::move(long_methods))) {}

CallDrainer::~CallDrainer() = default;

void CallDrainer::Install(grpc::ServerBuilder& builder) {
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> creators;
  creators.push_back(std::make_unique<TrackingFactory>(state_));
  builder.experimental().SetInterceptorCreators(std::move(creators));
}

size_t CallDrainer::Drain(absl::Duration grace) {
  std::unique_lock lock(state_->mu);
  state_->draining = true;
  for (grpc::ServerContextBase* context : state_->long_calls) context->TryCancel();
  state_->idle.wait_until(lock, absl::ToChronoTime(absl::Now() + grace),
                          [&] { return state_->short_calls == 0; });
  return state_->short_calls;
}

size_t CallDrainer::active() const {
  std::lock_guard lock(state_->mu);
  return state_->short_calls + state_->long_calls.size();
}

}  // namespace schakel::rpc
