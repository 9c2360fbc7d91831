// Every request handler of the partner node on any request: the gateway's
// schakel.v1.Node (Evaluate, Disclose, DeliverNotifications) and the local
// API (Matching, Approvals, Inbox, LocalLog, Users, NodeAdmin, Signals and
// the forwarded Cases and Audit). The node never crashes, leaks or hits
// undefined behaviour, and answers every call with a status.
//
// Input: byte 0 picks the method (every method of kServices, in descriptor
// order), byte 1 the role the local user acts in (x-schakel-role: none or
// one of six) and, for Evaluate and Disclose, whether the request's
// authorisation is replaced by a valid one the gateway signed over the
// fuzzed body (the top bit): so the fuzzer reaches the evaluator and the
// disclosure responder, not only the signature check. The rest is the
// request in protobuf wire format, sent as it is (the node's own gRPC
// parsing sees it).
//
// The node is the real one (NodeServer::Start) with the example local
// policy (deploy/examples/local-policy.json), a PKI made by deploy/pki.sh,
// its data under a temporary directory, and the gateway at 127.0.0.1:1
// (unreachable: forwarded calls answer UNAVAILABLE). Calls go over TLS on
// loopback, as the gateway's and the users' calls do. One local user holds
// every role.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/oprf.h"
#include "crypto/random.h"
#include "crypto/sealed_box.h"
#include "crypto/signing.h"
#include "fuzz/fuzz_support.h"
#include "nlohmann/json.hpp"
#include "nodes/node_config.h"
#include "nodes/node_server.h"
#include "proto/canonical.h"
#include "rpc/tls.h"
#include "schakel/v1/local.grpc.pb.h"
#include "schakel/v1/node.grpc.pb.h"
#include "schakel/v1/node_admin.grpc.pb.h"
#include "schakel/v1/signals.grpc.pb.h"

namespace fs = std::filesystem;
namespace v1 = schakel::v1;
namespace canonical = schakel::canonical;
using schakel::fuzz::Check;

namespace {

constexpr char kOrg[] = "politie-zwb";
constexpr const char* kServices[] = {"schakel.v1.Node",     "schakel.v1.Matching", "schakel.v1.Approvals",
                                     "schakel.v1.Inbox",    "schakel.v1.LocalLog", "schakel.v1.Users",
                                     "schakel.v1.NodeAdmin", "schakel.v1.Signals", "schakel.v1.Cases",
                                     "schakel.v1.Audit"};
constexpr const char* kRoles[] = {"", "professional", "analyst", "approver", "director", "auditor", "admin"};

template <typename T>
T Must(absl::StatusOr<T> result, std::string_view what) {
  if (!result.ok()) schakel::fuzz::SetupFailed(std::string(what) + ": " + std::string(result.status().message()));
  return *std::move(result);
}
void Must(const absl::Status& status, std::string_view what) {
  if (!status.ok()) schakel::fuzz::SetupFailed(std::string(what) + ": " + std::string(status.message()));
}

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

struct Method {
  std::string path;  // "/schakel.v1.Matching/Match"
  bool evaluate = false;
  bool disclose = false;
};

struct Node {
  fs::path dir;
  schakel::crypto::SigningKey gateway_key = schakel::crypto::SigningKey::Generate();
  std::unique_ptr<schakel::nodes::NodeServer> server;
  std::shared_ptr<grpc::Channel> gateway_channel;  // as the gateway (mTLS)
  std::shared_ptr<grpc::Channel> local_channel;    // as a local user (TLS + bearer)
  std::string credential;                          // "fuzz.<secret>", every role
  std::vector<Method> methods;

