// Every request handler of the gateway (Gateway, Cases, Audit and
// GatewayAdmin) on any request: never crashes, leaks or hits undefined
// behaviour, and answers with a status whatever the request says.
//
// Input: byte 0 picks the rpc (kRpcs below), byte 1 the calling
// organisation (an active one of the directory: the certificate check
// happens before these entry points), the rest is the request message in
// protobuf wire format (inputs that do not parse are skipped).
//
// The gateway is the real one (GatewayServer::Create) over the example
// convenant (deploy/examples/policy.json) and directory (its keys, with
// every endpoint on 127.0.0.1:1 so that a fan-out fails at once and the
// operator schakel-beheer added), a PKI made by deploy/pki.sh, and an
// in-memory store. It lives for the whole run, so the fuzzer can build on
// state it made (a case it opened, an exchange it logged).
#include <google/protobuf/stubs/logging.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "crypto/key_file.h"
#include "crypto/signing.h"
#include "fuzz/fuzz_support.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_server.h"
#include "nlohmann/json.hpp"
#include "store/memory_store.h"

namespace fs = std::filesystem;
namespace v1 = schakel::v1;
using schakel::fuzz::Check;
using schakel::gateway::GatewayServer;

namespace {

constexpr const char* kCallers[] = {"riec-zwb", "politie-zwb", "gemeente-tilburg", "schakel-beheer"};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The example directory with every endpoint made unreachable at once, and
// the operator organisation added (its keys are riec-zwb's: only the
// org id matters here).
std::string FuzzDirectory() {
  nlohmann::json doc = nlohmann::json::parse(ReadFile(fs::path(SCHAKEL_SOURCE_DIR) / "deploy/examples/directory.json"),
                                             nullptr, true, /*ignore_comments=*/true);
  nlohmann::json& orgs = doc["organisations"];
  for (nlohmann::json& org : orgs) {
    if (org.contains("endpoint")) org["endpoint"] = "127.0.0.1:1";
  }
  nlohmann::json beheer = orgs.at(0);
  beheer["org_id"] = "schakel-beheer";
  beheer["display_name"] = "Beheer";
  orgs.push_back(beheer);
  return doc.dump(2);
}

struct Gateway {
  fs::path dir;
  std::unique_ptr<GatewayServer> server;

