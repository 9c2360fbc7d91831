// Issue 3's "Done when", with real processes: a schakel-gateway and five
// schakel-node processes over mutual TLS on loopback (federation.h), driven
// through the `schakel` CLI as each organisation's users, and checked where a
// user cannot look (the gateway's tag sets, its exchange log on disk) with
// the organisations' own certificates or the gateway's store.
//
// ctest names: federation.<Suite>.<Test>.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/random.h"
#include "crypto/ristretto.h"
#include "gateway/exchange_log.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/log.pb.h"
#include "store/rocksdb_store.h"
#include "tests/integration/federation.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using json = nlohmann::json;

const Person kAnna{ValidBsn(1), "Anna", "de Vries", "1984-03-12", "5038AB", "12"};
const Person kBram{ValidBsn(2), "Bram", "Jansen", "2010-07-01", "5038AB", "12"};
const Person kCees{ValidBsn(3), "Cees", "van den Berg", "1975-11-30", "5041CD", "7"};
const Person kDirk{ValidBsn(4), "Dirk", "Bakker", "1990-01-01", "5011EF", "3"};

// Every DenialReason name found in the gateway's exchange log, with the
// record kind, read from its store while it is stopped.
struct LoggedRecord {
  std::string kind;
  std::vector<std::string> reasons;
  std::string requester_org;
};

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override { Boot(FederationOptions{}); }

  void Boot(const FederationOptions& options) {
    fed_.reset();
    std::string error;
    fed_ = Federation::StartForTest("schakel-federation", options, &root_, &error);
    ASSERT_NE(fed_, nullptr) << error;
    for (const auto& [org, user, roles] :
         std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>{
             {"riec", "r.analist", {"analyst"}},
             {"riec", "r.regisseur", {"director"}},
             {"gemeente", "g.analist", {"analyst"}},
             {"gemeente", "g.medewerker", {"professional"}},
             {"politie", "p.medewerker", {"professional"}},
             {"zorg", "z.medewerker", {"professional"}},
             {"beheer", "b.auditor", {"auditor"}}}) {
      ASSERT_TRUE(fed_->AddUser(org, user, roles, &error)) << error;
    }
  }

  void TearDown() override {
    fed_.reset();
    if (!HasFailure()) fs::remove_all(root_);
  }

  // Imports `csv` at `org` as its professional; returns the CLI's output.
  ProcessResult Import(const std::string& org, const std::string& user, const std::string& csv) {
    const fs::path file = root_ / org / StrCat("import-", ++imports_, ".csv");
    std::ofstream(file) << csv;
    return fed_->Cli(org, user, {"signals", "import", file.string()});
  }

  std::optional<std::pair<uint64_t, uint64_t>> GatewayIndex(const std::string& org) {
    return fed_->GatewayIndex(org);
  }
  ::testing::AssertionResult WaitForTags(const std::string& org, uint64_t tags,
                                         std::chrono::seconds limit = 30s) {
    return fed_->WaitForTags(org, tags, limit);
  }

  // Tags a successful import queued, from its --json summary.
  static uint64_t TagsQueued(const ProcessResult& r) {
    const json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return 0;
    if (j.contains("tags_queued")) return j["tags_queued"].is_string() ? std::stoull(j["tags_queued"].get<std::string>()) : j["tags_queued"].get<uint64_t>();
    return 0;
  }

  ProcessResult ImportJson(const std::string& org, const std::string& user,
                           const std::string& csv) {
    const fs::path file = root_ / org / StrCat("import-", ++imports_, ".csv");
    std::ofstream(file) << csv;
    return fed_->Cli(org, user, {"signals", "import", file.string(), "--json"});
  }

  // Opens a case under riec-ondermijning as the RIEC director; its id.
  std::string OpenRiecCase() {
    const ProcessResult r = fed_->Cli(
        "riec", "r.regisseur",
        {"cases", "open", "--purpose", kRiecPurpose, "--title", "Casus havengebied",
         "--goal", "Zicht op criminele netwerken rond het havengebied",
         "--ground", "Signalen van ondermijning in het havengebied", "--ends", "2029-06-30",
         "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return "";
    const json& c = j.contains("case") ? j["case"] : j;
    return c.value("case_id", "");
  }

  // Runs `schakel match --json`; the parsed MatchResponse (null on failure).
  json Match(const std::string& org, const std::string& user, std::vector<std::string> args,
             ProcessResult* raw = nullptr) {
    args.insert(args.begin(), "match");
    args.push_back("--json");
    const ProcessResult r = fed_->Cli(org, user, args);
    if (raw != nullptr) *raw = r;
    if (r.exit_code != 0) return json();
    const json j = json::parse(r.out, nullptr, false);
    return j.is_discarded() ? json() : j;
  }

  // Stops the gateway, changes the record of log entry `sequence` in its
  // store (as someone with access to the disk could), and starts it again.
  ::testing::AssertionResult EditLogEntryWhileStopped(uint64_t sequence) {
    if (fed_->gateway().SignalAndWait(SIGTERM, 10s) != 0) {
      return ::testing::AssertionFailure() << "the gateway did not stop";
    }
    {
      auto kv = store::RocksDbStore::Open(fed_->gateway_data_dir().string());
      if (!kv.ok()) return ::testing::AssertionFailure() << kv.status();
      const std::string key = gateway::LogEntryKey(sequence);
      auto value = (*kv)->Get(key);
      v1::LogEntry entry;
      if (!value.ok() || !value->has_value() || !entry.ParseFromString(**value)) {
        return ::testing::AssertionFailure() << "no log entry " << sequence;
      }
      entry.mutable_record()->set_detail(entry.record().detail() + " (bewerkt)");
      store::WriteBatch batch;
      batch.Put(key, entry.SerializeAsString());
      if (absl::Status w = (*kv)->Write(batch, store::Durability::kSynced); !w.ok()) {
        return ::testing::AssertionFailure() << w;
      }
    }
    std::string error;
    if (!fed_->StartGateway(&error)) return ::testing::AssertionFailure() << error;
    return ::testing::AssertionSuccess();
  }

  fs::path root_;
  std::unique_ptr<Federation> fed_;
  int imports_ = 0;
};

// Import -> tags published -> a match hits at the right partners and key
// types, and not elsewhere; the local policies decide what is matchable.
TEST_F(FederationTest, ImportedSignalsArePublishedAndMatchAtTheRightPartners) {
  // politie: Anna (overlast: riec only), Cees (geweld: both purposes).
  ProcessResult r = ImportJson("politie", "p.medewerker",
                               CsvHeader() + CsvRow("P-1", "overlast", kAnna) +
                                   CsvRow("P-2", "geweld", kCees));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t politie_tags = TagsQueued(r);
  // gemeente: Anna known by name and date of birth only (woonfraude).
  r = ImportJson("gemeente", "g.medewerker",
                 CsvHeader() + CsvRow("G-1", "woonfraude", kAnna, /*with_bsn=*/false,
                                      /*with_name=*/true, /*with_address=*/false));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t gemeente_tags = TagsQueued(r);
  // zorg: Anna (huiselijk-geweld: zorg-signalering only).
  r = ImportJson("zorg", "z.medewerker", CsvHeader() + CsvRow("Z-1", "huiselijk-geweld", kAnna));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t zorg_tags = TagsQueued(r);

  // politie: Anna 3 keys under riec; Cees 3 keys under each purpose.
  EXPECT_EQ(politie_tags, 9u);
  EXPECT_EQ(gemeente_tags, 2u);  // one name_dob key under each purpose
  EXPECT_EQ(zorg_tags, 3u);      // zorg-signalering only
  ASSERT_TRUE(WaitForTags("politie", politie_tags));
  ASSERT_TRUE(WaitForTags("gemeente", gemeente_tags));
  ASSERT_TRUE(WaitForTags("zorg", zorg_tags));

  const std::string case_id = OpenRiecCase();
  ASSERT_FALSE(case_id.empty());
  std::vector<std::string> args = {"--purpose", kRiecPurpose, "--case", case_id};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  ProcessResult raw;
  json m = Match("riec", "r.analist", args, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  // Under riec-ondermijning only politie and gemeente answer.
  EXPECT_THAT(PartnersAsked(m), ::testing::UnorderedElementsAre("politie", "gemeente"));
  EXPECT_EQ(PartnerStatus(m, "politie"), "PARTNER_STATUS_OK");
  EXPECT_EQ(PartnerStatus(m, "gemeente"), "PARTNER_STATUS_OK");
  EXPECT_EQ(Hits(m, 0, "politie"), (std::set<std::string>{"bsn", "name_dob", "address"}));
  EXPECT_EQ(Hits(m, 0, "gemeente"), (std::set<std::string>{"name_dob"}));

  // Dirk is known nowhere.
  args = {"--purpose", kRiecPurpose, "--case", case_id};
  for (const std::string& f : PersonFlags(kDirk)) args.push_back(f);
  m = Match("riec", "r.analist", args, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  EXPECT_TRUE(Hits(m, 0, "politie").empty());
  EXPECT_TRUE(Hits(m, 0, "gemeente").empty());

  // Under zorg-signalering (gemeente asks): zorg knows Anna; politie's
  // overlast signal is not matchable there; Cees's geweld signal is.
  args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  m = Match("gemeente", "g.analist", args, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  EXPECT_EQ(Hits(m, 0, "zorg"), (std::set<std::string>{"bsn", "name_dob", "address"}));
  EXPECT_TRUE(Hits(m, 0, "politie").empty());
  args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kCees)) args.push_back(f);
  m = Match("gemeente", "g.analist", args, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  EXPECT_EQ(Hits(m, 0, "politie"), (std::set<std::string>{"bsn", "name_dob", "address"}));
  EXPECT_TRUE(Hits(m, 0, "zorg").empty());

  // Each answering node logged its evaluations in its own log.
  raw = fed_->Cli("politie", "admin", {"log", "--json"});
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_THAT(raw.out, HasSubstr("LOCAL_EVENT_KIND_EVALUATION_ANSWERED"));
  EXPECT_THAT(raw.out, HasSubstr("\"counterpart_org_id\":\"riec\""));
  // The requesting node logged its matches.
  raw = fed_->Cli("riec", "admin", {"log", "--json"});
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_THAT(raw.out, HasSubstr("LOCAL_EVENT_KIND_MATCH_RUN"));
  EXPECT_THAT(raw.out, Not(HasSubstr(kAnna.bsn)));

  // The human table names the partners and the exchange.
  args = {"match", "--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  raw = fed_->Cli("gemeente", "g.analist", args);
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_THAT(raw.out, HasSubstr("zorg"));
  // No identifier ever reaches the gateway's or a node's log output.
  for (const std::string& text :
       {Federation::ReadText(fed_->gateway_stderr()),
        Federation::ReadText(fed_->node_stderr("politie")),
        Federation::ReadText(fed_->node_stderr("riec"))}) {
    EXPECT_THAT(text, Not(HasSubstr(kAnna.bsn)));
    EXPECT_THAT(text, Not(HasSubstr("Vries")));
  }
}

// A family match is summarised per family: which domains know which members.
TEST_F(FederationTest, FamilyMatchIsSummarisedPerFamily) {
  ASSERT_EQ(ImportJson("politie", "p.medewerker", CsvHeader() + CsvRow("P-1", "geweld", kAnna))
                .exit_code,
            0);
  ASSERT_EQ(ImportJson("zorg", "z.medewerker",
                       CsvHeader() + CsvRow("Z-1", "huiselijk-geweld", kBram))
                .exit_code,
            0);
  ASSERT_TRUE(WaitForTags("politie", 6u));
  ASSERT_TRUE(WaitForTags("zorg", 3u));

  const fs::path subjects = root_ / "gemeente" / "gezin.csv";
  std::ofstream(subjects)
      << "label,bsn,given_names,surname,birth_date,postcode,house_number,family_id,relation\n"
      << "moeder," << kAnna.bsn << ",Anna,de Vries,1984-03-12,5038AB,12,gezin-1,parent\n"
      << "zoon," << kBram.bsn << ",Bram,Jansen,2010-07-01,5038AB,12,gezin-1,child\n"
      << "buurman," << kDirk.bsn << ",Dirk,Bakker,1990-01-01,5011EF,3,gezin-2,parent\n";
  ProcessResult raw;
  const json m = Match("gemeente", "g.analist",
                       {"--purpose", kZorgPurpose, "--subjects", subjects.string()}, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  const json& families = m["result"]["families"];
  ASSERT_EQ(families.size(), 2u) << m.dump(2);
  // Family numbers map back to the caller's family ids.
  std::map<int, std::string> family_ids;
  for (const json& f : m["families"]) family_ids[f.value("family", 0)] = f.value("family_id", "");
  for (const json& f : families) {
    const std::string id = family_ids[f.value("family", 0)];
    if (id == "gezin-1") {
      EXPECT_EQ(f.value("member_count", 0), 2);
      EXPECT_EQ(f.value("members_with_hit", 0), 2);
      std::set<std::string> domains;
      for (const json& d : f["domains"]) domains.insert(d.value("domain", ""));
      EXPECT_EQ(domains, (std::set<std::string>{"DOMAIN_SAFETY", "DOMAIN_CARE"}));
    } else {
      EXPECT_EQ(id, "gezin-2");
      EXPECT_EQ(f.value("member_count", 0), 1);
      EXPECT_EQ(f.value("members_with_hit", 0), 0);
    }
  }
  // The table for people groups by family.
  raw = fed_->Cli("gemeente", "g.analist",
                  {"match", "--purpose", kZorgPurpose, "--subjects", subjects.string()});
  EXPECT_EQ(raw.exit_code, 0) << raw.err;
  EXPECT_THAT(raw.out, HasSubstr("gezin-1"));
  EXPECT_THAT(raw.out, HasSubstr("gezin-2"));
}

// One partner down: the exchange still runs, with a partial result.
TEST_F(FederationTest, PartnerDownGivesPartialResult) {
  ASSERT_EQ(ImportJson("politie", "p.medewerker", CsvHeader() + CsvRow("P-1", "geweld", kAnna))
                .exit_code,
            0);
  ASSERT_TRUE(WaitForTags("politie", 6u));
  fed_->node("zorg").Kill();

  std::vector<std::string> args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  ProcessResult raw;
  const json m = Match("gemeente", "g.analist", args, &raw);
  ASSERT_FALSE(m.is_null()) << raw.out << raw.err;
  EXPECT_EQ(PartnerStatus(m, "politie"), "PARTNER_STATUS_OK");
  EXPECT_EQ(PartnerStatus(m, "zorg"), "PARTNER_STATUS_UNAVAILABLE");
  EXPECT_EQ(Hits(m, 0, "politie"), (std::set<std::string>{"bsn", "name_dob", "address"}));

  // The log records the partner's failure with the exchange.
  const std::vector<v1::LogEntry> entries = fed_->ReadGatewayLog();
  bool evaluated_with_unavailable = false;
  for (const v1::LogEntry& e : entries) {
    if (e.record().kind() != v1::RECORD_KIND_EXCHANGE_EVALUATED) continue;
    for (const auto& p : e.record().partners()) {
      if (p.org_id() == "zorg" && p.status() == v1::PARTNER_STATUS_UNAVAILABLE) {
        evaluated_with_unavailable = true;
      }
    }
  }
  EXPECT_TRUE(evaluated_with_unavailable);
}

// An expired signal is removed by the retention schedule and its tags are
// withdrawn from the gateway.
TEST_F(FederationTest, ExpiryWithdrawsTags) {
  const std::string expires = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ",
                                               absl::Now() + absl::Seconds(8), absl::UTCTimeZone());
  ProcessResult r = fed_->Cli(
      "politie", "p.medewerker",
      {"signals", "add", "--category", "geweld", "--bsn", kAnna.bsn, "--given-names",
       kAnna.given_names, "--surname", kAnna.surname, "--birth-date", kAnna.birth_date,
       "--expires-at", expires, "--contact-name", "A. Medewerker"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ASSERT_TRUE(WaitForTags("politie", 4u));  // bsn + name_dob under two purposes

  std::vector<std::string> args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  json m = Match("gemeente", "g.analist", args, &r);
  ASSERT_FALSE(m.is_null()) << r.out << r.err;
  EXPECT_EQ(Hits(m, 0, "politie"), (std::set<std::string>{"bsn", "name_dob"}));

  ASSERT_TRUE(WaitForTags("politie", 0u, 20s));
  m = Match("gemeente", "g.analist", args, &r);
  ASSERT_FALSE(m.is_null()) << r.out << r.err;
  EXPECT_TRUE(Hits(m, 0, "politie").empty());
  r = fed_->Cli("politie", "p.medewerker", {"signals", "list", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, Not(HasSubstr(kAnna.bsn)));
}

// Every kind of refusal is logged at the gateway with its reason.
TEST_F(FederationTest, RefusalsAreLoggedWithTheirReasons) {
  const std::string case_id = OpenRiecCase();
  ASSERT_FALSE(case_id.empty());
  std::vector<std::string> anna;
  for (const std::string& f : PersonFlags(kAnna)) anna.push_back(f);
  auto with = [&](std::vector<std::string> head) {
    head.insert(head.end(), anna.begin(), anna.end());
    return head;
  };
  ProcessResult r;
  // Purpose: the RIEC may not ask under zorg-signalering.
  EXPECT_TRUE(Match("riec", "r.analist", with({"--purpose", kZorgPurpose}), &r).is_null());
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, Not(HasSubstr(kAnna.bsn)));
  // Purpose unknown.
  EXPECT_TRUE(Match("riec", "r.analist", with({"--purpose", "bestaat-niet"}), &r).is_null());
  // Case: required but missing; unknown.
  EXPECT_TRUE(Match("riec", "r.analist", with({"--purpose", kRiecPurpose}), &r).is_null());
  EXPECT_TRUE(Match("riec", "r.analist",
                    with({"--purpose", kRiecPurpose, "--case", "onbekende-zaak"}), &r)
                  .is_null());
  // Role: the director may not ask.
  EXPECT_TRUE(Match("riec", "r.regisseur",
                    with({"--purpose", kRiecPurpose, "--case", case_id}), &r)
                  .is_null());
  // Case closed.
  r = fed_->Cli("riec", "r.regisseur",
                {"cases", "close", case_id, "--reason", "Casus afgerond"});
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_TRUE(Match("riec", "r.analist", with({"--purpose", kRiecPurpose, "--case", case_id}), &r)
                  .is_null());

  // Identity: a valid certificate of an organisation not in the directory.
  ASSERT_EQ(RunProcess(SCHAKEL_PKI_SCRIPT, {fed_->pki_dir().string(), "org", "onbekend"}).exit_code,
            0);
  {
    auto stub = fed_->GatewayAs("onbekend");
    ASSERT_NE(stub, nullptr);
    grpc::ClientContext context;
    v1::OpenExchangeRequest request;
    request.set_purpose_id(kZorgPurpose);
    v1::OpenExchangeResponse response;
    EXPECT_EQ(stub->OpenExchange(&context, request, &response).error_code(),
              grpc::StatusCode::UNAUTHENTICATED);
  }
  // Role, at the gateway itself: the RIEC's node refuses a director before
  // anything is sent (above); a node that forwarded it would meet this.
  {
    auto stub = fed_->GatewayAs("riec");
    ASSERT_NE(stub, nullptr);
    grpc::ClientContext context;
    v1::OpenExchangeRequest request;
    request.mutable_actor()->set_user_id("r.regisseur");
    request.mutable_actor()->set_role(v1::ROLE_DIRECTOR);
    request.set_request_id(std::string(16, '\x03'));
    request.set_purpose_id(kRiecPurpose);
    request.set_case_id(case_id);
    const auto generator = crypto::Element::Generator().bytes();
    v1::BlindedKey* key = request.add_subjects()->add_keys();
    key->set_key_type(v1::MATCH_KEY_TYPE_BSN);
    key->set_blinded_element(std::string(generator.begin(), generator.end()));
    v1::OpenExchangeResponse response;
    EXPECT_EQ(stub->OpenExchange(&context, request, &response).error_code(),
              grpc::StatusCode::PERMISSION_DENIED);
  }
  // Malformed: an element that is not 32 bytes, sent as gemeente directly.
  {
    auto stub = fed_->GatewayAs("gemeente");
    ASSERT_NE(stub, nullptr);
    grpc::ClientContext context;
    v1::OpenExchangeRequest request;
    request.mutable_actor()->set_user_id("g.analist");
    request.mutable_actor()->set_role(v1::ROLE_ANALYST);
    request.set_request_id(std::string(16, '\x01'));
    request.set_purpose_id(kZorgPurpose);
    v1::BlindedSubject* s = request.add_subjects();
    v1::BlindedKey* k = s->add_keys();
    k->set_key_type(v1::MATCH_KEY_TYPE_BSN);
    k->set_blinded_element(std::string(31, '\x02'));
    v1::OpenExchangeResponse response;
    EXPECT_EQ(stub->OpenExchange(&context, request, &response).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  const std::set<std::string> reasons = LoggedReasons(fed_->ReadGatewayLog());
  for (const char* expected :
       {"DENIAL_REASON_ORGANISATION_NOT_ALLOWED", "DENIAL_REASON_PURPOSE_UNKNOWN",
        "DENIAL_REASON_CASE_REQUIRED", "DENIAL_REASON_CASE_NOT_FOUND",
        "DENIAL_REASON_ROLE_NOT_ALLOWED", "DENIAL_REASON_CASE_NOT_OPEN",
        "DENIAL_REASON_UNKNOWN_ORGANISATION", "DENIAL_REASON_MALFORMED_REQUEST"}) {
    EXPECT_TRUE(reasons.count(expected)) << expected << " not logged; logged: "
                                         << ::testing::PrintToString(reasons);
  }
}

// Quota and limits: refused at the gateway with RESOURCE_EXHAUSTED and
// TOO_MANY_SUBJECTS, both logged.
TEST_F(FederationTest, QuotaAndLimitsAreEnforcedAndLogged) {
  Boot(FederationOptions{.zorg_daily_exchange_quota = 2, .zorg_max_subjects = 3});
  std::vector<std::string> args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  ProcessResult r;
  EXPECT_FALSE(Match("gemeente", "g.analist", args, &r).is_null()) << r.err;
  EXPECT_FALSE(Match("gemeente", "g.analist", args, &r).is_null()) << r.err;
  EXPECT_TRUE(Match("gemeente", "g.analist", args, &r).is_null());
  EXPECT_THAT(r.err, HasSubstr("quota"));

  const fs::path subjects = root_ / "gemeente" / "lijst.csv";
  std::ofstream out(subjects);
  out << "label,bsn\n";
  for (int i = 0; i < 4; ++i) out << "p" << i << "," << ValidBsn(100 + i) << "\n";
  out.close();
  EXPECT_TRUE(
      Match("gemeente", "g.analist", {"--purpose", kZorgPurpose, "--subjects", subjects.string()},
            &r)
          .is_null());
  EXPECT_NE(r.exit_code, 0);

  const std::set<std::string> reasons = LoggedReasons(fed_->ReadGatewayLog());
  EXPECT_TRUE(reasons.count("DENIAL_REASON_QUOTA_EXCEEDED")) << ::testing::PrintToString(reasons);
}

// A node killed with SIGKILL in the middle of publishing its index catches
// up after a restart: the gateway ends with exactly the node's tags (none
// lost; no duplicate left behind when the signals are deleted again).
TEST_F(FederationTest, NodeKilledMidPublicationCatchesUp) {
  Boot(FederationOptions{.publish_batch_max_changes = 50});
  std::string csv = CsvHeader();
  for (int i = 0; i < 2000; ++i) {
    const Person p{ValidBsn(1000 + i), "Piet",
                   StrCat("Klant", static_cast<char>('a' + i % 26), static_cast<char>('a' + i / 26 % 26),
                          static_cast<char>('a' + i / 676)),
                   "1980-01-01", "", ""};
    csv += CsvRow(StrCat("P-", i), "geweld", p, true, true, false);
  }
  const ProcessResult r = ImportJson("politie", "p.medewerker", csv);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const uint64_t expected = TagsQueued(r);
  ASSERT_EQ(expected, 2000u * 2 * 2);  // bsn + name_dob, two purposes

  // Kill the node as soon as the gateway has applied some but not all.
  std::optional<std::pair<uint64_t, uint64_t>> seen;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (std::chrono::steady_clock::now() < deadline) {
    seen = GatewayIndex("politie");
    if (seen && seen->second > 0) break;
    std::this_thread::sleep_for(2ms);
  }
  fed_->node("politie").Kill();
  ASSERT_TRUE(seen.has_value());
  const auto at_kill = GatewayIndex("politie");
  ASSERT_TRUE(at_kill.has_value());
  EXPECT_LT(at_kill->first, expected) << "publication finished before the kill";

  std::string error;
  ASSERT_TRUE(fed_->StartNode("politie", &error)) << error;
  ASSERT_TRUE(WaitForTags("politie", expected, 60s));

  // Deleting every signal withdraws every tag: nothing duplicated remains.
  for (int i = 0; i < 2000; i += 500) {
    // One at a time through the CLI would be slow; delete a sample and
    // check the count moves by exactly their tags.
    const ProcessResult d =
        fed_->Cli("politie", "p.medewerker", {"signals", "delete", StrCat("P-", i), "--reason",
                                              "correctie"});
    ASSERT_EQ(d.exit_code, 0) << d.out << d.err;
  }
  ASSERT_TRUE(WaitForTags("politie", expected - 4 * 4));
}

// An entry edited directly in the gateway's store is named by
// `schakel audit verify`.
TEST_F(FederationTest, AuditVerifyNamesAnEditedEntry) {
  std::vector<std::string> args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  ProcessResult r;
  for (int i = 0; i < 3; ++i) ASSERT_FALSE(Match("gemeente", "g.analist", args, &r).is_null());

  r = fed_->Cli("beheer", "b.auditor", {"audit", "verify"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("intact"));

  // Edit entry 2 in place while the gateway is stopped.
  ASSERT_TRUE(EditLogEntryWhileStopped(2));
  r = fed_->CliOnceTheGatewayAnswers("beheer", "b.auditor", {"audit", "verify"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, HasSubstr("entry 2"));
}

// Issue 4: disclosure after a hit. gemeente asks zorg under
// zorg-signalering, where zorg's own policy lets an approver decide.
class DisclosureTest : public FederationTest {
 protected:
  // zorg's professional registers a signal about Anna with this contact,
  // phone and note; gemeente's analyst then matches Anna under
  // zorg-signalering, a hit at zorg. The match output goes to MatchFile()
  // (what `disclose --match` reads).
  ::testing::AssertionResult PlantAtZorgAndMatch(const std::string& contact,
                                                 const std::string& phone,
                                                 const std::string& note) {
    const ProcessResult r = ImportJson(
        "zorg", "z.medewerker",
        CsvHeader() + StrCat("Z-9,huiselijk-geweld,", kAnna.bsn, ",", kAnna.given_names, ",",
                             kAnna.surname, ",", kAnna.birth_date, ",", kAnna.postcode, ",",
                             kAnna.house_number, ",,,", contact, ",", phone,
                             ",zorg@example.nl,", note, "\n"));
    if (r.exit_code != 0) return ::testing::AssertionFailure() << r.out << r.err;
    if (auto tags = WaitForTags("zorg", TagsQueued(r)); !tags) return tags;
    std::vector<std::string> args = {"--purpose", kZorgPurpose};
    for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
    ProcessResult raw;
    const json m = Match("gemeente", "g.analist", args, &raw);
    if (m.is_null()) return ::testing::AssertionFailure() << raw.out << raw.err;
    if (Hits(m, 0, "zorg").empty()) return ::testing::AssertionFailure() << "no hit at zorg";
    std::ofstream(MatchFile()) << raw.out;
    return ::testing::AssertionSuccess();
  }
  fs::path MatchFile() const { return root_ / "gemeente" / "match.json"; }
};

TEST_F(DisclosureTest, ApprovedDeniedAndRefusedAndNeverInClearAtTheGateway) {
  std::string error;
  ASSERT_TRUE(fed_->AddUser("zorg", "z.fg", {"approver"}, &error)) << error;
  const std::string contact = "Z. Vertrouwenspersoon";
  const std::string phone = "0139876543";
  const std::string note = "vertrouwelijk-Q7X2";
  ASSERT_TRUE(PlantAtZorgAndMatch(contact, phone, note));
  ProcessResult r;
  const auto disclose = [&](const std::string& fields) {
    return fed_->Cli("gemeente", "g.analist",
                     {"disclose", "--match", MatchFile().string(), "--partner", "zorg",
                      "--subject", "0", "--fields", fields, "--reason",
                      "afstemming gezamenlijk plan van aanpak"});
  };

  // A field the convenant does not let zorg disclose: refused at the gateway.
  r = disclose("contact_email");
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, HasSubstr("contact_email"));
  // A field the convenant allows but zorg's own rule does not: denied by
  // zorg's policy, at once.
  r = disclose("free_text");
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, ::testing::AnyOf(HasSubstr("policy"), HasSubstr("beleid")));

  // Approved by a person.
  r = disclose("contact_name,contact_phone");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string approved = FirstHexId(r.out);
  ASSERT_FALSE(approved.empty()) << r.out;
  r = fed_->Cli("zorg", "z.fg", {"approvals", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(approved));
  r = fed_->Cli("zorg", "z.fg",
                {"approvals", "approve", approved, "--reason", "binnen afspraken casusoverleg"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = fed_->Cli("gemeente", "g.analist",
                {"disclosures", "show", approved, "--wait", "--poll-interval", "0.2",
                 "--wait-for", "60"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(contact));
  EXPECT_THAT(r.out, HasSubstr(phone));
  EXPECT_THAT(r.out, Not(HasSubstr(note)));  // not asked, not disclosed

  // Denied by a person, with the reason shown to the requester.
  r = disclose("contact_name");
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string denied = FirstHexId(r.out);
  ASSERT_FALSE(denied.empty()) << r.out;
  r = fed_->Cli("zorg", "z.fg",
                {"approvals", "deny", denied, "--reason", "geen betrokkenheid van ons team"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = fed_->Cli("gemeente", "g.analist",
                {"disclosures", "show", denied, "--wait", "--poll-interval", "0.2",
                 "--wait-for", "60"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_THAT(r.out + r.err, HasSubstr("geen betrokkenheid van ons team"));

  // The gateway relayed sealed boxes only: neither its store nor its log
  // holds the disclosed content.
  for (const std::string& secret : {contact, phone, note}) {
    EXPECT_THAT(FilesContaining(fed_->gateway_data_dir(), secret), ::testing::IsEmpty()) << secret;
    EXPECT_THAT(Federation::ReadText(fed_->gateway_stderr()), Not(HasSubstr(secret)));
  }

  // Each decision is logged with the node's signed statement: what was
  // disclosed, the payload's hash, who decided and why.
  std::map<std::string, v1::LogRecord> decided;  // by disclosure id (hex)
  for (const v1::LogEntry& e : fed_->ReadGatewayLog()) {
    if (e.record().kind() != v1::RECORD_KIND_DISCLOSURE_DECIDED) continue;
    decided[crypto::ToHex(crypto::AsBytes(e.record().disclosure().disclosure_id()))] = e.record();
  }
  ASSERT_EQ(decided.count(approved), 1u);
  ASSERT_EQ(decided.count(denied), 1u);
  const v1::DisclosureRecord& yes = decided[approved].disclosure();
  EXPECT_EQ(yes.statement().decision(), v1::DISCLOSURE_DECISION_APPROVED_BY_APPROVER);
  EXPECT_EQ(yes.statement().decided_by_user_id(), "z.fg");
  EXPECT_EQ(yes.statement().reason(), "binnen afspraken casusoverleg");
  EXPECT_THAT(yes.statement().fields_disclosed(),
              ::testing::UnorderedElementsAre(v1::SIGNAL_FIELD_CONTACT_NAME,
                                              v1::SIGNAL_FIELD_CONTACT_PHONE));
  EXPECT_EQ(yes.statement().payload_hash().size(), 32u);
  EXPECT_FALSE(yes.node_signature().signature().empty());
  EXPECT_EQ(yes.statement().requester_org_id(), "gemeente");
  const v1::DisclosureRecord& no = decided[denied].disclosure();
  EXPECT_EQ(no.statement().decision(), v1::DISCLOSURE_DECISION_DENIED_BY_APPROVER);
  EXPECT_EQ(no.statement().decided_by_user_id(), "z.fg");
  EXPECT_EQ(no.statement().reason(), "geen betrokkenheid van ons team");
  EXPECT_THAT(no.statement().fields_disclosed(), ::testing::IsEmpty());
  EXPECT_FALSE(no.node_signature().signature().empty());
}

// Issue 4: the convenant is reloaded while the federation runs (SIGHUP);
// a broken file is refused as a whole and the version in force stays.
TEST_F(FederationTest, PolicyReloadTakesEffectMidRunAndABrokenFileChangesNothing) {
  const fs::path subjects = root_ / "gemeente" / "twee.csv";
  std::ofstream(subjects) << "label,bsn\np0," << ValidBsn(200) << "\np1," << ValidBsn(201)
                          << "\n";
  const std::vector<std::string> two = {"--purpose", kZorgPurpose, "--subjects", subjects.string()};
  ProcessResult r;
  ASSERT_FALSE(Match("gemeente", "g.analist", two, &r).is_null()) << r.out << r.err;

  // At most 1 subject per exchange from now on.
  std::string error;
  ASSERT_TRUE(fed_->WritePolicy(FederationOptions{.zorg_max_subjects = 1}, &error)) << error;
  ASSERT_EQ(::kill(fed_->gateway().pid(), SIGHUP), 0);
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  bool refused = false;
  while (!refused && std::chrono::steady_clock::now() < deadline) {
    refused = Match("gemeente", "g.analist", two, &r).is_null();
    if (!refused) std::this_thread::sleep_for(100ms);
  }
  ASSERT_TRUE(refused) << "the reloaded limit never took effect\n"
                       << Federation::ReadText(fed_->gateway_stderr());
  EXPECT_NE(r.exit_code, 0);
  std::vector<std::string> one = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) one.push_back(f);
  EXPECT_FALSE(Match("gemeente", "g.analist", one, &r).is_null()) << r.out << r.err;

  // A broken file: refused, the 1-subject limit stays, the gateway serves.
  ASSERT_TRUE(fed_->WritePolicy({}, &error, "{ \"version\": \"kapot\", \"purposes\": 7 }"))
      << error;
  ASSERT_EQ(::kill(fed_->gateway().pid(), SIGHUP), 0);
  std::this_thread::sleep_for(500ms);
  EXPECT_TRUE(fed_->gateway().running());
  EXPECT_TRUE(Match("gemeente", "g.analist", two, &r).is_null());
  EXPECT_FALSE(Match("gemeente", "g.analist", one, &r).is_null()) << r.out << r.err;

  // Both reloads are in the exchange log.
  size_t loaded = 0, refused_files = 0;
  for (const v1::LogEntry& e : fed_->ReadGatewayLog()) {
    if (e.record().kind() != v1::RECORD_KIND_POLICY_LOADED) continue;
    ++loaded;
    refused_files += e.record().outcome() == v1::OUTCOME_REFUSED;
  }
  EXPECT_GE(loaded, 2u);
  EXPECT_EQ(refused_files, 1u);  // the broken file
}

// Issue 4: a notification for an organisation whose node is offline waits
// in the gateway's outbox and is delivered when the node is back. zorg's
// hit notice first (zorg-signalering notifies on a hit); then gemeente's
// node is stopped while zorg's approver decides gemeente's disclosure, and
// the DisclosureNotice reaches gemeente after it starts again.
TEST_F(DisclosureTest, ANotificationIsDeliveredWhenThePartnerIsBackOnline) {
  std::string error;
  ASSERT_TRUE(fed_->AddUser("zorg", "z.fg", {"approver"}, &error)) << error;
  ASSERT_TRUE(PlantAtZorgAndMatch("Z. Contact", "0131234567", ""));
  ProcessResult r;

  // The hit notice, mapped to zorg's own signal and shown to its owner.
  const auto wait_for_output = [&](const std::string& org, const std::string& user,
                                   const std::string& needle) {
    const auto deadline = std::chrono::steady_clock::now() + 30s;
    ProcessResult last;
    do {
      last = fed_->Cli(org, user, {"notifications"});
      if (last.exit_code == 0 && last.out.find(needle) != std::string::npos) return last;
      std::this_thread::sleep_for(200ms);
    } while (std::chrono::steady_clock::now() < deadline);
    ADD_FAILURE() << org << "/" << user << " never saw \"" << needle << "\":\n"
                  << last.out << last.err;
    return last;
  };
  r = wait_for_output("zorg", "z.medewerker", "match");
  EXPECT_THAT(r.out, HasSubstr("gemeente"));
  EXPECT_THAT(r.out, HasSubstr(kZorgPurpose));
  EXPECT_THAT(r.out, HasSubstr("owner z.medewerker"));
  EXPECT_THAT(r.out, Not(HasSubstr(kAnna.bsn)));

  r = fed_->Cli("gemeente", "g.analist",
                {"disclose", "--match", MatchFile().string(), "--partner", "zorg", "--subject",
                 "0", "--fields", "contact_name", "--reason", "afstemming plan van aanpak"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const std::string id = FirstHexId(r.out);
  ASSERT_FALSE(id.empty()) << r.out;

  // gemeente goes offline; zorg's approver decides meanwhile.
  ASSERT_EQ(fed_->node("gemeente").SignalAndWait(SIGTERM, 10s), 0);
  r = fed_->Cli("zorg", "z.fg", {"approvals", "approve", id, "--reason", "afgestemd met team"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  // The gateway tries to push and fails: the notice stays queued.
  std::this_thread::sleep_for(1500ms);
  EXPECT_THAT(Federation::ReadText(fed_->gateway_stderr()), Not(HasSubstr("Z. Contact")));

  // Back online: the node fetches its outbox at start (and the gateway's
  // pusher retries); the requester sees the decided disclosure.
  ASSERT_TRUE(fed_->StartNode("gemeente", &error)) << error;
  r = wait_for_output("gemeente", "g.analist", StrCat("disclosure ", id));
  EXPECT_THAT(r.out, HasSubstr(": delivered"));
  r = fed_->Cli("gemeente", "g.analist", {"disclosures", "show", id});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr("Z. Contact"));
}

// Issue 4: "who asked about this person?" at an answering partner finds
// exactly the exchanges that carried the person's tags: the one about the
// person alone and the one about two people, not the one about someone
// else; a person never asked about has none.
TEST_F(FederationTest, AuditSubjectFindsExactlyTheExchangesAboutThePerson) {
  std::string error;
  ASSERT_TRUE(fed_->AddUser("politie", "p.auditor", {"auditor"}, &error)) << error;
  const auto exchange_of = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--purpose", kZorgPurpose});
    ProcessResult r;
    const json m = Match("gemeente", "g.analist", args, &r);
    EXPECT_FALSE(m.is_null()) << r.out << r.err;
    return m.is_null() ? std::string() : m.value("exchange_id", "");
  };
  const std::string about_anna = exchange_of(PersonFlags(kAnna));
  const std::string about_cees = exchange_of(PersonFlags(kCees));
  const fs::path two = root_ / "gemeente" / "anna-en-dirk.csv";
  std::ofstream(two) << "label,bsn\na," << kAnna.bsn << "\nd," << kDirk.bsn << "\n";
  const std::string about_two = exchange_of({"--subjects", two.string()});
  ASSERT_FALSE(about_anna.empty());
  ASSERT_FALSE(about_cees.empty());
  ASSERT_FALSE(about_two.empty());

  const auto subject = [&](const Person& p) {
    std::vector<std::string> args = {"audit", "subject", "--json"};
    for (const std::string& f : PersonFlags(p)) args.push_back(f);
    const ProcessResult r = fed_->Cli("politie", "p.auditor", args);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const json j = json::parse(r.out, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.out;
    return j.is_discarded() ? json::object() : j;
  };
  const auto exchanges = [](const json& answer) {
    std::set<std::string> out;
    for (const json& record : answer.value("records", json::array())) {
      EXPECT_EQ(record.value("requester_org_id", ""), "gemeente");
      EXPECT_EQ(record.value("purpose_id", ""), kZorgPurpose);
      EXPECT_FALSE(record.value("lawful_basis", json::object()).empty());
      out.insert(record.value("exchange_id", ""));
    }
    return out;
  };

  const json anna = subject(kAnna);
  EXPECT_EQ(exchanges(anna), (std::set<std::string>{about_anna, about_two})) << anna.dump(2);
  EXPECT_EQ(exchanges(subject(kCees)), (std::set<std::string>{about_cees}));
  EXPECT_EQ(exchanges(subject(kDirk)), (std::set<std::string>{about_two}));
  const Person never{ValidBsn(77), "Eva", "Smit", "1999-09-09", "9711AA", "99"};
  EXPECT_THAT(exchanges(subject(never)), ::testing::IsEmpty());
  // The node sent tags, never the identifiers: the gateway's store and log
  // hold no BSN of the people asked about.
  EXPECT_EQ(fed_->gateway().SignalAndWait(SIGTERM, 10s), 0);
  for (const Person& p : {kAnna, kCees, kDirk, never}) {
    EXPECT_THAT(FilesContaining(fed_->gateway_data_dir(), p.bsn),
                ::testing::IsEmpty());
  }
}

// Issue 4: the receipts gemeente's node kept are checked against the
// gateway's log; an entry edited in the gateway's store is reported as
// changed, by sequence.
TEST_F(FederationTest, AuditReconcileDetectsAnEditedEntry) {
  std::string error;
  ASSERT_TRUE(fed_->AddUser("gemeente", "g.auditor", {"auditor"}, &error)) << error;
  std::vector<std::string> args = {"--purpose", kZorgPurpose};
  for (const std::string& f : PersonFlags(kAnna)) args.push_back(f);
  ProcessResult r;
  json first;
  for (int i = 0; i < 2; ++i) {
    const json m = Match("gemeente", "g.analist", args, &r);
    ASSERT_FALSE(m.is_null()) << r.out << r.err;
    if (i == 0) first = m;
  }
  ASSERT_TRUE(first.contains("receipts") && !first["receipts"].empty()) << first.dump(2);
  const json& resolved = first["receipts"].back();
  const uint64_t edited = std::stoull(resolved["payload"]["sequence"].get<std::string>());

  r = fed_->Cli("gemeente", "g.auditor", {"audit", "reconcile", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  json report = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out;
  EXPECT_TRUE(report.value("consistent", false)) << r.out;
  const uint64_t checked = std::stoull(report.value("receipts_checked", "0"));
  EXPECT_GE(checked, 6u);  // three per exchange

  // Edit the entry in place while the gateway is stopped.
  ASSERT_TRUE(EditLogEntryWhileStopped(edited));
  r = fed_->CliOnceTheGatewayAnswers("gemeente", "g.auditor", {"audit", "reconcile", "--json"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  report = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(report.is_discarded()) << r.out << r.err;
  EXPECT_FALSE(report.value("consistent", true));
  ASSERT_EQ(report.value("findings", json::array()).size(), 1u) << r.out;
  const json& finding = report["findings"][0];
  EXPECT_EQ(finding.value("problem", ""), "RECONCILE_PROBLEM_ENTRY_CHANGED");
  EXPECT_EQ(finding["receipt"]["payload"]["sequence"].get<std::string>(), StrCat(edited));

  // And in words, naming the entry.
  r = fed_->Cli("gemeente", "g.auditor", {"audit", "reconcile"});
  EXPECT_EQ(r.exit_code, 5) << r.out << r.err;
  EXPECT_THAT(r.out, HasSubstr(StrCat("entry ", edited)));
}

}  // namespace
}  // namespace schakel::integration
