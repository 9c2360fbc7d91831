// A real federation on loopback for integration tests: a PKI from
// deploy/pki.sh, keys from `schakel keys generate`, a convenant (policy), a
// directory, a gateway config and one node config per organisation, in a
// fresh temporary directory; then the real schakel-gateway and schakel-node
// processes over mutual TLS, and the `schakel` CLI as each organisation's
// users.
//
// Ports are chosen once (free ports on 127.0.0.1) so a process killed and
// restarted comes back on the same address, as in production.
//
// Organisations (the test policy, tests/integration/federation.cc):
//   riec      asks under riec-ondermijning (case required, director at riec);
//             answers nothing.
//   politie   answers both purposes (categories overlast, geweld).
//   gemeente  answers both; asks under zorg-signalering (no case needed).
//   zorg      answers zorg-signalering only (its care signals never get tags
//             under riec-ondermijning: its local policy says so).
//   beheer    the supervisor: its auditors see the whole log. No signals.
//
// Thread safety: one test thread drives a Federation.
#ifndef SCHAKEL_TESTS_INTEGRATION_FEDERATION_H_
#define SCHAKEL_TESTS_INTEGRATION_FEDERATION_H_

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <string>
#include <vector>

#include <grpcpp/channel.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/log.pb.h"
#include "tests/integration/server_process.h"
#include "tests/integration/subprocess.h"

namespace schakel::integration {

struct FederationOptions {
  // Daily exchange quota per requesting organisation under zorg-signalering.
  int zorg_daily_exchange_quota = 100;
  // Maximum subjects per exchange under zorg-signalering.
  int zorg_max_subjects = 25;
  // Per-partner deadline at the gateway.
  int partner_deadline_ms = 3000;
  // Added per element the partner evaluates (the gateway's default: 500).
  int partner_deadline_per_element_us = 500;
  // The nodes' retention schedule interval.
  int retention_interval_s = 1;
  // Largest index batch a node publishes (small values make publication
  // take many batches, to kill a node in the middle of it).
  int publish_batch_max_changes = 10000;
  // Each node's own daily quota of subjects per requester and purpose
  // (node.json daily_subject_quota); 0 leaves the node's default (10,000).
  int node_daily_subject_quota = 0;
};

class Federation {
 public:
  static constexpr const char* kOrgs[] = {"riec", "politie", "gemeente", "zorg", "beheer"};

  // Writes everything under `root` (which must not exist yet). Returns null
  // and sets `error` when a step failed (with what it printed).
  static std::unique_ptr<Federation> Create(const std::filesystem::path& root,
                                            const FederationOptions& options, std::string* error);
  // For the running test: a fresh `root` in the temporary directory, named
  // "<prefix>-<pid>-<test name>" (a leftover one is removed), then Create
  // and StartAll. Null with `error` when a step failed.
  static std::unique_ptr<Federation> StartForTest(const std::string& prefix,
                                                  const FederationOptions& options,
                                                  std::filesystem::path* root, std::string* error);
  ~Federation();

  // Starts the gateway / a node and waits for its startup line (and, for a
  // node, its bootstrap admin credential). False with `error` otherwise.
  bool StartGateway(std::string* error);
  bool StartNode(const std::string& org, std::string* error);
  bool StartAll(std::string* error);

  // Rewrites the gateway's policy file from `options` (a running gateway
  // reads it again on SIGHUP), or with `text` as it is when given.
  bool WritePolicy(const FederationOptions& options, std::string* error,
                   const std::string& text = "");

  ServerProcess& gateway() { return gateway_; }
  ServerProcess& node(const std::string& org) { return *nodes_.at(org); }

  // Creates a user at `org` through the CLI as that node's admin, with a
  // credential file and a CLI config for it. False with `error` otherwise.
  bool AddUser(const std::string& org, const std::string& user,
               const std::vector<std::string>& roles, std::string* error);

  // Runs `schakel --config <org/user config> args...`.
  ProcessResult Cli(const std::string& org, const std::string& user,
                    const std::vector<std::string>& args) const;
  // Cli, again until the gateway behind the node answers (up to 30 s): the
  // node's channel to a restarted gateway may still be in its reconnect
  // back-off, and the CLI then says the gateway is unreachable (exit code 4).
  ProcessResult CliOnceTheGatewayAnswers(const std::string& org, const std::string& user,
                                         const std::vector<std::string>& args) const;

  // Paths.
  const std::filesystem::path& root() const { return root_; }
  std::filesystem::path gateway_data_dir() const { return root_ / "gateway" / "data"; }
  std::filesystem::path gateway_stderr() const { return root_ / "gateway" / "stderr.log"; }
  std::filesystem::path node_stderr(const std::string& org) const {
    return root_ / org / "stderr.log";
  }
  std::filesystem::path pki_dir() const { return root_ / "pki"; }
  std::string gateway_address() const;
  std::string node_address(const std::string& org) const;
  std::string node_local_address(const std::string& org) const;
  // GET /metrics of "gateway" or a node (by org), plain HTTP.
  std::string metrics_address(const std::string& process) const;