  Node() {
    // Fuzzed strings that are not UTF-8 would fill the log with parse errors.
    google::protobuf::SetLogHandler(nullptr);
    dir = fs::temp_directory_path() / ("schakel-fuzz-node-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    schakel::fuzz::MakePki(dir / "pki", {kOrg, "gateway"});
    using schakel::crypto::Overwrite;
    Must(schakel::crypto::SaveOprfKey(dir / "oprf.key", schakel::crypto::oprf::PrivateKey::Generate(),
                                      Overwrite::kReplace),
         "oprf key");
    Must(schakel::crypto::SaveSigningKey(dir / "signing.key", schakel::crypto::SigningKey::Generate(),
                                         Overwrite::kReplace),
         "signing key");
    Must(schakel::crypto::SaveBoxSecretKey(dir / "box.key", schakel::crypto::BoxSecretKey::Generate(),
                                           Overwrite::kReplace),
         "box key");
    const nlohmann::json config = {
        {"org_id", kOrg},
        {"listen", "127.0.0.1:0"},
        {"data_dir", (dir / "data").string()},
        {"tls",
         {{"ca", (dir / "pki/ca.pem").string()},
          {"cert", (dir / "pki" / (std::string(kOrg) + ".pem")).string()},
          {"key", (dir / "pki" / (std::string(kOrg) + ".key")).string()}}},
        {"oprf_key_file", (dir / "oprf.key").string()},
        {"signing_key_file", (dir / "signing.key").string()},
        {"box_key_file", (dir / "box.key").string()},
        {"gateway",
         {{"org_id", "gateway"},
          {"signing_public_key", schakel::crypto::ToHex(gateway_key.verify_key().bytes())},
          {"endpoint", "127.0.0.1:1"}}},
        {"local", {{"listen", "127.0.0.1:0"}}},
        {"local_policy", (fs::path(SCHAKEL_SOURCE_DIR) / "deploy/examples/local-policy.json").string()},
        {"node_secret_file", (dir / "node-secret.key").string()},
        {"bootstrap_admin_credential_file", (dir / "admin.credential").string()},
        {"threads", 1},
    };
    const auto parsed = Must(schakel::nodes::ParseNodeConfig(config.dump(), dir), "node config");
    server = Must(schakel::nodes::NodeServer::Start(parsed, [](std::string_view) {}), "node start");

    const schakel::rpc::TlsFiles as_gateway{dir / "pki/ca.pem", dir / "pki/gateway.pem", dir / "pki/gateway.key"};
    gateway_channel = grpc::CreateChannel(server->gateway_facing_address(),
                                          Must(schakel::rpc::ClientCredentialsFromFiles(as_gateway), "tls"));
    std::ifstream ca_in(dir / "pki/ca.pem");
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs.assign(std::istreambuf_iterator<char>(ca_in), {});
    local_channel = grpc::CreateChannel(server->local_address(), grpc::SslCredentials(ssl));

    // One user with every role, made by the bootstrap admin.
    std::ifstream admin_in(dir / "admin.credential");
    std::string admin;
    std::getline(admin_in, admin);
    auto users = v1::Users::NewStub(local_channel);
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + admin);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::CreateUserRequest create;
    create.set_user_id("fuzz");
    create.set_display_name("Fuzz");
    for (v1::Role role : {v1::ROLE_PROFESSIONAL, v1::ROLE_ANALYST, v1::ROLE_APPROVER, v1::ROLE_DIRECTOR,
                          v1::ROLE_AUDITOR, v1::ROLE_ADMIN}) {
      create.add_roles(role);
    }
    v1::CreateUserResponse created;
    const grpc::Status status = users->CreateUser(&context, create, &created);
    if (!status.ok()) schakel::fuzz::SetupFailed("CreateUser: " + status.error_message());
    credential = created.credential();

    const auto* pool = google::protobuf::DescriptorPool::generated_pool();
    for (const char* name : kServices) {
      const auto* service = pool->FindServiceByName(name);
      if (service == nullptr) schakel::fuzz::SetupFailed(std::string("no service ") + name);
      for (int i = 0; i < service->method_count(); ++i) {
        const auto* m = service->method(i);
        methods.push_back({"/" + std::string(name) + "/" + m->name(),
                           service->name() == "Node" && m->name() == "Evaluate",
                           service->name() == "Node" && m->name() == "Disclose"});
      }
    }
  }
  ~Node() {
    server->Shutdown(std::chrono::milliseconds(0));
    server.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  // The gateway's authorisation for `payload` as the fuzzer left it, made
  // valid: this node as responder, `operation`, `digest`, a fresh nonce and
  // validity window, signed with the gateway's key.
  v1::Authorisation Authorise(v1::AuthorisationPayload payload, v1::AuthorisedOperation operation,
                              const canonical::DigestBytes& digest) const {
    payload.set_operation(operation);
    payload.set_responder_org_id(kOrg);
    payload.set_request_digest(std::string(digest.begin(), digest.end()));
    const int64_t now = NowMs() / 1000;
    payload.mutable_issued_at()->set_seconds(now);
    payload.mutable_issued_at()->set_nanos(0);
    payload.mutable_expires_at()->set_seconds(now + 30);
    payload.mutable_expires_at()->set_nanos(0);
    std::string nonce(16, '\0');
    schakel::crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), nonce.size()));
    payload.set_nonce(nonce);
    v1::Authorisation a;
    *a.mutable_payload() = payload;
    *a.mutable_signature() = canonical::Sign(gateway_key, canonical::kAuthorisationContext, payload).value();
    return a;
  }
};

