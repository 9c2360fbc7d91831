#include "tests/integration/federation.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <signal.h>

#include <gtest/gtest.h>
#include <grpcpp/grpcpp.h>

#include "common/strings.h"
#include "gateway/exchange_log.h"
#include "rpc/channel.h"
#include "rpc/tls.h"
#include "store/rocksdb_store.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

constexpr char kGatewayReady[] = "schakel-gateway: serving on ";
constexpr char kNodeReady[] = "listening on ";

// A free TCP port on 127.0.0.1, below the kernel's ephemeral range
// (32768-60999 here): a port the kernel picked for us would be free now, but
// the kernel may hand it to another test's server or to an outgoing
// connection before our process binds it. Ports of this range are only ever
// taken by asking for them, so a port found free stays free unless another
// federation draws the same one (random per process, and checked by binding).
int FreePort() {
  static std::mt19937 rng(static_cast<uint32_t>(::getpid()) ^
                          static_cast<uint32_t>(std::random_device{}()));
  static std::set<int> given;
  for (int attempt = 0; attempt < 1000; ++attempt) {
    const int port = 20000 + static_cast<int>(rng() % 12000);
    if (given.contains(port)) continue;
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(static_cast<uint16_t>(port));
    const bool free = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    if (free) {
      given.insert(port);
      return port;
    }
  }
  return 0;
}

bool WriteText(const fs::path& path, const std::string& text, std::string* error) {
  fs::create_directories(path.parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) {
    *error = StrCat("cannot write ", path.string());
    return false;
  }
  return true;
}

std::string FieldOf(const std::string& out, const std::string& field) {
  std::istringstream in(out);
  std::string line;
  const std::string prefix = field + ": ";
  while (std::getline(in, line)) {
    if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
  }
  return "";
}

std::string Addr(int port) { return StrCat("127.0.0.1:", port); }

// The convenant of the test federation.
std::string PolicyJson(const FederationOptions& o) {
  return StrCat(R"({
  "version": "test-2026.1",
  "title": "Convenant testfederatie",
  "parties": [
    { "org_id": "riec", "name": "RIEC" },
    { "org_id": "politie", "name": "Politie" },
    { "org_id": "gemeente", "name": "Gemeente" },
    { "org_id": "zorg", "name": "Zorgpartner" },
    { "org_id": "beheer", "name": "Beheer en toezicht" }
  ],
  "supervisor_org_ids": ["beheer"],
  "operator_org_ids": ["beheer"],
  "purposes": [
    {
      "purpose_id": "riec-ondermijning",
      "title": "Aanpak ondermijning RIEC",
      "description": "Vaststellen welke partners informatie hebben over personen en families in een RIEC-casus.",
      "lawful_basis": { "reference": "Wpg art. 20; AVG art. 6 lid 1 sub e",
                        "text": "Verstrekking aan een samenwerkingsverband met het oog op een zwaarwegend algemeen belang." },
      "valid_from": "2025-01-01",
      "valid_until": "2030-01-01",
      "may_ask": [ { "org_id": "riec", "roles": ["analyst"] } ],
      "may_answer_org_ids": ["politie", "gemeente"],
      "case_required": true,
      "case_director_org_ids": ["riec"],
      "key_types": ["bsn", "name_dob", "address"],
      "max_subjects_per_exchange": 1000,
      "daily_exchange_quota": 200,
      "daily_subject_quota": 20000,
      "notify_on_hit": false,
      "disclosure_rules": [
        { "responder_org_id": "politie", "requester_org_ids": ["riec"],
          "fields": ["category", "contact_name", "contact_phone"] } ],
      "approval_timeout": "1h",
      "disclosure_window": "2d"
    },
    {
      "purpose_id": "zorg-signalering",
      "title": "Signalering zorg en veiligheid",
      "description": "Partners in zorg en veiligheid weten van elkaar dat zij bij dezelfde persoon of hetzelfde gezin betrokken zijn.",
      "lawful_basis": { "reference": "AVG art. 6 lid 1 sub e; Wmo 2015 art. 5.2.1",
                        "text": "Verwerking noodzakelijk voor de vervulling van een taak van algemeen belang." },
      "valid_from": "2025-01-01",
      "valid_until": "2030-01-01",
      "may_ask": [ { "org_id": "gemeente", "roles": ["analyst"] } ],
      "may_answer_org_ids": ["politie", "gemeente", "zorg"],
      "case_required": false,
      "key_types": ["bsn", "name_dob", "address"],
      "max_subjects_per_exchange": )",
                o.zorg_max_subjects, R"(,
      "daily_exchange_quota": )",
                o.zorg_daily_exchange_quota, R"(,
      "daily_subject_quota": 20000,
      "notify_on_hit": true,
      "disclosure_rules": [
        { "responder_org_id": "zorg", "requester_org_ids": ["gemeente"],
          "fields": ["category", "contact_name", "contact_phone", "free_text"] },
        { "responder_org_id": "politie", "requester_org_ids": ["gemeente"],
          "fields": ["category", "contact_name"] } ],
      "approval_timeout": "1h",
      "disclosure_window": "2d"
    }
  ]
})");
}