  Gateway() {
    // Fuzzed strings that are not UTF-8 would fill the log with parse errors.
    google::protobuf::SetLogHandler(nullptr);
    dir = fs::temp_directory_path() / ("schakel-fuzz-gateway-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    schakel::fuzz::MakePki(dir / "pki", {"gateway"});
    if (!schakel::crypto::SaveSigningKey(dir / "signing.key", schakel::crypto::SigningKey::Generate(),
                                         schakel::crypto::Overwrite::kReplace)
             .ok()) {
      schakel::fuzz::SetupFailed("cannot write the signing key");
    }
    std::ofstream(dir / "directory.json") << FuzzDirectory();
    const nlohmann::json config = {
        {"org_id", "gateway"},
        {"listen", "127.0.0.1:0"},
        {"data_dir", (dir / "data").string()},
        {"tls",
         {{"ca", (dir / "pki/ca.pem").string()},
          {"cert", (dir / "pki/gateway.pem").string()},
          {"key", (dir / "pki/gateway.key").string()}}},
        {"signing_key_file", (dir / "signing.key").string()},
        {"policy", (fs::path(SCHAKEL_SOURCE_DIR) / "deploy/examples/policy.json").string()},
        {"directory", (dir / "directory.json").string()},
        {"partner_deadline_ms", 100},
    };
    auto parsed = schakel::gateway::ParseGatewayConfig(config.dump(), dir);
    if (!parsed.ok()) schakel::fuzz::SetupFailed(std::string(parsed.status().message()));
    GatewayServer::Options options;
    options.wrap_store = [](schakel::store::KvStore*) {
      return std::make_unique<schakel::store::MemoryStore>();
    };
    auto created = GatewayServer::Create(*parsed, std::move(options));
    if (!created.ok()) schakel::fuzz::SetupFailed(std::string(created.status().message()));
    server = *std::move(created);
  }
  ~Gateway() {
    server.reset();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }
};

// Parses `bytes` as a Request and hands it to `call`; false when it does
// not parse.
template <typename Request, typename Call>
bool With(std::string_view bytes, Call call) {
  Request request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return false;
  call(request);
  return true;
}

template <typename T>
void Answered(const absl::StatusOr<T>& result) {
  // A status of some kind: an OK without a value cannot happen, and an
  // error must say something.
  if (!result.ok()) Check(!result.status().message().empty(), "an error without a message");
}
void Answered(const absl::Status& status) {
  if (!status.ok()) Check(!status.message().empty(), "an error without a message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Gateway& gateway = schakel::fuzz::Fixture<Gateway>();
  if (size < 2) return 0;
  const std::string_view caller = kCallers[data[1] % std::size(kCallers)];
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 2, size - 2);
  GatewayServer& s = *gateway.server;
  auto& g = s.service();
  auto& cases = s.cases_service();
  auto& audit = s.audit_service();
  auto& admin = s.admin_service();
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  auto ignore = [](const auto&) { return true; };

  using Handler = std::function<bool(std::string_view)>;
  const Handler kRpcs[] = {
      // Gateway
      [&](std::string_view b) {
        return With<v1::GetDirectoryRequest>(b, [&](const auto& r) { Answered(g.GetDirectoryFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::ListPurposesRequest>(b, [&](const auto& r) { Answered(g.ListPurposesFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::OpenExchangeRequest>(b,
                                             [&](const auto& r) { Answered(g.OpenExchangeFor(caller, r, deadline)); });
      },
      [&](std::string_view b) {
        return With<v1::ResolveMatchesRequest>(b, [&](const auto& r) { Answered(g.ResolveMatchesFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::RequestDisclosureRequest>(
            b, [&](const auto& r) { Answered(g.RequestDisclosureFor(caller, r, deadline)); });
      },
      [&](std::string_view b) {
        return With<v1::GetDisclosureRequest>(b, [&](const auto& r) { Answered(g.GetDisclosureFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::CompleteDisclosureRequest>(b,
                                                   [&](const auto& r) { Answered(g.CompleteDisclosureFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::GetIndexStateRequest>(b, [&](const auto&) { Answered(g.GetIndexStateFor(caller)); });
      },
      [&](std::string_view b) {
        return With<v1::IndexBatch>(b, [&](const auto& r) { Answered(g.ApplyIndexBatch(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::FetchNotificationsRequest>(b,
                                                   [&](const auto& r) { Answered(g.FetchNotificationsFor(caller, r)); });
      },
      // Cases
      [&](std::string_view b) {
        return With<v1::OpenCaseRequest>(b, [&](const auto& r) { Answered(cases.Open(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::UpdateCaseRequest>(b, [&](const auto& r) { Answered(cases.Update(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::CloseCaseRequest>(b, [&](const auto& r) { Answered(cases.Close(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::GetCaseRequest>(b, [&](const auto& r) { Answered(cases.Get(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::ListCasesRequest>(b, [&](const auto& r) { Answered(cases.List(caller, r)); });
      },
      // Audit
      [&](std::string_view b) {
        return With<v1::ListEntriesRequest>(b, [&](const auto& r) { Answered(audit.ListEntriesFor(caller, r, ignore)); });
      },
      [&](std::string_view b) {
        return With<v1::GetEntriesRequest>(b, [&](const auto& r) { Answered(audit.GetEntriesFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::FindSubjectEntriesRequest>(
            b, [&](const auto& r) { Answered(audit.FindSubjectEntriesFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::GetStatsRequest>(b, [&](const auto& r) { Answered(audit.GetStatsFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::VerifyChainRequest>(b, [&](const auto& r) { Answered(audit.VerifyChainFor(caller, r, ignore)); });
      },
      [&](std::string_view b) {
        return With<v1::ListChainLinksRequest>(
            b, [&](const auto& r) { Answered(audit.ListChainLinksFor(caller, r, ignore)); });
      },
      [&](std::string_view b) {
        return With<v1::ListCheckpointsRequest>(b,
                                                [&](const auto& r) { Answered(audit.ListCheckpointsFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::ExportRequest>(b, [&](const auto& r) { Answered(audit.ExportFor(caller, r, ignore)); });
      },
      // GatewayAdmin
      [&](std::string_view b) {
        return With<v1::GetPolicyRequest>(b, [&](const auto& r) { Answered(admin.GetPolicyFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::ReloadPolicyRequest>(b, [&](const auto& r) { Answered(admin.ReloadPolicyFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::ReloadDirectoryRequest>(b,
                                                [&](const auto& r) { Answered(admin.ReloadDirectoryFor(caller, r)); });
      },
      [&](std::string_view b) {
        return With<v1::CreateCheckpointRequest>(
            b, [&](const auto& r) { Answered(admin.CreateCheckpointFor(caller, r)); });
      },
  };
  kRpcs[data[0] % std::size(kRpcs)](bytes);
  return 0;
}
