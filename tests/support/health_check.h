// grpc.health.v1.Health/Check without generated stubs (Debian ships no
// generated health client): HealthCheckRequest{service = 1} is encoded by
// hand, and the reply's bytes are returned as they are. Header only; for
// the unit and integration tests.
#ifndef SCHAKEL_TESTS_SUPPORT_HEALTH_CHECK_H_
#define SCHAKEL_TESTS_SUPPORT_HEALTH_CHECK_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>

#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

namespace schakel::testing {

// The reply of a serving service (HealthCheckResponse{status = SERVING}),
// and of one that is not (NOT_SERVING).
inline const std::string kHealthServing("\x08\x01", 2);
inline const std::string kHealthNotServing("\x08\x02", 2);

// Checks `service` ("" for the whole server) over `channel`, waiting for the
// channel to be ready until `deadline`. Returns the reply bytes (compare
// with kHealthServing), or the call's error message.
inline std::string HealthCheck(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& service,
                               std::chrono::milliseconds deadline = std::chrono::seconds(5)) {
  if (channel == nullptr) return "no channel";
  grpc::GenericStub health(channel);
  std::string request_bytes;
  if (!service.empty()) {
    request_bytes = std::string("\x0a") + static_cast<char>(service.size()) + service;
  }
  grpc::Slice slice(request_bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer reply;
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + deadline);
  std::promise<grpc::Status> done;
  health.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &reply,
                   [&done](grpc::Status s) { done.set_value(std::move(s)); });
  const grpc::Status status = done.get_future().get();
  if (!status.ok()) return status.error_message().empty() ? "call failed" : status.error_message();
  std::vector<grpc::Slice> slices;
  if (!reply.Dump(&slices).ok()) return "unreadable reply";
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes;
}

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_HEALTH_CHECK_H_