std::string LocalPolicyJson(const std::string& org) {
  if (org == "politie") {
    return R"({ "version": "politie-1",
      "categories": [ { "category": "overlast", "domain": "safety" },
                      { "category": "geweld", "domain": "safety" } ],
      "purposes": [
        { "purpose_id": "riec-ondermijning", "matchable_categories": ["overlast", "geweld"] },
        { "purpose_id": "zorg-signalering", "matchable_categories": ["geweld"] } ],
      "disclosure_rules": [
        { "rule": "mandaat-riec", "purpose_id": "riec-ondermijning", "requester_org_ids": ["riec"],
          "fields": ["category", "contact_name"], "mandate": true } ] })";
  }
  if (org == "gemeente") {
    return R"({ "version": "gemeente-1",
      "categories": [ { "category": "schuldhulp", "domain": "social" },
                      { "category": "woonfraude", "domain": "housing" } ],
      "purposes": [
        { "purpose_id": "riec-ondermijning", "matchable_categories": ["woonfraude"] },
        { "purpose_id": "zorg-signalering", "matchable_categories": ["schuldhulp", "woonfraude"] } ],
      "excluded_addresses": [ { "postcode": "5038 AA", "house_number": 1, "reason": "opvang" } ] })";
  }
  if (org == "zorg") {
    return R"({ "version": "zorg-1",
      "categories": [ { "category": "huiselijk-geweld", "domain": "care" } ],
      "purposes": [
        { "purpose_id": "zorg-signalering", "matchable_categories": ["huiselijk-geweld"] } ],
      "disclosure_rules": [
        { "rule": "fg-toets", "purpose_id": "zorg-signalering", "requester_org_ids": ["gemeente"],
          "fields": ["category", "contact_name", "contact_phone"] } ] })";
  }
  // riec and beheer keep no signals that anyone may match.
  return StrCat(R"({ "version": ")", org, R"(-1",
      "categories": [ { "category": "dossier", "domain": "safety" } ],
      "purposes": [] })");
}

std::string Domain(const std::string& org) {
  if (org == "zorg") return "care";
  if (org == "gemeente") return "social";
  return "safety";
}

}  // namespace

std::unique_ptr<Federation> Federation::Create(const fs::path& root,
                                               const FederationOptions& options,
                                               std::string* error) {
  std::unique_ptr<Federation> f(new Federation());
  f->root_ = root;
  f->options_ = options;
  if (!f->Build(error)) return nullptr;
  return f;
}

