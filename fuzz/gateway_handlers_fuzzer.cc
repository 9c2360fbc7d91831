// Every request handler of the gateway (Gateway, Cases, Audit and
// GatewayAdmin) on any request: never crashes, leaks or hits undefined
// behaviour, and answers with a status whatever the request says. And the
// exchange fan-out to partner nodes that answer as the input says: the
// gateway accepts only answers with the right count of valid elements, a
// 64-byte proof and a signature by the partner's directory key, and passes
// those on unchanged; a partner's failure (error status, deadline passed,
// unreachable) is reported, never a crash; a repeated OpenExchange returns
// the stored exchange and a repeated ResolveMatches the stored result.
//
// Input: byte 0 picks the rpc (kRpcs below), byte 1 the calling
// organisation (an active one of the directory: the certificate check
// happens before these entry points). For every rpc but the last, the rest
// is the request message in protobuf wire format (inputs that do not parse
// are skipped). The last, the fan-out (FanOut below), reads the rest as
//   byte 2, 3   how politie-zwb's and gemeente-tilburg's nodes answer
//               Evaluate (fuzz/fake_partner.h: byte % 16 the kind, byte / 16
//               its parameter);
//   byte 4      n; then n bytes the answers are made of (proof, a bad
//               element, an error message, a forged signature);
//   2 bytes     m, big-endian; then m bytes: an OpenExchangeRequest, sent
//               with a fresh request_id and, when it names no case, the open
//               case the fixture keeps for its purpose;
//   the rest    a ResolveMatchesRequest, sent with the opened exchange's id.
//
// The gateway is the real one (GatewayServer::Create) with a PKI made by
// deploy/pki.sh, an in-memory store and a 100 ms partner deadline, over the
// example convenant (deploy/examples/policy.json; daily quotas raised to
// their maximum, and a third partner zorg-zwb for riec-ondermijning) and
// directory (deploy/examples/directory.json; the operator schakel-beheer
// added, zorg-zwb at 127.0.0.1:1 so that its calls fail at once, and
// politie-zwb and gemeente-tilburg at fake nodes served in this process over
// mutual TLS (fuzz/fake_partner.h), with signing keys made here). Both fake
// partners have published kHitTag, so that a resolve can hit. The gateway
// lives for the whole run, so the fuzzer can build on state it made (a case
// it opened, an exchange it logged); its clock moves a day ahead when a
// fan-out meets a daily quota. Other rpcs that reach the fake nodes get
// honest Evaluate answers, and UNIMPLEMENTED for Disclose and
// DeliverNotifications. At exit the fixture prints what the fan-outs
// reached (partner statuses, resolves, hits).
#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/str_format.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/signing.h"
#include "fuzz/fake_partner.h"
#include "fuzz/fuzz_support.h"
#include "gateway/gateway_config.h"
#include "gateway/gateway_server.h"
#include "nlohmann/json.hpp"
#include "store/memory_store.h"

namespace fs = std::filesystem;
namespace v1 = schakel::v1;
using google::protobuf::util::MessageDifferencer;
using schakel::fuzz::AnswerScript;
using schakel::fuzz::Check;
using schakel::fuzz::FakePartner;
using schakel::gateway::GatewayServer;