  // The mutual-TLS files of an organisation of this PKI (to call the gateway
  // as that organisation directly).
  std::filesystem::path ca_file() const { return pki_dir() / "ca.pem"; }
  std::filesystem::path cert_file(const std::string& org) const {
    return pki_dir() / (org + ".pem");
  }
  std::filesystem::path key_file(const std::string& org) const {
    return pki_dir() / (org + ".key");
  }

  // The gateway's signing key (to sign authorisations in its place).
  std::filesystem::path gateway_signing_key_file() const {
    return root_ / "gateway" / "keys" / "signing.key";
  }

  // A channel to `address` (e.g. gateway_address()) that trusts this PKI's
  // CA and presents pki_dir()/<cert_stem>.pem with its key; with an empty
  // `cert_stem` it presents no client certificate. Null (with a test
  // failure) when the files cannot be read.
  std::shared_ptr<grpc::Channel> ChannelAs(const std::string& cert_stem,
                                           const std::string& address) const;
  // A stub of the gateway's API, calling as `org` with its own certificate.
  std::unique_ptr<v1::Gateway::Stub> GatewayAs(const std::string& org) const;

  // Stops the gateway (SIGTERM) and reads its whole exchange log from its
  // store. Empty (with a test failure) when it cannot be read.
  std::vector<v1::LogEntry> ReadGatewayLog();
  // The whole exchange log in a gateway data directory that no process has
  // open (opening it turns its write-ahead log into a table file). Empty
  // (with a test failure) when it cannot be read.
  static std::vector<v1::LogEntry> ReadGatewayLogAt(const std::filesystem::path& data_dir);

  // The gateway's tag count over all purposes of `org`, and its
  // applied_through (GetIndexState as `org`); nullopt when the gateway does
  // not answer.
  std::optional<std::pair<uint64_t, uint64_t>> GatewayIndex(const std::string& org) const;
  // Waits until the gateway holds exactly `tags` tags of `org` (index
  // publication caught up); the failure says what it holds and shows the
  // node's log.
  ::testing::AssertionResult WaitForTags(const std::string& org, uint64_t tags,
                                         std::chrono::seconds limit = std::chrono::seconds(30)) const;

  // Reads a file (stderr logs) as text; "" when absent.
  static std::string ReadText(const std::filesystem::path& path);

 private:
  Federation() = default;
  bool Build(std::string* error);
  bool Generate(const std::string& kind, const std::filesystem::path& out, std::string* pub,
                std::string* error);
  std::filesystem::path CliConfig(const std::string& org, const std::string& user) const;

  std::filesystem::path root_;
  FederationOptions options_;
  int gateway_port_ = 0;
  std::map<std::string, int> node_ports_;
  std::map<std::string, int> local_ports_;
  std::map<std::string, int> metrics_ports_;  // "gateway" and each org
  ServerProcess gateway_;
  std::map<std::string, std::unique_ptr<ServerProcess>> nodes_;
};

// ---- Test data and the CLI's answers, shared by the federation tests.

// The purposes of the test convenant (federation.cc).
inline constexpr char kRiecPurpose[] = "riec-ondermijning";
inline constexpr char kZorgPurpose[] = "zorg-signalering";

// A nine-digit BSN that passes the elfproef, made from `seed`.
std::string ValidBsn(int seed);

// One person as the test data knows them.
struct Person {
  std::string bsn;
  std::string given_names;
  std::string surname;
  std::string birth_date;
  std::string postcode;
  std::string house_number;
};

// The flags of `schakel match` / `audit subject` naming `p` by every key.
std::vector<std::string> PersonFlags(const Person& p);

// CSV for `schakel signals import` (docs/cli.md): the header, and a row with
// a fixed contact person and free text.
std::string CsvHeader();
std::string CsvRow(const std::string& id, const std::string& category, const Person& p,
                   bool with_bsn = true, bool with_name = true, bool with_address = true);

// Key types that hit for subject `index` at `org` in a `schakel match
// --json` answer ("bsn", "name_dob", "address"); empty when none or the
// partner is absent.
std::set<std::string> Hits(const nlohmann::json& response, size_t index, const std::string& org);
// A partner's status in that answer ("PARTNER_STATUS_OK"), "absent" when
// it was not asked.
std::string PartnerStatus(const nlohmann::json& response, const std::string& org);
// The partners asked, in the answer's order.
std::vector<std::string> PartnersAsked(const nlohmann::json& response);

// The denial reasons of every entry in `entries`, by name
// ("DENIAL_REASON_QUOTA_EXCEEDED").
std::set<std::string> LoggedReasons(const std::vector<v1::LogEntry>& entries);

// The first 32-hex-digit id in `text` (the CLI prints ids in hex).
std::string FirstHexId(const std::string& text);

// Every file under `dir` whose bytes contain `needle`.
std::vector<std::string> FilesContaining(const std::filesystem::path& dir,
                                         const std::string& needle);

}  // namespace schakel::integration

#endif  // SCHAKEL_TESTS_INTEGRATION_FEDERATION_H_
