// For node tests: valid BSNs, WaitFor, ServeLocally, and the gateway's side of index
// publication (Gateway.GetIndexState and Gateway.PublishIndex) in-process
// on 127.0.0.1: it applies batches to per-purpose tag sets as the real
// gateway does (in order, idempotent by sequence) and acknowledges them,
// with faults on command.
//
// Thread safety: IndexState is guarded by its own mutex (lock `mu` to read
// or change it while a server runs). Ownership: a FakeServer borrows its
// IndexState, which must outlive it.
#ifndef SCHAKEL_TESTS_UNIT_NODES_FAKE_INDEX_GATEWAY_H_
#define SCHAKEL_TESTS_UNIT_NODES_FAKE_INDEX_GATEWAY_H_

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/strings.h"
#include "rpc/channel.h"
#include "schakel/v1/gateway.grpc.pb.h"

namespace schakel::nodes::testing {

// A valid BSN (passes the elfproef) for every n below 10^7 that yields one.
inline std::string Bsn(int n) {
  for (int k = n * 10;; ++k) {
    std::string digits = StrCat(100000000 + k % 100000000).substr(1);
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += (9 - i) * (digits[i] - '0');
    const int check = sum % 11;
    if (check == 10) continue;
    return digits + static_cast<char>('0' + check);
  }
}

// Waits until `done` holds, polling, for at most 30 s.
inline bool WaitFor(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return done();
}

// A server on 127.0.0.1 (an ephemeral port, written to `port`) without TLS,
// serving `services`.
inline std::unique_ptr<grpc::Server> ServeLocally(const std::vector<grpc::Service*>& services,
                                                 int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  for (grpc::Service* service : services) builder.RegisterService(service);
  return builder.BuildAndStart();
}

// The gateway's side of index publication, kept apart from the server so
// that it survives a "restart" of the fake gateway.
struct IndexState {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t applied = 0;
  std::map<std::string, std::set<std::string>> tags;  // purpose -> set
  std::vector<uint64_t> applied_sequences;            // every batch applied, in order
  uint32_t max_changes = 0;                           // 0: not stated
  int streams = 0;
  // Faults.
  bool abort_next_stream = false;   // the next stream ends ABORTED at once
  uint64_t hold_after = 0;          // after applying this sequence, hang until cancelled
  bool drop_acks = false;           // apply, but never acknowledge
  bool lose_state_on_next_stream = false;
};

class FakeIndexGateway final : public v1::Gateway::Service {
 public:
  explicit FakeIndexGateway(IndexState* state) : state_(state) {}

  grpc::Status GetIndexState(grpc::ServerContext*, const v1::GetIndexStateRequest*,
                             v1::GetIndexStateResponse* response) override {
    std::lock_guard lock(state_->mu);
    response->set_applied_through(state_->applied);
    response->set_max_changes_per_batch(state_->max_changes);
    for (const auto& [purpose, tags] : state_->tags) {
      v1::PurposeIndexState* p = response->add_purposes();
      p->set_purpose_id(purpose);
      p->set_tag_count(tags.size());
    }
    return grpc::Status::OK;
  }

  grpc::Status PublishIndex(grpc::ServerContext* context,
                            grpc::ServerReaderWriter<v1::IndexAck, v1::IndexBatch>* stream) override {
    {
      std::lock_guard lock(state_->mu);
      ++state_->streams;
      if (state_->abort_next_stream) {
        state_->abort_next_stream = false;
        return grpc::Status(grpc::StatusCode::ABORTED, "superseded by a newer stream");
      }
    }
    v1::IndexBatch batch;
    while (stream->Read(&batch)) {
      v1::IndexAck ack;
      bool hold = false;
      {
        std::lock_guard lock(state_->mu);
        if (batch.sequence() > state_->applied + 1) {
          return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                              StrCat("sequence ", batch.sequence(), ": expected ",
                                     state_->applied + 1));
        }
        if (batch.sequence() == state_->applied + 1) {
          for (const v1::PurposeTagChanges& c : batch.changes()) {
            auto& set = state_->tags[c.purpose_id()];
            if (c.clear()) set.clear();
            for (const std::string& t : c.removed()) set.erase(t);
            for (const std::string& t : c.added()) set.insert(t);
          }
          state_->applied = batch.sequence();
          state_->applied_sequences.push_back(batch.sequence());
          hold = state_->hold_after != 0 && batch.sequence() == state_->hold_after;
        }
        ack.set_applied_through(state_->applied);
        state_->cv.notify_all();
        if (state_->drop_acks) continue;
      }
      if (hold) {
        while (!context->IsCancelled()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
        return grpc::Status(grpc::StatusCode::UNAVAILABLE, "gateway shutting down");
      }
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

 private:
  IndexState* const state_;
};

// An in-process gateway on 127.0.0.1; Restart keeps the port and the state.
class FakeServer {
 public:
  explicit FakeServer(IndexState* state) : service_(state) { Start(0); }
  ~FakeServer() { Stop(); }
  void Stop() {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(100));
      server_->Wait();
      server_.reset();
    }
  }
  void Restart() {
    Stop();
    Start(port_);
  }
  std::string endpoint() const { return StrCat("127.0.0.1:", port_); }

 private:
  void Start(int port) {
    grpc::ServerBuilder builder;
    rpc::ConfigureServer(builder);
    builder.AddListeningPort(StrCat("127.0.0.1:", port), grpc::InsecureServerCredentials(),
                             &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  FakeIndexGateway service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace schakel::nodes::testing

#endif  // SCHAKEL_TESTS_UNIT_NODES_FAKE_INDEX_GATEWAY_H_
