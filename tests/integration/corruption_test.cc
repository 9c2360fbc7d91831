// Issue 6, corruption at process level: a real gateway whose store files
// were damaged while it was stopped (a byte flipped or a file cut short at
// a random place in a write-ahead log, a table file, the MANIFEST or another
// file of its RocksDB directory). Each time one of three things must happen:
//   - schakel-gateway refuses to start: it exits non-zero with a message
//     saying why (and no identifier in it);
//   - it starts, and `schakel audit verify` (the real CLI, as the
//     supervisor's auditor) exits with 5 naming the first bad entry; every
//     entry before it reads back (`schakel audit log --json`) as written;
//   - it starts, the chain verifies, and every entry reads back exactly as
//     written (the damage hit nothing the log needs).
// Never a silent wrong answer: a log that verifies but is shorter or
// different fails the test. The same check in-process, with many more
// trials: LogCorruptionTest (tests/unit/gateway/log_corruption_test.cc,
// docs/faults.md).
//
// Short form (ctest, ./tests/run.sh): 8 damaged copies (4 under the
// sanitizers). Long form: ./tests/long.sh damage (100, the figure;
// SCHAKEL_STORE_DAMAGE_TRIALS sets it). SCHAKEL_STORE_DAMAGE_SEED=<seed>
// repeats a run (the seed is printed).
//
// ctest names: corruption.<Suite>.<Test>, label `fault`.
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <map>
#include <random>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "schakel/v1/log.pb.h"
#include "tests/integration/federation.h"
#include "tests/support/store_damage.h"
#include "tests/support/test_scale.h"

