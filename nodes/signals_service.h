// schakel.v1.Signals on the node's local listener (signals.proto): a thin
// gRPC adapter over SignalStore and SignalImport.
//
// Every call is authenticated first (LocalAuthenticator). Roles, as
// signals.proto says: reading (GetSignal, ListSignals), adding and
// importing need ROLE_PROFESSIONAL or ROLE_ADMIN; changing and deleting
// need to be the signal's owner (as a professional) or ROLE_ADMIN. Changes
// are logged by the SignalStore in the node's own log, atomically with the
// change (SIGNAL_ADDED, _UPDATED, _DELETED; signal ids only); an import is
// logged once (SIGNALS_IMPORTED). Reads are not logged (the local log has no
// kind for them).
//
// INVALID_ARGUMENT errors carry an ErrorDetail with every problem
// ("signal.subject.bsn": "fails the elfproef ..."), never a value.
//
// ImportSignals (see nodes/import.h): header, row batches, end. A progress
// message about once a second while rows are validated and while chunks
// are committed; one result last. A stream that ends without an end
// message stores nothing and ends with INVALID_ARGUMENT.
//
// Thread safety: gRPC calls the methods from many threads at once; the
// service holds no mutable state of its own. Ownership: borrows everything;
// it must all outlive the service.
#ifndef SCHAKEL_NODES_SIGNALS_SERVICE_H_
#define SCHAKEL_NODES_SIGNALS_SERVICE_H_

#include <chrono>
#include <functional>

#include "absl/time/time.h"
#include "nodes/import.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "nodes/signal_store.h"
#include "schakel/v1/signals.grpc.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

class SignalsService final : public v1::Signals::Service {
 public:
  struct Options {
    ImportOptions import;  // threads for validation and tags, chunk size
    std::chrono::milliseconds progress_interval{1000};
    std::function<absl::Time()> now;  // absl::Now when unset
  };

  SignalsService(SignalStore* signals, store::KvStore* kv, LocalLog* log,
                 LocalAuthenticator* authenticator, Options options);

  // Called after a change queued index batches (the publisher's Notify), so
  // new tags reach the gateway at once. Set before the service is served.
  void set_on_queued(std::function<void()> on_queued) { on_queued_ = std::move(on_queued); }

  grpc::Status AddSignal(grpc::ServerContext* context, const v1::AddSignalRequest* request,
                         v1::AddSignalResponse* response) override;
  grpc::Status GetSignal(grpc::ServerContext* context, const v1::GetSignalRequest* request,
                         v1::GetSignalResponse* response) override;
  grpc::Status ListSignals(grpc::ServerContext* context, const v1::ListSignalsRequest* request,
                           grpc::ServerWriter<v1::ListSignalsResponse>* writer) override;
  grpc::Status UpdateSignal(grpc::ServerContext* context, const v1::UpdateSignalRequest* request,
                            v1::UpdateSignalResponse* response) override;
  grpc::Status DeleteSignal(grpc::ServerContext* context, const v1::DeleteSignalRequest* request,
                            v1::DeleteSignalResponse* response) override;
  grpc::Status ImportSignals(grpc::ServerContext* context,
                             grpc::ServerReaderWriter<v1::ImportSignalsResponse,
                                                      v1::ImportSignalsRequest>* stream) override;

 private:
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }
  void Queued() const {
    if (on_queued_) on_queued_();
  }

  SignalStore* const signals_;
  store::KvStore* const kv_;
  LocalLog* const log_;
  LocalAuthenticator* const authenticator_;
  const Options options_;
  std::function<void()> on_queued_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_SIGNALS_SERVICE_H_