namespace {

constexpr const char* kCallers[] = {"riec-zwb", "politie-zwb", "gemeente-tilburg", "schakel-beheer"};
// The answering organisations of the example directory: a fake node each.
constexpr const char* kPartners[] = {"politie-zwb", "gemeente-tilburg"};
// A third answering organisation, at an endpoint nothing listens on.
constexpr char kUnreachable[] = "zorg-zwb";
// Published by each fake partner under every purpose: a resolve with it hits.
constexpr char kHitTag[] = "schakel-fuzz-hit";  // 16 bytes
// The purposes whose cases the fixture keeps open, and who directs them.
struct CasePurpose {
  const char* purpose_id;
  const char* director_org_id;
};
constexpr CasePurpose kCasePurposes[] = {{"riec-ondermijning", "riec-zwb"}, {"zvh-casusoverleg", "gemeente-tilburg"}};

template <typename T>
T Must(absl::StatusOr<T> result, std::string_view what) {
  if (!result.ok()) schakel::fuzz::SetupFailed(std::string(what) + ": " + std::string(result.status().message()));
  return *std::move(result);
}

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

nlohmann::json ReadExample(std::string_view name) {
  return nlohmann::json::parse(ReadFile(fs::path(SCHAKEL_SOURCE_DIR) / "deploy/examples" / name), nullptr, true,
                               /*ignore_comments=*/true);
}

// The example directory with the partners at `endpoints` and signing with
// `keys` (hex), the unreachable partner and the operator organisation added
// (their keys are other organisations': only the org id matters here).
std::string FuzzDirectory(const std::map<std::string, std::string>& endpoints,
                          const std::map<std::string, std::string>& keys) {
  nlohmann::json doc = ReadExample("directory.json");
  nlohmann::json& orgs = doc["organisations"];
  for (nlohmann::json& org : orgs) {
    const std::string id = org.at("org_id");
    if (org.contains("endpoint")) org["endpoint"] = endpoints.at(id);
    if (keys.contains(id)) {
      // A rotation's array keeps its old key (no longer valid).
      nlohmann::json& key = org["signing_public_key"];
      (key.is_array() ? key[0] : key) = keys.at(id);
    }
  }
  nlohmann::json unreachable = orgs.at(2);
  unreachable["org_id"] = kUnreachable;
  unreachable["display_name"] = "Zorg (unreachable)";
  unreachable["domain"] = "care";
  unreachable["endpoint"] = "127.0.0.1:1";
  nlohmann::json beheer = orgs.at(0);
  beheer["org_id"] = "schakel-beheer";
  beheer["display_name"] = "Beheer";
  orgs.push_back(unreachable);
  orgs.push_back(beheer);
  return doc.dump(2);
}

// The example convenant with the unreachable partner answering
// riec-ondermijning, and every daily quota at its maximum (the fuzzer opens
// thousands of exchanges a day).
std::string FuzzPolicy() {
  nlohmann::json doc = ReadExample("policy.json");
  doc["parties"].push_back({{"org_id", kUnreachable}, {"name", "Zorg (unreachable)"}});
  for (nlohmann::json& purpose : doc["purposes"]) {
    purpose["daily_subject_quota"] = 100'000;
    if (purpose.contains("daily_exchange_quota")) purpose["daily_exchange_quota"] = 100'000;
    if (purpose["purpose_id"] == "riec-ondermijning") purpose["may_answer_org_ids"].push_back(kUnreachable);
  }
  return doc.dump(2);
}

// What the fan-outs reached, printed at exit.
struct FanOutCounts {
  uint64_t inputs = 0;
  uint64_t opened = 0;
  std::map<v1::PartnerStatus, uint64_t> partners;
  uint64_t resolved = 0;
  uint64_t hit = 0;

  void Print() const {
    std::string statuses;
    for (const auto& [status, n] : partners) {
      statuses += absl::StrFormat("%s%s %d", statuses.empty() ? "" : ", ", v1::PartnerStatus_Name(status), n);
    }
    std::fprintf(stderr,
                 "gateway_handlers fan-out: %llu inputs, %llu exchanges opened; partner answers: %s; "
                 "%llu resolved, %llu with a hit\n",
                 static_cast<unsigned long long>(inputs), static_cast<unsigned long long>(opened),
                 statuses.empty() ? "none" : statuses.c_str(), static_cast<unsigned long long>(resolved),
                 static_cast<unsigned long long>(hit));
  }
};

struct Gateway {
  fs::path dir;
  AnswerScript script;
  std::map<std::string, schakel::crypto::SigningKey> keys;  // each fake partner's
  std::vector<std::unique_ptr<FakePartner>> partners;
  std::atomic<int64_t> days_ahead{0};  // the gateway's clock: now + this many days
  std::unique_ptr<GatewayServer> server;
  std::map<std::string, std::string, std::less<>> cases;  // purpose -> the case fan-outs use
  uint64_t ids = 0;
  FanOutCounts counts;