namespace schakel::integration {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using ::testing::HasSubstr;

// The people the exchanges ask about: none of their identifiers may appear
// in what the gateway says.
Person PersonFor(int i) {
  static const char* const kGivenNames[] = {"Anna", "Bram", "Cees", "Dirk", "Eva", "Fenna"};
  static const char* const kSurnames[] = {"de Vries", "Jansen", "van den Berg", "Bakker"};
  return Person{ValidBsn(100 + i), kGivenNames[i % 6], kSurnames[i % 4],
                StrCat("19", 60 + i, "-0", 1 + i % 9, "-1", i % 10), StrCat("50", 10 + i, "AB"),
                StrCat(1 + i)};
}
constexpr int kExchanges = 6;

// What happened to one damaged copy.
enum class Outcome { kRefusedAtStart, kNamedByVerify, kIntact };

// A RocksDB file's kind by its name.
std::string KindOf(const std::string& name) {
  if (name.ends_with(".log")) return "WAL";
  if (name.ends_with(".sst")) return "SST";
  if (name.starts_with("MANIFEST-")) return "MANIFEST";
  return "other";  // CURRENT, OPTIONS-*, IDENTITY, the store's durability record
}

class GatewayStoreDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    fed_ = Federation::StartForTest("schakel-corruption", FederationOptions{}, &root_, &error);
    ASSERT_NE(fed_, nullptr) << error;
    ASSERT_TRUE(fed_->AddUser("gemeente", "g.analist", {"analyst"}, &error)) << error;
    ASSERT_TRUE(fed_->AddUser("beheer", "b.auditor", {"auditor"}, &error)) << error;
  }

  void TearDown() override {
    fed_.reset();
    if (!HasFailure()) fs::remove_all(root_);
  }

  // Matches people [first, last) as gemeente's analyst: each is several log
  // entries (requested, evaluated, resolved).
  void Exchanges(int first, int last) {
    for (int i = first; i < last; ++i) {
      std::vector<std::string> args = {"match", "--purpose", kZorgPurpose};
      for (const std::string& f : PersonFlags(PersonFor(i))) args.push_back(f);
      const ProcessResult r = fed_->CliOnceTheGatewayAnswers("gemeente", "g.analist", args);
      ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    }
  }

  // Fails when `text` holds an identifier of the people asked about.
  static void ExpectNoIdentifier(const std::string& text, const std::string& where) {
    for (int i = 0; i < kExchanges; ++i) {
      const Person p = PersonFor(i);
      for (const std::string& id : {p.bsn, p.given_names, p.surname, p.birth_date, p.postcode}) {
        EXPECT_THAT(text, ::testing::Not(HasSubstr(id))) << where << " shows an identifier";
      }
    }
  }

  // Entries 1..count as the running gateway returns them through the CLI
  // (`schakel audit log --json`), each compared with what was written.
  void ExpectReadBackAsWritten(const std::vector<v1::LogEntry>& originals, size_t count) {
    if (count == 0) return;
    const ProcessResult r = fed_->Cli(
        "beheer", "b.auditor", {"audit", "log", "--json", "--from", "1", "--to", StrCat(count)});
    ASSERT_EQ(r.exit_code, 0) << "entries 1.." << count << " cannot be read: " << r.out << r.err;
    std::istringstream lines(r.out);
    std::string line;
    size_t read = 0;
    while (std::getline(lines, line)) {
      if (line.empty()) continue;
      v1::LogEntry entry;
      ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(line, &entry).ok()) << line;
      ASSERT_LT(read, count) << "more entries than asked for: " << line;
      EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(entry, originals[read]))
          << "entry " << read + 1 << " reads back other than it was written: a silent wrong "
          << "answer\nread:    " << entry.ShortDebugString()
          << "\nwritten: " << originals[read].ShortDebugString();
      ++read;
    }
    EXPECT_EQ(read, count) << "entries 1.." << count << " read back as " << read
                           << " entries: a silently shorter log";
  }

  // Starts the gateway on its (damaged) data directory and checks what it
  // and `schakel audit verify` say; stops it again.
  Outcome Check(const std::vector<v1::LogEntry>& originals) {
    const fs::path stderr_file = fed_->gateway_stderr();
    const size_t said_before = Federation::ReadText(stderr_file).size();
    std::string error;
    if (!fed_->StartGateway(&error)) {
      // Refused: it must have exited (not hung) non-zero, saying why.
      const int code = fed_->gateway().SignalAndWait(0, 5s);
      if (code == -1) fed_->gateway().Kill();
      const std::string said = Federation::ReadText(stderr_file).substr(said_before);
      EXPECT_NE(code, -1) << "the gateway neither started nor exited: " << said;
      EXPECT_NE(code, 0) << said;
      EXPECT_THAT(said, HasSubstr("schakel-gateway: error: cannot start")) << said;
      ExpectNoIdentifier(said, "the gateway's refusal");
      // The error and its first problem (the lines after it).
      const size_t error_at = said.find("error:");
      const size_t problem_end =
          error_at == std::string::npos ? said.size() : said.find('\n', said.find('\n', error_at) + 1);
      std::cout << "  refused at start (exit " << code << "): "
                << said.substr(error_at == std::string::npos ? 0 : error_at,
                               problem_end == std::string::npos ? std::string::npos
                                                                : problem_end - error_at)
                << "\n";
      return Outcome::kRefusedAtStart;
    }
    Outcome outcome = Outcome::kIntact;
    const ProcessResult verify =
        fed_->CliOnceTheGatewayAnswers("beheer", "b.auditor", {"audit", "verify"});
    std::smatch m;
    if (verify.exit_code == 0) {
      // Intact: then it must be the whole log, every entry as written.
      EXPECT_TRUE(std::regex_search(verify.out, m, std::regex("chain intact: ([0-9,]+) entries")))
          << verify.out;
      std::string digits = m.size() > 1 ? m[1].str() : "0";
      std::erase(digits, ',');
      EXPECT_GE(std::stoull(digits), originals.size())
          << "the log verifies but is shorter: a silent wrong answer\n" << verify.out;
      ExpectReadBackAsWritten(originals, originals.size());
      std::cout << "  started, " << verify.out.substr(0, verify.out.find('\n')) << "; entries 1.."
                << originals.size() << " compared with what was written\n";
    } else {
      // Named: exit 5 and "entry N: ..."; everything before N is as written.
      outcome = Outcome::kNamedByVerify;
      EXPECT_EQ(verify.exit_code, 5) << "audit verify failed without naming the first bad entry:\n"
                                     << verify.out << verify.err << "\ngateway:\n"
                                     << Federation::ReadText(stderr_file).substr(said_before);
      uint64_t named = 0;
      if (std::regex_search(verify.out, m, std::regex("entry ([0-9]+): "))) {
        named = std::stoull(m[1].str());
      }
      EXPECT_GE(named, 1u) << verify.out << verify.err;
      EXPECT_LE(named, originals.size()) << verify.out;
      ExpectNoIdentifier(verify.out + verify.err, "audit verify");
      if (named >= 1 && named <= originals.size()) ExpectReadBackAsWritten(originals, named - 1);
      std::cout << "  started, audit verify (exit " << verify.exit_code
                << "): " << verify.out.substr(0, verify.out.find('\n')) << "\n";
    }
    if (fed_->gateway().SignalAndWait(SIGTERM, 10s) == -1) fed_->gateway().Kill();
    return outcome;
  }

  fs::path root_;
  std::unique_ptr<Federation> fed_;
};

