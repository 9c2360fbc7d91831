// Linked into every test program that uses gRPC in-process: holds gRPC
// initialised from before the first test until after the last, so that
// gRPC shuts down on the main thread and its threads have finished before
// the program exits (rpc/runtime.h explains the leak this prevents).
#include <gtest/gtest.h>

#include <memory>

#include "rpc/runtime.h"

namespace {

class GrpcEnvironment final : public ::testing::Environment {
 public:
  void SetUp() override { runtime_ = std::make_unique<schakel::rpc::GrpcRuntime>(); }
  void TearDown() override { runtime_.reset(); }

 private:
  std::unique_ptr<schakel::rpc::GrpcRuntime> runtime_;
};

[[maybe_unused]] ::testing::Environment* const kGrpcEnvironment =
    ::testing::AddGlobalTestEnvironment(new GrpcEnvironment);

}  // namespace