std::unique_ptr<Federation> Federation::StartForTest(const std::string& prefix,
                                                     const FederationOptions& options,
                                                     fs::path* root, std::string* error) {
  *root = fs::temp_directory_path() /
          StrCat(prefix, "-", ::getpid(), "-",
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
  fs::remove_all(*root);
  std::unique_ptr<Federation> f = Create(*root, options, error);
  if (f == nullptr || !f->StartAll(error)) return nullptr;
  return f;
}

Federation::~Federation() {
  for (auto& [org, process] : nodes_) process->Kill();
  gateway_.Kill();
}

std::string Federation::gateway_address() const { return Addr(gateway_port_); }
std::string Federation::node_address(const std::string& org) const {
  return Addr(node_ports_.at(org));
}
std::string Federation::node_local_address(const std::string& org) const {
  return Addr(local_ports_.at(org));
}
std::string Federation::metrics_address(const std::string& process) const {
  return Addr(metrics_ports_.at(process));
}

std::string Federation::ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::shared_ptr<grpc::Channel> Federation::ChannelAs(const std::string& cert_stem,
                                                     const std::string& address) const {
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (cert_stem.empty()) {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadText(ca_file());
    credentials = grpc::SslCredentials(tls);
  } else {
    auto files = rpc::ClientCredentialsFromFiles(
        {ca_file(), pki_dir() / (cert_stem + ".pem"), pki_dir() / (cert_stem + ".key")});
    EXPECT_TRUE(files.ok()) << files.status();
    if (!files.ok()) return nullptr;
    credentials = *files;
  }
  auto channel = rpc::CreateChannel(address, credentials, "localhost");
  EXPECT_TRUE(channel.ok()) << channel.status();
  return channel.ok() ? *channel : nullptr;
}

std::unique_ptr<v1::Gateway::Stub> Federation::GatewayAs(const std::string& org) const {
  auto channel = ChannelAs(org, gateway_address());
  return channel == nullptr ? nullptr : v1::Gateway::NewStub(channel);
}

std::vector<v1::LogEntry> Federation::ReadGatewayLog() {
  EXPECT_EQ(gateway_.SignalAndWait(SIGTERM, 10s), 0);
  return ReadGatewayLogAt(gateway_data_dir());
}

std::vector<v1::LogEntry> Federation::ReadGatewayLogAt(const fs::path& data_dir) {
  auto kv = store::RocksDbStore::Open(data_dir.string());
  EXPECT_TRUE(kv.ok()) << kv.status();
  if (!kv.ok()) return {};
  auto log = gateway::ExchangeLog::Open(kv->get());
  EXPECT_TRUE(log.ok()) << log.status();
  if (!log.ok()) return {};
  auto entries = (*log)->Read(1, 100000);
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? *entries : std::vector<v1::LogEntry>{};
}

std::optional<std::pair<uint64_t, uint64_t>> Federation::GatewayIndex(const std::string& org) const {
  auto stub = GatewayAs(org);
  if (!stub) return std::nullopt;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 5s);
  v1::GetIndexStateResponse response;
  if (!stub->GetIndexState(&context, v1::GetIndexStateRequest(), &response).ok()) {
    return std::nullopt;
  }
  uint64_t tags = 0;
  for (const auto& p : response.purposes()) tags += p.tag_count();
  return std::make_pair(tags, response.applied_through());
}

::testing::AssertionResult Federation::WaitForTags(const std::string& org, uint64_t tags,
                                                   std::chrono::seconds limit) const {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::optional<std::pair<uint64_t, uint64_t>> last;
  while (std::chrono::steady_clock::now() < deadline) {
    last = GatewayIndex(org);
    if (last && last->first == tags) return ::testing::AssertionSuccess();
    std::this_thread::sleep_for(50ms);
  }
  return ::testing::AssertionFailure()
         << "gateway holds " << (last ? StrCat(last->first) : "?") << " tags of " << org
         << ", expected " << tags << " (publication did not catch up in " << limit.count()
         << " s); node log:\n"
         << ReadText(node_stderr(org));
}

std::set<std::string> LoggedReasons(const std::vector<v1::LogEntry>& entries) {
  std::set<std::string> out;
  for (const v1::LogEntry& e : entries) {
    for (int reason : e.record().denial_reasons()) {
      out.insert(v1::DenialReason_Name(static_cast<v1::DenialReason>(reason)));
    }
  }
  return out;
}

