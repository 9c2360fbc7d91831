#include "demo/synthetic.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "cli/import_parser.h"
#include "common/strings.h"
#include "crypto/match_keys.h"
#include "crypto/oprf.h"
#include "crypto/pseudonym.h"
#include "nodes/local_policy.h"
#include "nodes/node_secret.h"
#include "nodes/signal_store.h"
#include "store/memory_store.h"

namespace schakel::demo {
namespace {

const absl::Time kToday = absl::FromCivil(absl::CivilDay(2026, 11, 24), absl::UTCTimeZone());

std::string SignalsOf(const Population& p, const Registration& who, size_t n, uint64_t seed,
                      std::set<size_t>* known = nullptr) {
  std::ostringstream out;
  std::set<size_t> held = WriteSignalsCsv(p, who, n, seed, kToday, out);
  if (known != nullptr) *known = std::move(held);
  return out.str();
}

std::vector<v1::Signal> Parse(const std::string& csv) {
  std::istringstream in(csv);
  auto reader = cli::SignalFileReader::Open(in, cli::ImportFileFormat::kCsv);
  EXPECT_TRUE(reader.ok()) << reader.status();
  std::vector<v1::Signal> out;
  if (!reader.ok()) return out;
  v1::ImportRow row;
  std::vector<cli::LineProblem> problems;
  while ((*reader)->Next(row, problems) != cli::SignalFileReader::Result::kEnd) {
    out.push_back(row.signal());
  }
  EXPECT_THAT(problems, ::testing::IsEmpty());
  return out;
}

const Registration& Of(const std::vector<Registration>& all, const std::string& org) {
  for (const Registration& r : all) {
    if (r.org_id == org) return r;
  }
  ADD_FAILURE() << org;
  return all.front();
}

TEST(SyntheticTest, TheSameSeedGivesTheSameFilesAndAnotherSeedOthers) {
  const auto orgs = DemoRegistrations();
  const Population a = Population::Generate(7, 2000);
  const Population b = Population::Generate(7, 2000);
  const Population c = Population::Generate(8, 2000);
  EXPECT_EQ(SignalsOf(a, orgs[0], 500, 7), SignalsOf(b, orgs[0], 500, 7));
  EXPECT_NE(SignalsOf(a, orgs[0], 500, 7), SignalsOf(c, orgs[0], 500, 8));
  // Each partner registers other people, under its own ids.
  EXPECT_NE(SignalsOf(a, orgs[0], 500, 7), SignalsOf(a, orgs[1], 500, 7));
}

TEST(SyntheticTest, PeopleHaveValidUniqueBsnsAndHouseholdsAreFamilies) {
  const Population p = Population::Generate(20261124, 20000);
  EXPECT_GE(p.persons().size(), 20000u);
  std::set<std::string> bsns;
  for (const Person& person : p.persons()) {
    EXPECT_TRUE(crypto::CanonicalBsn(person.bsn).ok());
    EXPECT_TRUE(bsns.insert(person.bsn).second);
  }
  size_t families = 0, multi_problem = 0;
  for (const Household& h : p.households()) {
    ASSERT_FALSE(h.members.empty());
    multi_problem += h.multi_problem ? 1 : 0;
    int youngest_parent = 0, oldest_child = 9999;
    for (size_t m : h.members) {
      const Person& person = p.persons()[m];
      if (person.relation == "parent") youngest_parent = std::max(youngest_parent, person.birth_year);
      if (person.relation == "child") oldest_child = std::min(oldest_child, person.birth_year);
    }
    if (oldest_child != 9999) {
      ++families;
      EXPECT_GE(oldest_child, youngest_parent + 18);
    }
  }
  // About 40 % of households have children; about 15 % have problems on
  // several fronts.
  EXPECT_GT(families, p.households().size() / 4);
  EXPECT_GT(multi_problem, p.households().size() / 10);
  EXPECT_LT(multi_problem, p.households().size() / 5);
}

// Every row of every partner's file is one its node stores: the columns
// parse (the CLI's reader) and the signal is valid under that partner's
// demo policy (the node's own validation), categories included.
TEST(SyntheticTest, EveryRowIsValidUnderThePartnersDemoPolicy) {
  const Population p = Population::Generate(3, 6000);
  crypto::oprf::PoprfServer server(crypto::oprf::PrivateKey::Generate());
  for (const Registration& who : DemoRegistrations()) {
    auto policy = nodes::LoadLocalPolicy(StrCat("deploy/demo/", who.org_id, "/local-policy.json"));
    ASSERT_TRUE(policy.ok()) << policy.status();
    std::map<std::string, crypto::PurposeKey> keys;
    for (const auto& [purpose, answered] : (*policy)->purposes()) {
      keys.emplace(purpose, *crypto::PurposeKey::Create(server, purpose));
    }
    store::MemoryStore memory;
    auto store = nodes::SignalStore::Create(&memory, *policy, std::move(keys),
                                            nodes::NodeSecret::Random());
    ASSERT_TRUE(store.ok()) << store.status();
    const std::vector<v1::Signal> signals = Parse(SignalsOf(p, who, 3000, 3));
    ASSERT_EQ(signals.size(), 3000u) << who.org_id;
    for (v1::Signal s : signals) {
      const auto problems = (*store)->Validate(s, kToday);
      ASSERT_TRUE(problems.empty()) << who.org_id << " " << s.signal_id() << ": "
                                    << problems.front().field << ": " << problems.front().problem;
    }
  }
}

// The same person at two partners is spelled differently, yet matches on
// name and date of birth nearly always; a typo now and then does not.
TEST(SyntheticTest, PartnersSpellPeopleDifferentlyAndMatchingBridgesMostOfIt) {
  const Population p = Population::Generate(11, 20000);
  const auto orgs = DemoRegistrations();
  const auto politie = Parse(SignalsOf(p, Of(orgs, "politie"), 10000, 11));
  const auto gemeente = Parse(SignalsOf(p, Of(orgs, "gemeente"), 10000, 11));
  const auto name_dob = [](const v1::Signal& s) -> std::string {
    auto keys = crypto::DeriveMatchKeys(nodes::SignalStore::IdentifiersOf(s.subject()));
    if (!keys.ok()) return "";
    for (const crypto::MatchKey& k : *keys) {
      if (k.type == crypto::MatchKeyType::kNameDob) return k.canonical;
    }
    return "";
  };
  std::map<std::string, const v1::Signal*> at_gemeente;  // by BSN
  for (const v1::Signal& s : gemeente) {
    if (!s.subject().bsn().empty()) at_gemeente.emplace(s.subject().bsn(), &s);
  }
  size_t both = 0, same_key = 0, spelled_differently = 0;
  std::map<std::string, size_t> forms;
  for (const v1::Signal& s : politie) {
    const v1::Subject& subject = s.subject();
    if (subject.bsn().empty()) ++forms["no bsn"];
    if (!subject.surname_prefix().empty()) ++forms["prefix apart"];
    if (subject.surname().find(", ") != std::string::npos) ++forms["prefix after"];
    if (subject.given_names().find('.') != std::string::npos) ++forms["initials"];
    if (subject.birth_date().size() < 10 || subject.birth_date()[4] != '-') ++forms["d-m-yyyy"];
    auto it = at_gemeente.find(subject.bsn());
    if (subject.bsn().empty() || it == at_gemeente.end()) continue;
    ++both;
    const v1::Subject& other = it->second->subject();
    if (other.surname() != subject.surname() || other.given_names() != subject.given_names() ||
        other.birth_date() != subject.birth_date()) {
      ++spelled_differently;
    }
    if (name_dob(s) == name_dob(*it->second)) ++same_key;
  }
  for (const char* form : {"no bsn", "prefix apart", "prefix after", "initials", "d-m-yyyy"}) {
    EXPECT_GT(forms[form], 100u) << form;
  }
  ASSERT_GT(both, 500u);  // partners know some of the same people
  EXPECT_GT(spelled_differently, both / 3);
  EXPECT_GT(same_key, both * 94 / 100);
  EXPECT_LT(same_key, both);  // typos
}

TEST(SyntheticTest, TheFamiliesFileHasFamiliesSomePartnersKnowAndOneNobodyKnows) {
  const Population p = Population::Generate(5, 20000);
  std::vector<std::set<size_t>> known;
  for (const Registration& who : DemoRegistrations()) {
    if (who.org_id == "riec") continue;
    std::set<size_t> held;
    SignalsOf(p, who, 10000, 5, &held);
    known.push_back(std::move(held));
  }
  std::ostringstream out;
  EXPECT_EQ(WriteFamilySubjectsCsv(p, known, 3, out), 4u);
  std::istringstream in(out.str());
  std::vector<cli::LineProblem> problems;
  auto subjects = cli::ReadSubjectsCsv(in, problems);
  ASSERT_TRUE(subjects.ok()) << subjects.status();
  EXPECT_THAT(problems, ::testing::IsEmpty());
  std::map<std::string, size_t> members;
  for (const v1::MatchSubject& s : *subjects) ++members[s.subject().family_id()];
  ASSERT_EQ(members.size(), 4u);
  for (int i = 1; i <= 3; ++i) EXPECT_GE(members[StrCat("gezin-", i)], 3u) << i;
  EXPECT_GE(members["gezin-4"], 2u);
  EXPECT_THAT((*subjects)[0].label(), ::testing::StartsWith("gezin 1 "));
}

}  // namespace
}  // namespace schakel::demo