  Gateway() {
    // Fuzzed strings that are not UTF-8 would fill the log with parse errors.
    google::protobuf::SetLogHandler(nullptr);
    dir = fs::temp_directory_path() / ("schakel-fuzz-gateway-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    schakel::fuzz::MakePki(dir / "pki", {"gateway", kPartners[0], kPartners[1]});
    if (!schakel::crypto::SaveSigningKey(dir / "signing.key", schakel::crypto::SigningKey::Generate(),
                                         schakel::crypto::Overwrite::kReplace)
             .ok()) {
      schakel::fuzz::SetupFailed("cannot write the signing key");
    }

    std::map<std::string, std::string> endpoints;
    std::map<std::string, std::string> public_keys;
    for (const char* org : kPartners) keys.emplace(org, schakel::crypto::SigningKey::Generate());
    for (size_t i = 0; i < std::size(kPartners); ++i) {
      const std::string org = kPartners[i];
      const std::string other = kPartners[(i + 1) % std::size(kPartners)];
      const fs::path pki = dir / "pki";
      partners.push_back(Must(FakePartner::Start({.org_id = org,
                                                  .tls = {pki / "ca.pem", pki / (org + ".pem"), pki / (org + ".key")},
                                                  .key = &keys.at(org),
                                                  .other_org_id = other,
                                                  .other_key = &keys.at(other),
                                                  .script = &script}),
                              "fake partner " + org));
      endpoints[org] = partners.back()->address();
      public_keys[org] = schakel::crypto::ToHex(keys.at(org).verify_key().bytes());
    }
    std::ofstream(dir / "directory.json") << FuzzDirectory(endpoints, public_keys);
    std::ofstream(dir / "policy.json") << FuzzPolicy();

    const nlohmann::json config = {
        {"org_id", "gateway"},
        {"listen", "127.0.0.1:0"},
        {"data_dir", (dir / "data").string()},
        {"tls",
         {{"ca", (dir / "pki/ca.pem").string()},
          {"cert", (dir / "pki/gateway.pem").string()},
          {"key", (dir / "pki/gateway.key").string()}}},
        {"signing_key_file", (dir / "signing.key").string()},
        {"policy", (dir / "policy.json").string()},
        {"directory", (dir / "directory.json").string()},
        {"partner_deadline_ms", 100},
    };
    auto parsed = schakel::gateway::ParseGatewayConfig(config.dump(), dir);
    if (!parsed.ok()) schakel::fuzz::SetupFailed(std::string(parsed.status().message()));
    GatewayServer::Options options;
    options.now = [this] { return Now(); };
    options.wrap_store = [](schakel::store::KvStore*) {
      return std::make_unique<schakel::store::MemoryStore>();
    };
    server = Must(GatewayServer::Create(*parsed, std::move(options)), "gateway");

    for (const char* org : kPartners) {
      v1::IndexBatch batch;
      batch.set_sequence(1);
      for (const CasePurpose& p : kCasePurposes) {
        v1::PurposeTagChanges& changes = *batch.add_changes();
        changes.set_purpose_id(p.purpose_id);
        changes.add_added(kHitTag);
      }
      Must(server->service().ApplyIndexBatch(org, batch), std::string("index of ") + org);
    }
    for (const CasePurpose& p : kCasePurposes) {
      if (CaseFor(p.purpose_id).empty()) schakel::fuzz::SetupFailed(std::string("a case for ") + p.purpose_id);
    }
  }
  ~Gateway() {
    counts.Print();
    server.reset();
    partners.clear();
    std::error_code ignored;
    fs::remove_all(dir, ignored);
  }

  absl::Time Now() const { return absl::Now() + absl::Hours(24) * days_ahead.load(); }

  // 16 bytes, never the same twice.
  std::string FreshId() { return absl::StrFormat("fuzz-%011d", ++ids); }

  // The open case fan-outs under `purpose_id` use: a new one when the
  // fuzzer closed the last or it expired; "" for other purposes and when
  // none can be opened.
  std::string CaseFor(std::string_view purpose_id) {
    for (const CasePurpose& p : kCasePurposes) {
      if (purpose_id != p.purpose_id) continue;
      std::string& case_id = cases[p.purpose_id];
      if (!case_id.empty()) {
        auto c = server->cases().Get(case_id, Now());
        if (c.ok() && c->state() == v1::CASE_STATE_OPEN) return case_id;
      }
      v1::OpenCaseRequest open;
      open.mutable_actor()->set_user_id("fuzz-director");
      open.mutable_actor()->set_role(v1::ROLE_DIRECTOR);
      open.set_request_id(FreshId());
      open.set_purpose_id(p.purpose_id);
      open.set_title("Fuzz");
      open.set_goal("Fan-out");
      open.add_selection_grounds("fuzz");
      open.mutable_ends_at()->set_seconds(absl::ToUnixSeconds(Now() + absl::Hours(24 * 30)));
      auto opened = server->cases_service().Open(p.director_org_id, open);
      case_id = opened.ok() ? opened->case_info().case_id() : "";
      return case_id;
    }
    return "";
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

// Reads the fan-out's input front to back; what is missing reads as zeros.
struct Reader {
  std::string_view rest;

  uint8_t Byte() {
    if (rest.empty()) return 0;
    const auto b = static_cast<uint8_t>(rest.front());
    rest.remove_prefix(1);
    return b;
  }
  std::string_view Bytes(size_t n) {
    const std::string_view out = rest.substr(0, n);
    rest.remove_prefix(out.size());
    return out;
  }
};

// The fan-out rpc (see the top of this file): OpenExchange with the fake
// partners answering as `bytes` say, the same OpenExchange again, then
// ResolveMatches on the exchange, twice.
void FanOut(Gateway& gateway, std::string_view caller, std::string_view bytes) {
  Reader in{bytes};
  std::map<std::string, uint8_t, std::less<>> how;
  for (const char* org : kPartners) how[org] = in.Byte();
  const std::string_view feed = in.Bytes(in.Byte());
  const size_t high = in.Byte();
  const std::string_view open_bytes = in.Bytes(high << 8 | in.Byte());
  v1::OpenExchangeRequest open;
  v1::ResolveMatchesRequest resolve;
  if (!open.ParseFromArray(open_bytes.data(), static_cast<int>(open_bytes.size())) ||
      !resolve.ParseFromArray(in.rest.data(), static_cast<int>(in.rest.size()))) {
    return;
  }
  gateway.script.Set(std::move(how), std::string(feed));
  open.set_request_id(gateway.FreshId());
  if (open.case_id().empty()) open.set_case_id(gateway.CaseFor(open.purpose_id()));

  schakel::gateway::GatewayService& g = gateway.server->service();
  FanOutCounts& counts = gateway.counts;
  ++counts.inputs;
  const auto opened = g.OpenExchangeFor(caller, open, absl::Now() + absl::Seconds(2));
  Answered(opened);
  if (!opened.ok()) {
    // A daily quota: tomorrow has a fresh one.
    if (opened.status().code() == absl::StatusCode::kResourceExhausted) gateway.days_ahead += 1;
    return;
  }
  ++counts.opened;
  for (const v1::PartnerEvaluation& e : opened->evaluations()) {
    ++counts.partners[e.outcome().status()];
    if (e.outcome().status() != v1::PARTNER_STATUS_OK) continue;
    const auto sent = gateway.script.Find(e.outcome().org_id(), opened->exchange_id());
    Check(sent.has_value(), "a partner that was not asked is reported OK");
    Check(sent->acceptable, "an answer with a wrong count, a bad element or proof, or a bad signature was accepted");
    const v1::EvaluateResponse& r = sent->response;
    Check(std::equal(e.evaluated_elements().begin(), e.evaluated_elements().end(), r.evaluated_elements().begin(),
                     r.evaluated_elements().end()) &&
              e.proof() == r.proof() && MessageDifferencer::Equals(e.node_signature(), r.signature()),
          "an accepted answer was passed on changed");
  }
  const auto again = g.OpenExchangeFor(caller, open, absl::Now() + absl::Seconds(2));
  Check(again.ok() && again->exchange_id() == opened->exchange_id(),
        "a repeated OpenExchange did not return the stored exchange");

  resolve.set_exchange_id(opened->exchange_id());
  const auto resolved = g.ResolveMatchesFor(caller, resolve);
  Answered(resolved);
  if (!resolved.ok()) return;
  ++counts.resolved;
  if (resolved->result().counts().subjects_hit() > 0) ++counts.hit;
  const auto repeated = g.ResolveMatchesFor(caller, resolve);
  Check(repeated.ok() && MessageDifferencer::Equals(repeated->result(), resolved->result()),
        "a repeated ResolveMatches did not return the stored result");
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
  gateway.script.Set({}, "");  // honest partners, unless the fan-out says otherwise
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
      // The fan-out to the fake partners, then ResolveMatches (FanOut).
      [&](std::string_view b) {
        FanOut(gateway, caller, b);
        return true;
      },
  };
  kRpcs[data[0] % std::size(kRpcs)](bytes);
  return 0;
}