bool Federation::Generate(const std::string& kind, const fs::path& out, std::string* pub,
                          std::string* error) {
  fs::create_directories(out.parent_path());
  const ProcessResult r = RunProcess(
      SCHAKEL_CLI_BINARY, {"keys", "generate", "--kind", kind, "--out", out.string()});
  *pub = FieldOf(r.out, "public");
  if (r.exit_code != 0 || pub->size() != 64) {
    *error = StrCat("schakel keys generate --kind ", kind, " failed: ", r.out, r.err);
    return false;
  }
  return true;
}

bool Federation::WritePolicy(const FederationOptions& options, std::string* error,
                             const std::string& text) {
  return WriteText(root_ / "gateway" / "policy.json", text.empty() ? PolicyJson(options) : text,
                   error);
}

bool Federation::Build(std::string* error) {
  if (fs::exists(root_)) {
    *error = StrCat(root_.string(), " exists already");
    return false;
  }
  fs::create_directories(pki_dir());
  std::vector<std::vector<std::string>> pki = {{pki_dir().string(), "ca"},
                                               {pki_dir().string(), "org", "gateway"}};
  for (const char* org : kOrgs) pki.push_back({pki_dir().string(), "org", org});
  for (const auto& args : pki) {
    const ProcessResult r = RunProcess(SCHAKEL_PKI_SCRIPT, args);
    if (r.exit_code != 0) {
      *error = StrCat("deploy/pki.sh failed: ", r.err);
      return false;
    }
  }

  gateway_port_ = FreePort();
  metrics_ports_["gateway"] = FreePort();
  std::string gateway_signing_public;
  if (!Generate("ed25519", root_ / "gateway" / "keys" / "signing.key", &gateway_signing_public,
                error)) {
    return false;
  }

  std::string directory = R"({ "organisations": [)";
  bool first = true;
  for (const char* org_c : kOrgs) {
    const std::string org = org_c;
    node_ports_[org] = FreePort();
    local_ports_[org] = FreePort();
    metrics_ports_[org] = FreePort();
    const fs::path dir = root_ / org;
    std::string oprf, signing, box;
    if (!Generate("oprf", dir / "keys" / "oprf.key", &oprf, error) ||
        !Generate("ed25519", dir / "keys" / "signing.key", &signing, error) ||
        !Generate("x25519", dir / "keys" / "box.key", &box, error)) {
      return false;
    }
    directory += StrCat(first ? "" : ",", R"(
      { "org_id": ")", org, R"(", "display_name": ")", org, R"(", "domain": ")", Domain(org),
                        R"(",
        "endpoint": ")", node_address(org), R"(", "oprf_public_key": ")", oprf,
                        R"(",
        "signing_public_key": ")", signing, R"(", "box_public_key": ")", box, R"(" })");
    first = false;

    if (!WriteText(dir / "local-policy.json", LocalPolicyJson(org), error)) return false;
    const std::string node_config = StrCat(R"({
      "org_id": ")", org, R"(",
      "listen": ")", node_address(org), R"(",
      "data_dir": "data",
      "tls": { "ca": "../pki/ca.pem", "cert": "../pki/)", org, R"(.pem", "key": "../pki/)", org,
                                           R"(.key" },
      "oprf_key_file": "keys/oprf.key",
      "signing_key_file": "keys/signing.key",
      "box_key_file": "keys/box.key",
      "gateway": { "org_id": "gateway", "signing_public_key": ")", gateway_signing_public,
                                           R"(",
                   "endpoint": ")", gateway_address(), R"(", "server_name": "localhost" },
      "local": { "listen": ")", node_local_address(org), R"(" },
      "metrics": { "listen": ")", metrics_address(org), R"(" },
      "local_policy": "local-policy.json",
      "threads": 2,)",
                                           options_.node_daily_subject_quota > 0
                                               ? StrCat(R"(
      "daily_subject_quota": )", options_.node_daily_subject_quota, ",")
                                               : std::string(),
                                           R"(
      "retention_interval_s": )", options_.retention_interval_s, R"(,
      "publish": { "retry_ms": 200, "batch_max_changes": )", options_.publish_batch_max_changes,
                                           R"( },
      "bootstrap_admin_credential_file": "admin.credential"
    })");
    if (!WriteText(dir / "node.json", node_config, error)) return false;
    if (!WriteText(CliConfig(org, "admin"), StrCat(R"({ "endpoint": ")", node_local_address(org),
                                                   R"(", "ca": "../pki/ca.pem",
        "server_name": "localhost", "credential_file": "admin.credential" })"),
                   error)) {
      return false;
    }
  }
  directory += "\n] }\n";

  const fs::path gw = root_ / "gateway";
  if (!WriteText(gw / "directory.json", directory, error) ||
      !WriteText(gw / "policy.json", PolicyJson(options_), error) ||
      !WriteText(gw / "gateway.json", StrCat(R"({
      "org_id": "gateway",
      "listen": ")", gateway_address(), R"(",
      "data_dir": "data",
      "tls": { "ca": "../pki/ca.pem", "cert": "../pki/gateway.pem", "key": "../pki/gateway.key" },
      "signing_key_file": "keys/signing.key",
      "policy": "policy.json",
      "directory": "directory.json",
      "partner_deadline_ms": )", options_.partner_deadline_ms, R"(,
      "partner_deadline_per_element_us": )", options_.partner_deadline_per_element_us, R"(,
      "checkpoint": { "every_entries": 10, "every_seconds": 60 },
      "metrics": { "listen": ")", metrics_address("gateway"), R"(" }
    })"),
                 error)) {
    return false;
  }
  return true;
}