TEST_F(GatewayStoreDamageTest, RefusedAtStartOrNamedByAuditVerifyNeverSilent) {
  const int trials = schakel::testing::ScaledCount("SCHAKEL_STORE_DAMAGE_TRIALS", 8, 4);
  const uint64_t seed = schakel::testing::TestSeed("SCHAKEL_STORE_DAMAGE_SEED");
  std::cout << "GatewayStoreDamageTest: " << trials
            << " trials, SCHAKEL_STORE_DAMAGE_SEED=" << seed << "\n";
  std::mt19937_64 rng(seed);

  // Half the exchanges end up in a table file (the restarted gateway turns
  // the write-ahead log it recovers into one), the rest in the live WAL.
  ASSERT_NO_FATAL_FAILURE(Exchanges(0, kExchanges / 2));
  ASSERT_EQ(fed_->gateway().SignalAndWait(SIGTERM, 10s), 0);
  std::string error;
  ASSERT_TRUE(fed_->StartGateway(&error)) << error;
  ASSERT_NO_FATAL_FAILURE(Exchanges(kExchanges / 2, kExchanges));
  ASSERT_EQ(fed_->gateway().SignalAndWait(SIGTERM, 10s), 0);

  const fs::path data = fed_->gateway_data_dir();
  const fs::path pristine = root_ / "gateway-data-pristine";
  fs::copy(data, pristine, fs::copy_options::recursive);
  std::vector<v1::LogEntry> originals;
  {
    const fs::path scratch = root_ / "gateway-data-read";
    fs::copy(pristine, scratch, fs::copy_options::recursive);
    originals = Federation::ReadGatewayLogAt(scratch);
    fs::remove_all(scratch);
  }
  ASSERT_GE(originals.size(), static_cast<size_t>(kExchanges));
  for (size_t i = 0; i < originals.size(); ++i) ASSERT_EQ(originals[i].sequence(), i + 1);

  // The files to damage, by kind (RocksDB's own info log and lock file do
  // not hold data).
  std::map<std::string, std::vector<std::string>> files;
  std::string listing;
  for (const auto& f : fs::directory_iterator(pristine)) {
    const std::string name = f.path().filename().string();
    listing += StrCat(" ", name, "(", f.is_regular_file() ? f.file_size() : 0, ")");
    if (!f.is_regular_file() || f.file_size() == 0 || name.starts_with("LOG") || name == "LOCK") {
      continue;
    }
    files[KindOf(name)].push_back(name);
  }
  ASSERT_TRUE(files.contains("WAL") && files.contains("SST") && files.contains("MANIFEST"))
      << "the log should be in table files and a live WAL:" << listing;
  // Trials take the kinds in turn (the short form hits a WAL, a table file
  // and the MANIFEST), the file, place and damage at random.
  const std::vector<std::string> kinds = {"WAL", "SST", "MANIFEST", "other"};

  std::map<Outcome, int> outcomes;
  std::map<std::string, std::map<Outcome, int>> by_kind;
  for (int trial = 0; trial < trials && !HasFailure(); ++trial) {
    fs::remove_all(data);
    fs::copy(pristine, data, fs::copy_options::recursive);
    const std::string kind = kinds[trial % kinds.size()];
    const std::vector<std::string>& names = files.contains(kind) ? files[kind] : files["WAL"];
    const std::string name = names[rng() % names.size()];
    const std::string damage = schakel::testing::DamageFile(data / name, rng);
    ASSERT_NE(damage, "") << "cannot damage " << name;
    const std::string what = StrCat("seed ", seed, " trial ", trial, ": ", damage);
    std::cout << what << "\n";
    SCOPED_TRACE(what);
    const Outcome outcome = Check(originals);
    ++outcomes[outcome];
    ++by_kind[KindOf(name)][outcome];
  }

  auto count = [](const std::map<Outcome, int>& m, Outcome o) {
    auto it = m.find(o);
    return it == m.end() ? 0 : it->second;
  };
  std::cout << "refused at start " << count(outcomes, Outcome::kRefusedAtStart)
            << ", named by audit verify " << count(outcomes, Outcome::kNamedByVerify)
            << ", intact " << count(outcomes, Outcome::kIntact) << "\n";
  for (const auto& [kind, counts] : by_kind) {
    std::cout << "  " << kind << ": refused " << count(counts, Outcome::kRefusedAtStart)
              << ", named " << count(counts, Outcome::kNamedByVerify) << ", intact "
              << count(counts, Outcome::kIntact) << "\n";
  }
}

}  // namespace
}  // namespace schakel::integration
