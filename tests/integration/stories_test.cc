// The user stories of the mission (docs/testing.md maps each story to its
// test), end to end: a real schakel-gateway and five schakel-node processes
// over mutual TLS (federation.h), driven ONLY through the `schakel` CLI as
// the people of mission.md would: professionals register signals, the case
// director opens and closes a case, analysts match families and ask for
// disclosure, approvers decide, auditors review the log.
//
// Every test keeps a ledger of what the CLI reported to it: each exchange
// id, each refusal with its reason, each disclosure, case and audit query.
// At its end the supervisor's auditor exports the gateway's exchange log
// (`schakel audit export`), and the export must hold exactly the ledger:
// nothing missing, nothing unexplained; `schakel audit verify` must pass,
// and no identifier of the test's people may be in the gateway's files.
//
// Stories federation_test.cc already covers are not repeated here (see
// docs/testing.md): partner down, expiry, quota, policy reload, a node
// killed mid-publication, a notification for an offline partner, "who asked
// about this person", tampering found by verify and reconcile.
//
// ctest names: stories.<Suite>.<Test>.
#include <unistd.h>

#include <signal.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <absl/strings/escaping.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "tests/integration/federation.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using json = nlohmann::json;

// The family De Wit at one address, and their neighbour (another family).
// Hendrik is known to the police (overlast, by BSN and name); Marieke to
// the municipality by her address only (woonfraude); Joost to the police by
// name, registered with the tussenvoegsel apart and in capitals (geweld);
// Fleur to the care partner (huiselijk-geweld). Ahmet is known nowhere.
const Person kVader{ValidBsn(21), "Hendrik", "de Wit", "1971-04-02", "5042AB", "9"};
const Person kMoeder{ValidBsn(22), "Marieke", "van den Berg", "1973-08-19", "5042AB", "9"};
const Person kZoon{ValidBsn(23), "Joost", "de Wit", "2004-02-29", "5042AB", "9"};
const Person kDochter{ValidBsn(24), "Fleur", "de Wit", "2009-12-01", "5042AB", "9"};
const Person kBuurman{ValidBsn(25), "Ahmet", "Yilmaz", "1980-06-15", "5042AB", "11"};
const Person* const kEveryone[] = {&kVader, &kMoeder, &kZoon, &kDochter, &kBuurman};

// Subject indexes of the family list below.
constexpr size_t kVaderIndex = 0, kMoederIndex = 1, kZoonIndex = 2, kDochterIndex = 3,
                 kBuurmanIndex = 4;

// The contact persons the partners registered (disclosed on approval).
constexpr char kPolitieContact[] = "P. Wijkagent";
constexpr char kZorgContactMoeder[] = "Z. Wijkverpleging";
constexpr char kZorgContactDochter[] = "Z. Jeugdteam";
constexpr char kZorgPhone[] = "0135550101";

// Hex of a base64 id (the CLI's --json prints bytes as base64; its
// commands take ids in hex).
std::string HexOf(const std::string& base64) {
  std::string bytes;
  if (!absl::Base64Unescape(base64, &bytes)) return "";
  return absl::BytesToHexString(bytes);
}