// Sends `request` to `path` as one message and reads every answer until
// the status: works for unary and server-streaming methods alike.
grpc::Status Call(grpc::Channel& channel, const std::string& path, const std::string& request,
                  grpc::ClientContext& context) {
  grpc::GenericStub stub(std::shared_ptr<grpc::Channel>(&channel, [](grpc::Channel*) {}));
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&context, path, &cq);
  void* tag = nullptr;
  bool ok = false;
  auto step = [&](void* want) {
    Check(cq.Next(&tag, &ok) && tag == want, "completion queue out of order");
    return ok;
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (step(reinterpret_cast<void*>(1))) {
    grpc::Slice slice(request);
    grpc::ByteBuffer buffer(&slice, 1);
    call->WriteLast(buffer, grpc::WriteOptions(), reinterpret_cast<void*>(2));
    if (step(reinterpret_cast<void*>(2))) {
      for (int n = 0; n < 10000; ++n) {
        grpc::ByteBuffer answer;
        call->Read(&answer, reinterpret_cast<void*>(3));
        if (!step(reinterpret_cast<void*>(3))) break;
      }
    }
  }
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(4));
  step(reinterpret_cast<void*>(4));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Node& node = schakel::fuzz::Fixture<Node>();
  if (size < 2) return 0;
  const Method& method = node.methods[data[0] % node.methods.size()];
  const bool sign = (data[1] & 0x80) != 0;
  const std::string_view role = kRoles[(data[1] & 0x7f) % std::size(kRoles)];
  std::string request(reinterpret_cast<const char*>(data) + 2, size - 2);

  if (sign && method.evaluate) {
    v1::EvaluateRequest r;
    if (!r.ParseFromString(request)) return 0;
    v1::ElementBatch batch;
    *batch.mutable_elements() = r.blinded_elements();
    auto digest = canonical::Digest(canonical::kElementBatchContext, batch);
    if (!digest.ok()) return 0;
    *r.mutable_authorisation() =
        node.Authorise(r.authorisation().payload(), v1::AUTHORISED_OPERATION_EVALUATE, *digest);
    request = r.SerializeAsString();
  } else if (sign && method.disclose) {
    v1::DiscloseRequest r;
    if (!r.ParseFromString(request)) return 0;
    auto digest = canonical::Digest(canonical::kDisclosureOrderContext, r.order());
    if (!digest.ok()) return 0;
    v1::AuthorisationPayload payload = r.authorisation().payload();
    payload.set_disclosure_id(r.order().disclosure_id());
    *r.mutable_authorisation() = node.Authorise(payload, v1::AUTHORISED_OPERATION_DISCLOSE, *digest);
    request = r.SerializeAsString();
  }

  const bool to_gateway_port = method.path.starts_with("/schakel.v1.Node/");
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  if (!to_gateway_port) {
    context.AddMetadata("authorization", "Bearer " + node.credential);
    if (!role.empty()) context.AddMetadata("x-schakel-role", std::string(role));
  }
  const grpc::Status status =
      Call(to_gateway_port ? *node.gateway_channel : *node.local_channel, method.path, request, context);
  // Every call is answered: a deadline passing means a handler hung.
  Check(status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED, "a handler did not answer within 10 s");
  return 0;
}