bool Federation::StartGateway(std::string* error) {
  if (!gateway_.Start(SCHAKEL_GATEWAY_BINARY,
                      {"--config", (root_ / "gateway" / "gateway.json").string()},
                      gateway_stderr())) {
    *error = "cannot start schakel-gateway";
    return false;
  }
  if (!gateway_.WaitForLine(kGatewayReady, 20s)) {
    *error = StrCat("schakel-gateway did not start: ", ReadText(gateway_stderr()));
    return false;
  }
  return true;
}

bool Federation::StartNode(const std::string& org, std::string* error) {
  auto& slot = nodes_[org];
  if (!slot) slot = std::make_unique<ServerProcess>();
  if (!slot->Start(SCHAKEL_NODE_BINARY, {"--config", (root_ / org / "node.json").string()},
                   node_stderr(org))) {
    *error = StrCat("cannot start schakel-node for ", org);
    return false;
  }
  if (!slot->WaitForLine(kNodeReady, 20s)) {
    *error = StrCat("schakel-node ", org, " did not start: ", ReadText(node_stderr(org)));
    return false;
  }
  // The bootstrap credential is written before the node starts serving.
  if (!fs::exists(root_ / org / "admin.credential")) {
    *error = StrCat("schakel-node ", org, " wrote no bootstrap admin credential");
    return false;
  }
  return true;
}

bool Federation::StartAll(std::string* error) {
  if (!StartGateway(error)) return false;
  for (const char* org : kOrgs) {
    if (!StartNode(org, error)) return false;
  }
  return true;
}

fs::path Federation::CliConfig(const std::string& org, const std::string& user) const {
  return root_ / org / StrCat("cli-", user, ".json");
}

bool Federation::AddUser(const std::string& org, const std::string& user,
                         const std::vector<std::string>& roles, std::string* error) {
  const fs::path credential = root_ / org / StrCat(user, ".credential");
  std::vector<std::string> args = {"users", "create", user, "--credential-out",
                                   credential.string()};
  for (const std::string& role : roles) {
    args.push_back("--role");
    args.push_back(role);
  }
  const ProcessResult r = Cli(org, "admin", args);
  if (r.exit_code != 0) {
    *error = StrCat("schakel users create ", user, " at ", org, " failed (", r.exit_code,
                    "): ", r.out, r.err);
    return false;
  }
  return WriteText(CliConfig(org, user),
                   StrCat(R"({ "endpoint": ")", node_local_address(org), R"(", "ca": "../pki/ca.pem",
        "server_name": "localhost", "credential_file": ")", user, R"(.credential" })"),
                   error);
}