// "(reason: organisation_not_allowed)" in the CLI's error message.
std::string ReasonIn(const std::string& err) {
  const std::string marker = "(reason: ";
  const size_t at = err.find(marker);
  if (at == std::string::npos) return "";
  const size_t end = err.find(')', at);
  return err.substr(at + marker.size(), end - at - marker.size());
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// An enum value's name without its prefix: "GRANTED" for "OUTCOME_GRANTED".
std::string Short(const std::string& name, std::string_view prefix) {
  return name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
}

// One line per log entry, the same whether it is written from the test's
// ledger or read from the export: kind, what it is about (exchange,
// disclosure or case id, audit method, organisation), who asked, under
// which purpose and case, and the outcome with its reasons.
std::string EntryLine(const std::string& kind, const std::string& about, const std::string& who,
                      const std::string& purpose, const std::string& case_id,
                      const std::string& outcome, const std::string& reasons = "") {
  return StrCat(kind, " ", about.empty() ? "-" : about, " by ", who.empty() ? "-" : who,
                " under ", purpose.empty() ? "-" : purpose, " case ",
                case_id.empty() ? "-" : case_id, ": ", outcome,
                reasons.empty() ? "" : StrCat(" (", reasons, ")"));
}

// The line of an entry of a JSON Lines export (proto3 JSON of LogEntry).
std::string ExportedLine(const json& entry) {
  const json& r = entry.value("record", json::object());
  const std::string kind = Short(r.value("kind", ""), "RECORD_KIND_");
  std::string about = HexOf(r.value("exchangeId", ""));
  if (kind.rfind("DISCLOSURE_", 0) == 0) {
    about = HexOf(r.value("disclosure", json::object()).value("disclosureId", ""));
  } else if (kind.rfind("CASE_", 0) == 0) {
    about = r.value("caseId", "");
  } else if (kind == "AUDIT_QUERY") {
    about = r.value("auditQuery", json::object()).value("method", "");
  } else if (kind == "POLICY_LOADED") {
    // The convenant's version, without the "+<hash>" of its file.
    about = r.value("policy", json::object()).value("policyVersion", "");
    about = about.substr(0, about.find('+'));
  } else if (kind == "DIRECTORY_CHANGED") {
    about = r.value("directory", json::object())
                .value("organisation", json::object())
                .value("orgId", "");
  }
  const json& requester = r.value("requester", json::object());
  std::string who = requester.value("orgId", "");
  if (!requester.value("userId", "").empty()) who += "/" + requester.value("userId", "");
  std::string reasons;
  for (const json& reason : r.value("denialReasons", json::array())) {
    reasons +=
        StrCat(reasons.empty() ? "" : ",", Short(reason.get<std::string>(), "DENIAL_REASON_"));
  }
  return EntryLine(kind, about, who, r.value("purposeId", ""), r.value("caseId", ""),
                   Short(r.value("outcome", ""), "OUTCOME_"), reasons);
}

// The figures of one purpose in `schakel audit stats --by purpose`.
struct Figures {
  uint64_t exchanges = 0;
  uint64_t subjects = 0;
  uint64_t hits = 0;
  uint64_t disclosures_requested = 0;
  uint64_t disclosures_delivered = 0;
  uint64_t disclosures_denied = 0;
  uint64_t refusals = 0;
  std::map<std::string, uint64_t> by_reason;
  bool operator==(const Figures&) const = default;
};

void PrintTo(const Figures& f, std::ostream* os) {
  *os << "{exchanges " << f.exchanges << ", subjects " << f.subjects << ", hits " << f.hits
      << ", disclosures " << f.disclosures_requested << "/" << f.disclosures_delivered << "/"
      << f.disclosures_denied << ", refusals " << f.refusals << ", by reason "
      << ::testing::PrintToString(f.by_reason) << "}";
}

// The rows of `audit stats --by purpose --json`, by purpose.
std::map<std::string, Figures> FiguresOf(const json& stats) {
  const auto number = [](const json& row, const char* name) {
    return std::stoull(row.value(name, std::string("0")));
  };
  std::map<std::string, Figures> out;
  for (const json& row : stats.value("rows", json::array())) {
    Figures& f = out[row.value("purpose_id", "")];
    f.exchanges = number(row, "exchanges");
    f.subjects = number(row, "subjects");
    f.hits = number(row, "hits");
    f.disclosures_requested = number(row, "disclosures_requested");
    f.disclosures_delivered = number(row, "disclosures_delivered");
    f.disclosures_denied = number(row, "disclosures_denied");
    f.refusals = number(row, "refusals");
    for (const json& reason : row.value("by_reason", json::array())) {
      f.by_reason[reason.value("reason", "")] = number(reason, "count");
    }
    EXPECT_EQ(number(row, "partner_failures"), 0u) << row.dump();
    EXPECT_EQ(number(row, "disclosures_expired"), 0u) << row.dump();
  }
  return out;
}

class StoriesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    fed_ = Federation::StartForTest("schakel-stories", FederationOptions{}, &root_, &error);
    ASSERT_NE(fed_, nullptr) << error;
    for (const auto& [org, user, role] : std::vector<std::array<std::string, 3>>{
             {"riec", "r.analist", "analyst"},    {"riec", "r.regisseur", "director"},
             {"riec", "r.auditor", "auditor"},    {"gemeente", "g.analist", "analyst"},
             {"gemeente", "g.auditor", "auditor"}, {"gemeente", "g.medewerker", "professional"},
             {"politie", "p.medewerker", "professional"},
             {"politie", "p.fg", "approver"},     {"zorg", "z.medewerker", "professional"},
             {"zorg", "z.fg", "approver"},        {"zorg", "z.privacy", "auditor"},
             {"beheer", "b.auditor", "auditor"}}) {
      ASSERT_TRUE(fed_->AddUser(org, user, {role}, &error)) << error;
    }
    // What the gateway logged at its first start: the convenant and one
    // directory entry per organisation.
    ledger_.insert(EntryLine("POLICY_LOADED", "test-2026.1", "gateway", "", "", "GRANTED"));
    for (const char* org : Federation::kOrgs) {
      ledger_.insert(EntryLine("DIRECTORY_CHANGED", org, "gateway", "", "", "GRANTED"));
    }
  }

  void TearDown() override {
    fed_.reset();
    if (!HasFailure()) fs::remove_all(root_);
  }

  ProcessResult Cli(const std::string& org, const std::string& user,
                    const std::vector<std::string>& args) {
    return fed_->Cli(org, user, args);
  }

  // An auditor's query of the gateway's log through the CLI (`schakel audit
  // ARGS`), noted in the ledger under its Audit rpc.
  ProcessResult Audit(const std::string& org, const std::string& user,
                      const std::vector<std::string>& args) {
    static const std::map<std::string, std::string> kMethods = {
        {"log", "ListEntries"}, {"stats", "GetStats"},   {"export", "Export"},
        {"verify", "VerifyChain"}, {"subject", "FindSubjectEntries"}};
    std::vector<std::string> full = {"audit"};
    full.insert(full.end(), args.begin(), args.end());
    const ProcessResult r = Cli(org, user, full);
    if (r.exit_code == 0) {
      ledger_.insert(EntryLine("AUDIT_QUERY", kMethods.at(args.at(0)), StrCat(org, "/", user), "",
                               "", "GRANTED"));
    }
    return r;
  }

  // `audit log --json` as `org`'s auditor: the entries, parsed.
  std::vector<json> AuditLog(const std::string& org, const std::string& user,
                             std::vector<std::string> filter) {
    filter.insert(filter.begin(), "log");
    filter.push_back("--json");
    const ProcessResult r = Audit(org, user, filter);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::vector<json> out;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) out.push_back(json::parse(line, nullptr, false));
    }
    return out;
  }

  // `org`'s professional `user` imports `csv`; returns once the gateway has
  // acknowledged every index batch of `org`'s node (`node status
  // --wait-published`).
  ::testing::AssertionResult Import(const std::string& org, const std::string& user,
                                    const std::string& csv) {
    const fs::path file = root_ / org / StrCat("import-", ++files_, ".csv");
    std::ofstream(file) << csv;
    ProcessResult r = Cli(org, user, {"signals", "import", file.string()});
    if (r.exit_code != 0) return ::testing::AssertionFailure() << r.out << r.err;
    r = Cli(org, "admin", {"node", "status", "--wait-published", "--wait-for", "60",
                           "--poll-interval", "0.1"});
    if (r.exit_code != 0) return ::testing::AssertionFailure() << r.out << r.err;
    return ::testing::AssertionSuccess();
  }

  // The partners' registrations of the stories (see the people above).
  void RegisterTheFamily() {
    ASSERT_TRUE(Import("politie", "p.medewerker",
                       StrCat("signal_id,category,bsn,given_names,surname_prefix,surname,"
                              "birth_date,postcode,house_number,contact_name\n",
                              "P-1,overlast,", kVader.bsn, ",Hendrik,,de Wit,1971-04-02,,,",
                              kPolitieContact, "\n",
                              // the tussenvoegsel apart, the surname in capitals
                              "P-2,geweld,,Joost,de,WIT,29-02-2004,,,", kPolitieContact, "\n")));
    ASSERT_TRUE(Import("gemeente", "g.medewerker",
                       StrCat("signal_id,category,postcode,house_number,contact_name\n",
                              "G-1,woonfraude,5042 ab,9,G. Handhaving\n")));
    ASSERT_TRUE(Import("zorg", "z.medewerker",
                       StrCat("signal_id,category,bsn,given_names,surname,birth_date,"
                              "contact_name,contact_phone,free_text\n",
                              "Z-1,huiselijk-geweld,", kMoeder.bsn,
                              ",Marieke,van den Berg,1973-08-19,", kZorgContactMoeder, ",",
                              kZorgPhone, ",vertrouwelijk\n", "Z-2,huiselijk-geweld,",
                              kDochter.bsn, ",Fleur,de Wit,2009-12-01,", kZorgContactDochter, ",",
                              kZorgPhone, ",vertrouwelijk\n")));
  }

  // The analyst's list: family gezin-1 (Hendrik, Marieke with the address,
  // Joost, Fleur) and gezin-2 (Ahmet).
  fs::path FamilyList() {
    const fs::path file = root_ / "gezinnen.csv";
    if (fs::exists(file)) return file;
    const auto row = [](const std::string& label, const Person& p, const std::string& family,
                        const std::string& relation, bool with_address) {
      return StrCat(label, ",", p.bsn, ",", p.given_names, ",", p.surname, ",", p.birth_date, ",",
                    with_address ? p.postcode : "", ",", with_address ? p.house_number : "", ",",
                    family, ",", relation, "\n");
    };
    std::ofstream(file) << "label,bsn,given_names,surname,birth_date,postcode,house_number,"
                           "family_id,relation\n"
                        << row("vader", kVader, "gezin-1", "parent", false)
                        << row("moeder", kMoeder, "gezin-1", "parent", true)
                        << row("zoon", kZoon, "gezin-1", "child", false)
                        << row("dochter", kDochter, "gezin-1", "child", false)
                        << row("buurman", kBuurman, "gezin-2", "parent", false);
    return file;
  }

  // The director opens a case under riec-ondermijning; its id ("" when it
  // failed), noted in the ledger.
  std::string OpenRiecCase() {
    const ProcessResult r = Cli(
        "riec", "r.regisseur",
        {"cases", "open", "--purpose", kRiecPurpose, "--title", "Casus wijk Noord",
         "--goal", "Zicht op ondermijnende netwerken rond families in de wijk",
         "--ground", "signalen van ondermijning bij twee of meer partners", "--ground",
         "minderjarige kinderen in het gezin", "--ends", "2029-06-30", "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    const json j = json::parse(r.out, nullptr, false);
    if (j.is_discarded()) return "";
    const std::string id = (j.contains("case") ? j["case"] : j).value("case_id", "");
    if (!id.empty()) {
      ledger_.insert(EntryLine("CASE_OPENED", id, "riec/r.regisseur", kRiecPurpose, id, "GRANTED"));
    }
    return id;
  }

  // `schakel match ARGS --json` as `org`/`user`: the MatchResponse (null
  // when the CLI failed; `raw` has what it printed). The exchange goes into
  // the ledger: the three entries of an exchange the gateway ran.
  json Match(const std::string& org, const std::string& user, std::vector<std::string> args,
             ProcessResult* raw = nullptr) {
    args.insert(args.begin(), "match");
    args.push_back("--json");
    const ProcessResult r = Cli(org, user, args);
    if (raw != nullptr) *raw = r;
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    if (r.exit_code != 0) return json();
    const json m = json::parse(r.out, nullptr, false);
    if (m.is_discarded()) return json();
    NoteExchange(HexOf(m.value("exchange_id", "")), StrCat(org, "/", user),
                 m.value("purpose_id", ""), m.value("case_id", ""), m["result"]["counts"]);
    return m;
  }

  // An exchange the gateway ran, with its MatchCounts: its three entries.
  void NoteExchange(const std::string& hex_id, const std::string& who, const std::string& purpose,
                    const std::string& case_id, const json& counts) {
    for (const char* kind : {"EXCHANGE_REQUESTED", "EXCHANGE_EVALUATED", "EXCHANGE_RESOLVED"}) {
      ledger_.insert(EntryLine(kind, hex_id, who, purpose, case_id, "GRANTED"));
    }
    Figures& f = figures_[purpose];
    ++f.exchanges;
    f.subjects += counts.value("subjects", 0u);
    f.hits += counts.value("subject_partner_hits", 0u);
  }

  // `org`'s analyst `user` matches the family list under `purpose` (and
  // `case_id`), the answer saved for `disclose --match`.
  json MatchTheFamily(const std::string& org, const std::string& user, const std::string& purpose,
                      const std::string& case_id = "") {
    std::vector<std::string> args = {"--purpose", purpose, "--subjects", FamilyList().string(),
                                     "--save", MatchFile(org).string()};
    if (!case_id.empty()) args.insert(args.end(), {"--case", case_id});
    matched_[org] = {purpose, case_id};
    return Match(org, user, args);
  }
  fs::path MatchFile(const std::string& org) const { return root_ / org / "match.json"; }

  // The director opens a case and the RIEC's analyst matches the family
  // under it: the answer (null when either failed).
  json RiecMatchesTheFamilyInACase() {
    const std::string case_id = OpenRiecCase();
    if (case_id.empty()) return json();
    return MatchTheFamily("riec", "r.analist", kRiecPurpose, case_id);
  }

  // A refusal by the gateway, with the reason the CLI named.
  void NoteRefusal(const std::string& kind, const std::string& who, const std::string& purpose,
                   const std::string& case_id, const std::string& reason) {
    ledger_.insert(EntryLine(kind, "", who, purpose, case_id, "REFUSED", Upper(reason)));
    ++figures_[purpose].refusals;
    ++figures_[purpose].by_reason[StrCat("DENIAL_REASON_", Upper(reason))];
  }

  // A match the gateway refuses: the CLI's exit code and message (with
  // the reason it names) are returned; the refusal goes into the ledger
  // with that reason.
  ProcessResult RefusedMatch(const std::string& org, const std::string& user,
                             const std::string& purpose, const std::string& case_id,
                             std::vector<std::string> subject) {
    std::vector<std::string> args = {"match", "--purpose", purpose};
    if (!case_id.empty()) args.insert(args.end(), {"--case", case_id});
    args.insert(args.end(), subject.begin(), subject.end());
    const ProcessResult r = Cli(org, user, args);
    EXPECT_NE(r.exit_code, 0) << r.out;
    EXPECT_FALSE(ReasonIn(r.err).empty()) << r.err;
    NoteRefusal("EXCHANGE_REQUESTED", StrCat(org, "/", user), purpose, case_id, ReasonIn(r.err));
    return r;
  }

  // `schakel disclose --match FILE --partner PARTNER ARGS --json` as
  // `org`'s analyst after its family match (MatchTheFamily): the
  // AskDisclosureResponse's disclosure (null when the request itself was
  // refused), noted in the ledger as asked, or as refused with the reason
  // the CLI named; `raw` has what it printed.
  json Disclose(const std::string& org, const std::string& user, const std::string& partner,
                std::vector<std::string> args, ProcessResult* raw) {
    args.insert(args.begin(),
                {"disclose", "--match", MatchFile(org).string(), "--partner", partner});
    args.insert(args.end(), {"--reason", "afstemming gezamenlijk plan van aanpak", "--json"});
    *raw = Cli(org, user, args);
    const auto& [purpose, case_id] = matched_.at(org);
    const std::string who = StrCat(org, "/", user);
    const json j = json::parse(raw->out, nullptr, false);
    if (j.is_discarded() || !j.contains("disclosure")) {
      EXPECT_FALSE(ReasonIn(raw->err).empty()) << raw->out << raw->err;
      NoteRefusal("DISCLOSURE_REQUESTED", who, purpose, case_id, ReasonIn(raw->err));
      return json();
    }
    const json& status = j["disclosure"]["status"];
    const std::string id = HexOf(status.value("disclosure_id", ""));
    ledger_.insert(EntryLine("DISCLOSURE_REQUESTED", id, who, purpose, case_id, "GRANTED"));
    ++figures_[purpose].disclosures_requested;
    disclosures_[id] = {who, purpose, case_id};
    NoteIfDecided(status);
    return j["disclosure"];
  }

  // A disclosure's DisclosureStatus as the CLI printed it: once decided,
  // the answering node's decision (as the gateway logged it) goes into the
  // ledger, with the reason the CLI showed for a denial.
  void NoteIfDecided(const json& status) {
    const std::string state = status.value("state", "");
    if (state != "DISCLOSURE_STATE_DELIVERED" && state != "DISCLOSURE_STATE_DENIED") return;
    const std::string id = HexOf(status.value("disclosure_id", ""));
    const auto& [who, purpose, case_id] = disclosures_.at(id);
    const bool delivered = state == "DISCLOSURE_STATE_DELIVERED";
    const std::string reason = status.value("reason", "");
    ledger_.insert(EntryLine("DISCLOSURE_DECIDED", id, who, purpose, case_id,
                             delivered ? "GRANTED" : "DENIED",
                             delivered ? "" : Short(reason, "DENIAL_REASON_")));
    Figures& f = figures_[purpose];
    ++(delivered ? f.disclosures_delivered : f.disclosures_denied);
    if (!delivered) ++f.by_reason[reason];
  }

  // `schakel disclosures show ID --wait` as `org`'s analyst, until the
  // partner decided: the OutgoingDisclosure (decision noted), and `raw`.
  json ShowDecided(const std::string& org, const std::string& user, const std::string& id,
                   ProcessResult* raw) {
    *raw = Cli(org, user,
               {"disclosures", "show", id, "--wait", "--poll-interval", "0.1", "--wait-for", "60",
                "--json"});
    const json j = json::parse(raw->out, nullptr, false);
    if (j.is_discarded() || !j.contains("status")) return json();
    NoteIfDecided(j["status"]);
    return j;
  }

  // The supervisor's auditor exports the whole log: it must hold exactly
  // the ledger's entries. Then the chain must verify, and the gateway's
  // files (its log output and its data) must hold none of the people's
  // identifiers.
  void ExpectTheLogAccountsForEveryExchange() {
    const fs::path file = root_ / "beheer" / "export.jsonl";
    fs::remove(file);
    ProcessResult r =
        Audit("beheer", "b.auditor", {"export", "--format", "jsonl", "--output", file.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::multiset<std::string> exported;
    std::ifstream in(file);
    for (std::string line; std::getline(in, line);) {
      const json entry = json::parse(line, nullptr, false);
      ASSERT_FALSE(entry.is_discarded()) << line;
      exported.insert(ExportedLine(entry));
    }
    std::vector<std::string> missing, unexplained;
    std::set_difference(ledger_.begin(), ledger_.end(), exported.begin(), exported.end(),
                        std::back_inserter(missing));
    std::set_difference(exported.begin(), exported.end(), ledger_.begin(), ledger_.end(),
                        std::back_inserter(unexplained));
    EXPECT_THAT(missing, IsEmpty()) << "in the test's ledger, not in the export";
    EXPECT_THAT(unexplained, IsEmpty()) << "in the export, not in the test's ledger";
    EXPECT_EQ(exported.size(), ledger_.size());

    r = Audit("beheer", "b.auditor", {"verify"});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    // Every entry exported, and the verification's own.
    EXPECT_THAT(r.out, HasSubstr(StrCat("chain intact: ", exported.size() + 1, " entries")));

    ASSERT_EQ(fed_->gateway().SignalAndWait(SIGTERM, 10s), 0);
    for (const Person* p : kEveryone) {
      for (const std::string& identifier : {p->bsn, p->given_names, p->surname, p->birth_date}) {
        EXPECT_THAT(FilesContaining(root_ / "gateway", identifier), IsEmpty())
            << "an identifier of the test data (" << identifier << ") is in the gateway's files";
      }
    }
  }

  fs::path root_;
  std::unique_ptr<Federation> fed_;
  int files_ = 0;
  // One line per log entry the test expects (EntryLine).
  std::multiset<std::string> ledger_;
  // The purpose and case of each organisation's family match.
  std::map<std::string, std::pair<std::string, std::string>> matched_;
  // What `audit stats --by purpose` should count, from the CLI's answers.
  std::map<std::string, Figures> figures_;
  // Each disclosure asked, by hex id: requester org/user, purpose, case.
  std::map<std::string, std::array<std::string, 3>> disclosures_;
};

// Story: the RIEC analyst runs a match for a family under a purpose and a
// case, and learns per partner and per family who knows which members,
// without anyone learning more. Partners the purpose does not let answer
// (the care partner under the RIEC's purpose) are not asked. The same
// family under the municipality's care purpose gets other answers.
TEST_F(StoriesTest, FamilyMatchShowsPerPartnerAndPerFamilyWhoKnowsWhichMembers) {
  ASSERT_NO_FATAL_FAILURE(RegisterTheFamily());
  const json m = RiecMatchesTheFamilyInACase();
  ASSERT_FALSE(m.is_null());
  const std::string case_id = m.value("case_id", "");
  EXPECT_FALSE(case_id.empty());
  EXPECT_EQ(m["lawful_basis"].value("reference", ""), "Wpg art. 20; AVG art. 6 lid 1 sub e");

  // Asked: police and municipality; the care partner never.
  EXPECT_THAT(PartnersAsked(m), UnorderedElementsAre("politie", "gemeente"));
  std::map<std::string, int> subjects_hit;
  for (const json& p : m["result"]["partners"]) {
    EXPECT_EQ(p.value("status", ""), "PARTNER_STATUS_OK") << p.dump();
    subjects_hit[p.value("org_id", "")] = p.value("subjects_hit", -1);
  }
  EXPECT_EQ(subjects_hit, (std::map<std::string, int>{{"politie", 2}, {"gemeente", 1}}));

  // Per member and partner: which keys hit.
  using Keys = std::set<std::string>;
  EXPECT_EQ(Hits(m, kVaderIndex, "politie"), (Keys{"bsn", "name_dob"}));
  EXPECT_EQ(Hits(m, kVaderIndex, "gemeente"), Keys{});
  EXPECT_EQ(Hits(m, kMoederIndex, "politie"), Keys{});
  EXPECT_EQ(Hits(m, kMoederIndex, "gemeente"), (Keys{"address"}));
  // "WIT" with "de" apart at the police is "de Wit" in the analyst's list.
  EXPECT_EQ(Hits(m, kZoonIndex, "politie"), (Keys{"name_dob"}));
  EXPECT_EQ(Hits(m, kZoonIndex, "gemeente"), Keys{});
  for (size_t i : {kDochterIndex, kBuurmanIndex}) {
    EXPECT_EQ(Hits(m, i, "politie"), Keys{}) << i;
    EXPECT_EQ(Hits(m, i, "gemeente"), Keys{}) << i;
    EXPECT_EQ(Hits(m, i, "zorg"), Keys{}) << i;
  }

  // Per family: members known, and by which domain.
  std::map<int, std::string> family_ids;
  for (const json& f : m["families"]) family_ids[f.value("family", 0)] = f.value("family_id", "");
  std::map<std::string, json> families;
  for (const json& f : m["result"]["families"]) families[family_ids[f.value("family", 0)]] = f;
  ASSERT_EQ(families.size(), 2u) << m.dump(2);
  EXPECT_EQ(families["gezin-1"].value("member_count", 0), 4);
  EXPECT_EQ(families["gezin-1"].value("members_with_hit", 0), 3);
  std::map<std::string, std::pair<std::vector<std::string>, std::vector<int>>> domains;
  for (const json& d : families["gezin-1"]["domains"]) {
    domains[d.value("domain", "")] = {d["org_ids"].get<std::vector<std::string>>(),
                                      d["subject_indices"].get<std::vector<int>>()};
  }
  EXPECT_EQ(domains, (std::map<std::string, std::pair<std::vector<std::string>, std::vector<int>>>{
                         {"DOMAIN_SAFETY", {{"politie"}, {0, 2}}},
                         {"DOMAIN_SOCIAL", {{"gemeente"}, {1}}}}));
  EXPECT_EQ(families["gezin-2"].value("member_count", 0), 1);
  EXPECT_EQ(families["gezin-2"].value("members_with_hit", 0), 0);
  EXPECT_THAT(families["gezin-2"].value("domains", json::array()), IsEmpty());

  const json& counts = m["result"]["counts"];
  EXPECT_EQ(counts.value("subjects", 0), 5);
  EXPECT_EQ(counts.value("subjects_hit", 0), 3);
  EXPECT_EQ(counts.value("subject_partner_hits", 0), 3);
  EXPECT_EQ(counts.value("partners_answered", 0), 2);
  EXPECT_EQ(counts.value("partners_failed", 0), 0);

  // The same list under the municipality's care purpose (no case): the
  // care partner is asked and knows Marieke and Fleur; of the police's
  // signals only Joost's (geweld) may be matched for it.
  const json z = MatchTheFamily("gemeente", "g.analist", kZorgPurpose);
  ASSERT_FALSE(z.is_null());
  EXPECT_THAT(PartnersAsked(z), ::testing::Contains("zorg"));
  EXPECT_EQ(Hits(z, kMoederIndex, "zorg"), (Keys{"bsn", "name_dob"}));
  EXPECT_EQ(Hits(z, kDochterIndex, "zorg"), (Keys{"bsn", "name_dob"}));
  EXPECT_EQ(Hits(z, kVaderIndex, "politie"), Keys{});
  EXPECT_EQ(Hits(z, kZoonIndex, "politie"), (Keys{"name_dob"}));
  EXPECT_EQ(z["result"]["counts"].value("subjects_hit", 0), 3);

  // The table for people: per family, which domains know whom.
  const ProcessResult raw = Cli("riec", "r.analist",
                                {"match", "--purpose", kRiecPurpose, "--case", case_id,
                                 "--subjects", FamilyList().string()});
  ASSERT_EQ(raw.exit_code, 0) << raw.err;
  ASSERT_THAT(raw.out, HasSubstr("exchange id:"));
  // (The same list and data as the --json run above: the same counts.)
  NoteExchange(FirstHexId(raw.out.substr(raw.out.find("exchange id:"))), "riec/r.analist",
               kRiecPurpose, case_id, m["result"]["counts"]);
  EXPECT_THAT(raw.out, HasSubstr("family gezin-1: 3 of 4 members known; safety (politie): "
                                 "vader, zoon; social (gemeente): moeder"));
  EXPECT_THAT(raw.out, HasSubstr("family gezin-2: 0 of 1 members known"));

  // The RIEC's purpose would tip off an investigation: nobody is notified
  // of its hits; the care purpose notifies the partners that hit.
  std::map<std::string, std::vector<std::string>> notified;  // by purpose
  for (const json& e : AuditLog("beheer", "b.auditor", {"--kind", "exchange_resolved"})) {
    const json& r = e["record"];
    notified[r.value("purpose_id", "")] =
        r.value("notified_org_ids", json::array()).get<std::vector<std::string>>();
  }
  EXPECT_THAT(notified[kRiecPurpose], IsEmpty());
  EXPECT_THAT(notified[kZorgPurpose], UnorderedElementsAre("politie", "zorg"));

  ExpectTheLogAccountsForEveryExchange();
}

// Story: sharing happens only under an explicit purpose the convenant
// gives the requester. The RIEC's analyst asks under the municipality's
// care purpose, and under its own purpose without a case: both refused,
// with the reason on stderr; both refusals are in the log with their
// reasons, for the supervisor's auditor and the RIEC's own, not for the
// municipality's (it took no part).
TEST_F(StoriesTest, MatchUnderAPurposeTheRequesterMayNotUseIsRefusedAndLoggedWithItsReason) {
  ProcessResult r = RefusedMatch("riec", "r.analist", kZorgPurpose, "", PersonFlags(kVader));
  EXPECT_EQ(r.exit_code, 6) << r.err;
  EXPECT_EQ(ReasonIn(r.err), "organisation_not_allowed");
  EXPECT_THAT(r.out, IsEmpty());
  for (const std::string& identifier : {kVader.bsn, kVader.surname, kVader.birth_date}) {
    EXPECT_THAT(r.err, Not(HasSubstr(identifier)));
  }
  r = RefusedMatch("riec", "r.analist", kRiecPurpose, "", PersonFlags(kVader));
  EXPECT_EQ(ReasonIn(r.err), "case_required");

  // The supervisor's auditor: every refusal, with requester, purpose,
  // lawful basis and reason.
  const std::vector<json> refused = AuditLog("beheer", "b.auditor", {"--outcome", "refused"});
  ASSERT_EQ(refused.size(), 2u);
  const json& first = refused[0]["record"];
  EXPECT_EQ(first.value("kind", ""), "RECORD_KIND_EXCHANGE_REQUESTED");
  EXPECT_EQ(first["requester"].value("org_id", ""), "riec");
  EXPECT_EQ(first["requester"].value("user_id", ""), "r.analist");
  EXPECT_EQ(first["requester"].value("role", ""), "ROLE_ANALYST");
  EXPECT_EQ(first.value("purpose_id", ""), kZorgPurpose);
  EXPECT_EQ(first["lawful_basis"].value("reference", ""),
            "AVG art. 6 lid 1 sub e; Wmo 2015 art. 5.2.1");
  EXPECT_THAT(first.value("denial_reasons", json::array()),
              ElementsAre("DENIAL_REASON_ORGANISATION_NOT_ALLOWED"));
  EXPECT_THAT(refused[1]["record"].value("denial_reasons", json::array()),
              ElementsAre("DENIAL_REASON_CASE_REQUIRED"));
  EXPECT_EQ(AuditLog("beheer", "b.auditor", {"--reason", "organisation_not_allowed"}).size(), 1u);
  // In the table for people, the reason is named.
  r = Audit("beheer", "b.auditor", {"log", "--outcome", "refused", "--purpose", kZorgPurpose});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("riec/r.analist"));
  EXPECT_THAT(r.out, HasSubstr("organisation_not_allowed"));

  // The RIEC's auditor sees its organisation's refusals; the
  // municipality's sees none.
  EXPECT_EQ(AuditLog("riec", "r.auditor", {"--outcome", "refused"}).size(), 2u);
  EXPECT_THAT(AuditLog("gemeente", "g.auditor", {"--outcome", "refused"}), IsEmpty());

  ExpectTheLogAccountsForEveryExchange();
}

// Story: the care partner stays in control of what leaves it. The
// municipality asks the care partner for the contacts of the family's
// members it knows, and for Marieke's category; the care partner's
// approver approves the first for contact names only (not the phone
// numbers asked) and denies the second with a reason. The requester sees
// the payload of the one and the reason of the other.
// (federation_test.cc's DisclosureTest covers one person, refusals by the
// convenant and by the local policy, and the signed statements.)
TEST_F(StoriesTest, TheApproverApprovesOneDisclosureNarrowedAndDeniesAnother) {
  ASSERT_NO_FATAL_FAILURE(RegisterTheFamily());
  ASSERT_FALSE(MatchTheFamily("gemeente", "g.analist", kZorgPurpose).is_null());
  ProcessResult raw;
  const json contacts = Disclose("gemeente", "g.analist", "zorg",
                                 {"--family", "gezin-1", "--fields", "contact_name,contact_phone"},
                                 &raw);
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;
  EXPECT_EQ(contacts["status"].value("state", ""), "DISCLOSURE_STATE_PENDING_APPROVAL");
  EXPECT_EQ(contacts["status"]["subject_indices"].get<std::vector<int>>(),
            (std::vector<int>{kMoederIndex, kDochterIndex}));
  const json category =
      Disclose("gemeente", "g.analist", "zorg",
               {"--subject", StrCat(kMoederIndex), "--fields", "category"}, &raw);
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;
  const std::string approved = HexOf(contacts["status"].value("disclosure_id", ""));
  const std::string denied = HexOf(category["status"].value("disclosure_id", ""));
  ASSERT_EQ(approved.size(), 32u);
  ASSERT_EQ(denied.size(), 32u);

  // The approver sees both requests; approves one, narrowed; denies one.
  ProcessResult r = Cli("zorg", "z.fg", {"approvals", "list"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(approved));
  EXPECT_THAT(r.out, HasSubstr(denied));
  r = Cli("zorg", "z.fg",
          {"approvals", "approve", approved, "--fields", "contact_name", "--reason",
           "binnen afspraken zorgoverleg"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  r = Cli("zorg", "z.fg",
          {"approvals", "deny", denied, "--reason", "niet nodig voor het plan van aanpak"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;

  // The requester: both contact names, no phone number, no free text...
  json shown = ShowDecided("gemeente", "g.analist", approved, &r);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(shown["status"]["sealed"]["statement"].value("decision", ""),
            "DISCLOSURE_DECISION_APPROVED_BY_APPROVER");
  EXPECT_EQ(shown["status"]["sealed"]["statement"].value("decided_by_user_id", ""), "z.fg");
  EXPECT_EQ(shown["content"]["signals"].size(), 2u) << shown.dump(2);
  const std::string content = shown["content"].dump();
  EXPECT_THAT(content, HasSubstr(kZorgContactMoeder));
  EXPECT_THAT(content, HasSubstr(kZorgContactDochter));
  EXPECT_THAT(content, Not(HasSubstr(kZorgPhone)));
  EXPECT_THAT(content, Not(HasSubstr("vertrouwelijk")));
  // ... and the denial with the approver's reason.
  shown = ShowDecided("gemeente", "g.analist", denied, &r);
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;
  EXPECT_EQ(shown["status"].value("state", ""), "DISCLOSURE_STATE_DENIED");
  EXPECT_THAT(r.out + r.err, HasSubstr("niet nodig voor het plan van aanpak"));
  EXPECT_THAT(shown.value("content", json::object()).dump(), Not(HasSubstr("huiselijk-geweld")));
  // In words, for people: the payload, and the reason.
  r = Cli("gemeente", "g.analist", {"disclosures", "show", approved});
  EXPECT_THAT(r.out, HasSubstr(kZorgContactDochter));
  r = Cli("gemeente", "g.analist", {"disclosures", "show", denied});
  EXPECT_EQ(r.exit_code, 6);
  EXPECT_THAT(r.out + r.err, HasSubstr("niet nodig voor het plan van aanpak"));

  ExpectTheLogAccountsForEveryExchange();
}

// Story: partners act under mandates so that not every decision goes up
// the hierarchy. The police's local policy lets the RIEC have category and
// contact name under its purpose at once; a field the convenant allows but
// the mandate does not cover (the phone) is denied by the police's policy
// at once; a field the convenant does not allow is refused by the gateway.
// Nobody at the police had anything to decide.
TEST_F(StoriesTest, AMandateDisclosesAtOnceAndOnlyWhatItCovers) {
  ASSERT_NO_FATAL_FAILURE(RegisterTheFamily());
  ASSERT_FALSE(RiecMatchesTheFamilyInACase().is_null());
  ProcessResult raw;
  const auto ask = [&](const std::string& fields) {
    return Disclose("riec", "r.analist", "politie",
                    {"--subject", StrCat(kVaderIndex), "--fields", fields}, &raw);
  };

  json d = ask("category,contact_name");
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;
  EXPECT_EQ(d["status"].value("state", ""), "DISCLOSURE_STATE_DELIVERED");
  EXPECT_EQ(d["status"]["sealed"]["statement"].value("decision", ""),
            "DISCLOSURE_DECISION_APPROVED_BY_MANDATE");
  EXPECT_THAT(d["content"].dump(), HasSubstr(kPolitieContact));
  EXPECT_THAT(d["content"].dump(), HasSubstr("overlast"));

  d = ask("contact_phone");
  EXPECT_EQ(raw.exit_code, 6) << raw.out << raw.err;
  EXPECT_EQ(d["status"].value("state", ""), "DISCLOSURE_STATE_DENIED");
  EXPECT_EQ(d["status"]["sealed"]["statement"].value("decision", ""),
            "DISCLOSURE_DECISION_DENIED_BY_POLICY");

  EXPECT_TRUE(ask("free_text").is_null());
  EXPECT_EQ(raw.exit_code, 6) << raw.out << raw.err;
  EXPECT_EQ(ReasonIn(raw.err), "field_not_allowed");

  const ProcessResult r = Cli("politie", "p.fg", {"approvals", "list", "--state", "pending"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(FirstHexId(r.out), "") << r.out;

  ExpectTheLogAccountsForEveryExchange();
}

// Story: the case director opens a case with its purpose, goal and
// selection grounds; analysts match under it while it is open; the
// director closes it and matching under it stops. An analyst may not open
// a case. The case's history is in the log.
TEST_F(StoriesTest, TheDirectorOpensACaseMatchingRunsUnderItAndStopsWhenItIsClosed) {
  ProcessResult r = Cli("riec", "r.analist",
                        {"cases", "open", "--purpose", kRiecPurpose, "--title", "Eigen casus",
                         "--goal", "Zelf een casus openen", "--ground", "geen", "--ends",
                         "2029-06-30"});
  EXPECT_EQ(r.exit_code, 6) << r.out << r.err;

  const std::string case_id = OpenRiecCase();
  ASSERT_FALSE(case_id.empty());
  r = Cli("riec", "r.analist", {"cases", "show", case_id});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* shown : {kRiecPurpose, "Zicht op ondermijnende netwerken",
                            "minderjarige kinderen in het gezin",
                            // open through 2029-06-30: it ends at midnight after
                            "ends:     2029-07-01T00:00:00Z"}) {
    EXPECT_THAT(r.out, HasSubstr(shown));
  }

  ProcessResult raw;
  std::vector<std::string> args = {"--purpose", kRiecPurpose, "--case", case_id};
  for (const std::string& f : PersonFlags(kVader)) args.push_back(f);
  ASSERT_FALSE(Match("riec", "r.analist", args, &raw).is_null()) << raw.err;

  r = Cli("riec", "r.regisseur", {"cases", "close", case_id, "--reason", "doel bereikt"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ledger_.insert(EntryLine("CASE_CLOSED", case_id, "riec/r.regisseur", kRiecPurpose, case_id,
                           "GRANTED"));
  r = RefusedMatch("riec", "r.analist", kRiecPurpose, case_id, PersonFlags(kVader));
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(ReasonIn(r.err), "case_not_open");

  std::vector<std::string> kinds;
  for (const json& e : AuditLog("riec", "r.auditor", {"--case", case_id})) {
    kinds.push_back(StrCat(e["record"].value("kind", ""), " ", e["record"].value("outcome", "")));
  }
  EXPECT_THAT(kinds, ElementsAre("RECORD_KIND_CASE_OPENED OUTCOME_GRANTED",
                                 "RECORD_KIND_EXCHANGE_REQUESTED OUTCOME_GRANTED",
                                 "RECORD_KIND_EXCHANGE_EVALUATED OUTCOME_GRANTED",
                                 "RECORD_KIND_EXCHANGE_RESOLVED OUTCOME_GRANTED",
                                 "RECORD_KIND_CASE_CLOSED OUTCOME_GRANTED",
                                 "RECORD_KIND_EXCHANGE_REQUESTED OUTCOME_REFUSED"));

  ExpectTheLogAccountsForEveryExchange();
}

// Story: the compliance reviewer (FG) accounts for a day of exchanges
// under both purposes: matches, a refusal, a disclosure under a mandate and
// one approved by a person, and a "who asked about this person" query.
// The statistics per purpose add up to what the CLI reported to the
// people who acted, and the export holds exactly those entries (as at the
// end of every test here).
TEST_F(StoriesTest, TheReviewersStatisticsPerPurposeAndExportAccountForEveryExchange) {
  ASSERT_NO_FATAL_FAILURE(RegisterTheFamily());
  ASSERT_FALSE(RiecMatchesTheFamilyInACase().is_null());
  const json zorg = MatchTheFamily("gemeente", "g.analist", kZorgPurpose);
  ASSERT_FALSE(zorg.is_null());
  RefusedMatch("riec", "r.analist", kZorgPurpose, "", PersonFlags(kBuurman));

  ProcessResult raw;
  json d = Disclose("riec", "r.analist", "politie",
                    {"--subject", StrCat(kZoonIndex), "--fields", "contact_name"}, &raw);
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;
  d = Disclose("gemeente", "g.analist", "zorg",
               {"--subject", StrCat(kDochterIndex), "--fields", "contact_name"}, &raw);
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;
  const std::string asked = HexOf(d["status"].value("disclosure_id", ""));
  ProcessResult r = Cli("zorg", "z.fg",
                        {"approvals", "approve", asked, "--reason", "binnen afspraken"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  ShowDecided("gemeente", "g.analist", asked, &raw);
  ASSERT_EQ(raw.exit_code, 0) << raw.out << raw.err;

  // The care partner's privacy officer: who asked about Fleur?
  std::vector<std::string> subject = {"subject", "--json"};
  for (const std::string& f : PersonFlags(kDochter)) subject.push_back(f);
  r = Audit("zorg", "z.privacy", subject);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json who_asked = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(who_asked.is_discarded()) << r.out;
  std::set<std::string> exchanges;
  for (const json& record : who_asked.value("records", json::array())) {
    exchanges.insert(HexOf(record.value("exchange_id", "")));
  }
  EXPECT_EQ(exchanges, (std::set<std::string>{HexOf(zorg.value("exchange_id", ""))}));

  // Statistics per purpose.
  r = Audit("beheer", "b.auditor", {"stats", "--by", "purpose", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const json stats = json::parse(r.out, nullptr, false);
  ASSERT_FALSE(stats.is_discarded()) << r.out;
  EXPECT_EQ(FiguresOf(stats), figures_) << stats.dump(2);
  // Spelled out for this day: the RIEC's family match (3 hits: Hendrik and
  // Joost at the police, Marieke at the municipality) and the
  // municipality's (Marieke and Fleur at the care partner, Joost at the
  // police); one disclosure delivered under each; one refusal.
  EXPECT_EQ(figures_[kRiecPurpose],
            (Figures{.exchanges = 1, .subjects = 5, .hits = 3, .disclosures_requested = 1,
                     .disclosures_delivered = 1, .by_reason = {}}));
  EXPECT_EQ(figures_[kZorgPurpose],
            (Figures{.exchanges = 1, .subjects = 5, .hits = 3, .disclosures_requested = 1,
                     .disclosures_delivered = 1, .refusals = 1,
                     .by_reason = {{"DENIAL_REASON_ORGANISATION_NOT_ALLOWED", 1}}}));
  // And for people, a row per purpose.
  r = Audit("beheer", "b.auditor", {"stats", "--by", "purpose"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(kRiecPurpose));
  EXPECT_THAT(r.out, HasSubstr("organisation_not_allowed 1"));

  ExpectTheLogAccountsForEveryExchange();
}

}  // namespace
}  // namespace schakel::integration