ProcessResult Federation::Cli(const std::string& org, const std::string& user,
                              const std::vector<std::string>& args) const {
  // --config belongs to each command, so it goes after the command words.
  std::vector<std::string> full = args;
  full.push_back("--config");
  full.push_back(CliConfig(org, user).string());
  return RunProcess(SCHAKEL_CLI_BINARY, full);
}

ProcessResult Federation::CliOnceTheGatewayAnswers(const std::string& org, const std::string& user,
                                                   const std::vector<std::string>& args) const {
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  ProcessResult r;
  do {
    r = Cli(org, user, args);
    if (r.exit_code != 4) break;
    std::this_thread::sleep_for(200ms);
  } while (std::chrono::steady_clock::now() < deadline);
  return r;
}

std::string ValidBsn(int seed) {
  for (int attempt = 0;; ++attempt) {
    const std::string prefix = StrCat(10000000 + (seed * 7919 + attempt * 104729) % 89999999);
    int sum = 0;
    for (int i = 0; i < 8; ++i) sum += (9 - i) * (prefix[static_cast<size_t>(i)] - '0');
    for (int last = 0; last <= 9; ++last) {
      if ((sum - last) % 11 == 0) return StrCat(prefix, last);
    }
  }
}

std::vector<std::string> PersonFlags(const Person& p) {
  return {"--bsn", p.bsn, "--given-names", p.given_names, "--surname", p.surname,
          "--birth-date", p.birth_date, "--postcode", p.postcode, "--house-number",
          p.house_number};
}

std::string CsvHeader() {
  return "signal_id,category,bsn,given_names,surname,birth_date,postcode,house_number,"
         "family_id,relation,contact_name,contact_phone,contact_email,free_text\n";
}

std::string CsvRow(const std::string& id, const std::string& category, const Person& p,
                   bool with_bsn, bool with_name, bool with_address) {
  return StrCat(id, ",", category, ",", with_bsn ? p.bsn : "", ",",
                with_name ? p.given_names : "", ",", with_name ? p.surname : "", ",",
                with_name ? p.birth_date : "", ",", with_address ? p.postcode : "", ",",
                with_address ? p.house_number : "",
                ",,,A. Medewerker,0131234567,a.medewerker@example.nl,testsignaal\n");
}

std::set<std::string> Hits(const nlohmann::json& response, size_t index, const std::string& org) {
  std::set<std::string> out;
  const nlohmann::json& subjects = response["result"]["subjects"];
  if (!subjects.is_array() || index >= subjects.size()) return out;
  for (const nlohmann::json& partner : subjects[index]["partners"]) {
    if (partner.value("org_id", "") != org) continue;
    for (const nlohmann::json& kt : partner["key_types"]) {
      if (!kt.value("hit", false)) continue;
      std::string name = kt.value("key_type", "");
      constexpr std::string_view kPrefix = "MATCH_KEY_TYPE_";
      if (name.rfind(kPrefix, 0) == 0) name = name.substr(kPrefix.size());
      for (char& c : name) c = static_cast<char>(std::tolower(c));
      out.insert(name);
    }
  }
  return out;
}

std::string PartnerStatus(const nlohmann::json& response, const std::string& org) {
  for (const nlohmann::json& p : response["result"]["partners"]) {
    if (p.value("org_id", "") == org) return p.value("status", "");
  }
  return "absent";
}

std::vector<std::string> PartnersAsked(const nlohmann::json& response) {
  std::vector<std::string> out;
  for (const nlohmann::json& p : response["result"]["partners"]) {
    out.push_back(p.value("org_id", ""));
  }
  return out;
}

std::string FirstHexId(const std::string& text) {
  std::smatch m;
  static const std::regex kId("[0-9a-f]{32}");
  return std::regex_search(text, m, kId) ? m.str() : "";
}

std::vector<std::string> FilesContaining(const fs::path& dir, const std::string& needle) {
  std::vector<std::string> out;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.find(needle) != std::string::npos) out.push_back(entry.path().string());
  }
  return out;
}

}  // namespace schakel::integration
