// Import of many synthetic signals (issue 3): records/s of the real import
// path against the crypto work alone, measured in the same run.
//
//   build-bench/bench/schakel_import_bench                  # 1,000,000 signals
//   SCHAKEL_BENCH_SIGNALS=200000 build-bench/bench/schakel_import_bench
//   SCHAKEL_BENCH_DIR chooses where the RocksDB store goes (default: the
//   system's temporary directory).
//
// The signals are generated deterministically (seeded): Dutch given names
// and surnames, a third with tussenvoegsels (some registered separately as
// surname_prefix), some double surnames; valid BSNs (elfproef) for most;
// dates of birth in two formats; postcodes and house numbers (some with a
// suffix) shared within households of up to 3 persons; a second signal
// about an earlier person now and then; categories of a local policy that
// answers 2 purposes; registration dates within each category's retention;
// a contact and, for some, a line of free text. Rows go in ImportRows of
// 10,000 (the CLI's batch size).
//
// Benchmarks, each run once over the same signals (register order matters:
// the import's ratio uses the crypto figure of the same run):
//   CryptoAlone  the baseline: for exactly the match keys the signals yield,
//                one PurposeKey::TagFor per key per purpose matching the
//                signal's category (what the import evaluates), on kThreads
//                threads, split per batch as the import splits it.
//   ValidateOnly SignalStore::Validate per signal (normalisation and match
//                key derivation), same threads: the validation share.
//   PrepareOnly  SignalStore::Prepare per signal (validate, derive, tag), same
//                threads, nothing stored: validation + crypto without storage.
//   Import       SignalImport Begin / AddRows / Finish(commit) with
//                threads = kThreads into a RocksDbStore in a temporary
//                directory (synced chunk commits, as in production);
//                ratio = import time / CryptoAlone time; store size after
//                the import (store closed) and after a RocksDB flush and full
//                compaction (RocksDbStore has no such call, so the benchmark
//                opens the closed directory with RocksDB itself).
// CryptoAlone and Import also report cpu_s, the CPU seconds of all threads
// (RocksDB's background threads included): on a shared machine the
// wall-clock ratio depends on the load, the CPU ratio much less. Import's
// add_rows_s is the validation phase (AddRows), finish_s / finish_cpu_s the
// tagging and commit (Finish: kThreads threads tag while one of them
// commits the chunks in order).
#include <benchmark/benchmark.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>
#include <unordered_set>

#include "common/strings.h"
#include "crypto/oprf.h"
#include "demo/synthetic.h"
#include "nodes/import.h"
#include "store/memory_store.h"
#include "store/rocksdb_store.h"

namespace schakel::nodes {
namespace {

using demo::kGivenNames;
using demo::kSurnames;
using demo::kTussenvoegsels;
using demo::RandomBsn;
using demo::RandomPostcode;

constexpr int kThreads = 2;
constexpr size_t kBatchRows = 10'000;  // cli/import_command.h kImportBatchRows

constexpr char kPolicy[] = R"({
  "version": "bench",
  "categories": [
    {"category": "huiselijk-geweld", "domain": "care"},
    {"category": "schuldenproblematiek", "domain": "social", "retention": "365d"},
    {"category": "overlast", "domain": "housing", "retention": "180d"},
    {"category": "ondermijning", "domain": "safety", "retention": "730d"}
  ],
  "purposes": [
    {"purpose_id": "zvh-gezinsaanpak",
     "matchable_categories": ["huiselijk-geweld", "schuldenproblematiek", "overlast"]},
    {"purpose_id": "riec-ondermijning", "matchable_categories": ["overlast", "ondermijning"]}
  ],
  "max_persons_per_address": 3,
  "excluded_addresses": [
    {"postcode": "1011 AB", "house_number": 1},
    {"postcode": "1011ac", "house_number": "12-A"}
  ]
})";
const char* const kPurposes[] = {"zvh-gezinsaanpak", "riec-ondermijning"};

// Category, its retention in days, and its share of the signals (percent).
struct CategoryMix {
  const char* category;
  int retention_days;
  int percent;
};
constexpr CategoryMix kCategories[] = {
    {"huiselijk-geweld", 730, 35}, {"schuldenproblematiek", 365, 30},
    {"overlast", 180, 25},         {"ondermijning", 730, 10}};

const char* const kUnits[] = {"Wijkteam Noord", "Wijkteam Centrum", "Jeugdzorg Oost",
                              "Schuldhulpverlening", "Team Veiligheid"};
const char* const kFreeText[] = {
    "Melding van buren over geluidsoverlast in de avonduren; contact gezocht met de bewoner.",
    "Betalingsachterstand bij de woningcorporatie; aanmelding schuldhulp loopt.",
    "Zorgen over de thuissituatie gemeld door de school; huisbezoek gepland.",
    "Meerdere meldingen van verdachte activiteiten rond de woning.",
    "Gezin is in beeld bij het wijkteam; afspraak met ouders volgt."};

struct Person {
  std::string bsn;  // empty: unknown
  std::string given_names, surname, surname_prefix, birth_date;
  bool has_address = false;
  std::string postcode, suffix;
  uint32_t house_number = 0;
  std::string family_id;
  v1::Relation relation = v1::RELATION_UNSPECIFIED;
};

struct Generator {
  std::mt19937_64 rng{20260301};
  std::unordered_set<uint64_t> used_bsns;
  std::vector<Person> persons;
  std::vector<Person> household;  // persons of the current household not yet used
  uint64_t households = 0;

  size_t Pick(size_t n) { return static_cast<size_t>(rng() % n); }
  bool Chance(int percent) { return static_cast<int>(rng() % 100) < percent; }

  std::string Surname() {
    std::string core = kSurnames[Pick(std::size(kSurnames))];
    if (Chance(8)) core = StrCat(core, "-", kSurnames[Pick(std::size(kSurnames))]);
    return core;
  }

  void NewHousehold() {
    ++households;
    const int size = Chance(60) ? 1 : Chance(60) ? 2 : 3;
    const std::string surname = Surname();
    const bool prefixed = Chance(30);
    const std::string prefix = prefixed ? kTussenvoegsels[Pick(std::size(kTussenvoegsels))] : "";
    const bool has_address = Chance(80);
    const std::string postcode = RandomPostcode(rng);
    const uint32_t number = 1 + static_cast<uint32_t>(Pick(Chance(90) ? 200 : 2000));
    static const char* const kSuffixes[] = {"A", "B", "-2", "bis", "hs", "III"};
    const std::string suffix = Chance(12) ? kSuffixes[Pick(std::size(kSuffixes))] : "";
    for (int i = 0; i < size; ++i) {
      Person p;
      p.bsn = Chance(85) ? RandomBsn(rng, used_bsns) : "";
      p.given_names = kGivenNames[Pick(std::size(kGivenNames))];
      p.surname = i > 0 && Chance(25) ? Surname() : surname;  // not every member shares it
      if (prefixed && p.surname == surname) {
        if (Chance(40)) {
          p.surname_prefix = prefix;  // registered separately
        } else {
          p.surname = StrCat(prefix, " ", p.surname);
        }
      }
      const int year = i == 0 ? 1945 + static_cast<int>(Pick(60)) : 1945 + static_cast<int>(Pick(78));
      const int month = 1 + static_cast<int>(Pick(12)), day = 1 + static_cast<int>(Pick(28));
      const bool name_dob = p.bsn.empty() || Chance(95);
      if (name_dob) {
        char date[16];
        if (Chance(70)) {
          std::snprintf(date, sizeof date, "%04d-%02d-%02d", year, month, day);
        } else {
          std::snprintf(date, sizeof date, "%d-%d-%04d", day, month, year);
        }
        p.birth_date = date;
      } else {
        p.given_names.clear();
        p.surname.clear();
        p.surname_prefix.clear();
      }
      p.has_address = has_address || (p.bsn.empty() && p.birth_date.empty());
      p.postcode = postcode;
      p.house_number = number;
      p.suffix = suffix;
      if (size > 1) {
        p.family_id = StrCat("gezin-", households);
        p.relation = i == 0 ? v1::RELATION_UNSPECIFIED : v1::RELATION_CHILD;
      }
      household.push_back(std::move(p));
    }
  }

  const Person& NextPerson() {
    if (!persons.empty() && Chance(10)) return persons[Pick(persons.size())];  // another signal
    if (household.empty()) NewHousehold();
    persons.push_back(std::move(household.back()));
    household.pop_back();
    return persons.back();
  }

  v1::ImportRow Row(uint64_t index, absl::Time now) {
    v1::ImportRow row;
    row.set_line(index + 2);  // after a header line
    v1::Signal* s = row.mutable_signal();
    s->set_signal_id(StrCat("sig-", 10'000'000 + index));
    const Person& p = NextPerson();
    v1::Subject* subject = s->mutable_subject();
    subject->set_bsn(p.bsn);
    subject->set_given_names(p.given_names);
    subject->set_surname(p.surname);
    subject->set_surname_prefix(p.surname_prefix);
    subject->set_birth_date(p.birth_date);
    if (p.has_address) {
      v1::Address* a = subject->mutable_address();
      a->set_postcode(p.postcode);
      a->set_house_number(p.house_number);
      a->set_house_number_suffix(p.suffix);
    }
    subject->set_family_id(p.family_id);
    subject->set_relation(p.relation);
    int roll = static_cast<int>(Pick(100));
    const CategoryMix* category = &kCategories[0];
    for (const CategoryMix& c : kCategories) {
      if (roll < c.percent) {
        category = &c;
        break;
      }
      roll -= c.percent;
    }
    s->set_category(category->category);
    const absl::Time registered =
        now - absl::Hours(24 * (2 + static_cast<int64_t>(Pick(
                                        static_cast<size_t>(category->retention_days) - 4))));
    s->mutable_registered_at()->set_seconds(absl::ToUnixSeconds(registered));
    s->mutable_contact()->set_name(StrCat(std::string(1, "ABCDEFGHJKLMNPRSTW"[Pick(18)]), ". ",
                                          kSurnames[Pick(std::size(kSurnames))]));
    s->mutable_contact()->set_unit(kUnits[Pick(std::size(kUnits))]);
    if (Chance(40)) s->set_free_text(kFreeText[Pick(std::size(kFreeText))]);
    return row;
  }
};

size_t SignalCount() {
  const char* env = std::getenv("SCHAKEL_BENCH_SIGNALS");
  return env ? std::strtoull(env, nullptr, 10) : 1'000'000;
}

template <typename T>
T Check(absl::StatusOr<T> value, const char* what) {
  if (!value.ok()) {
    std::fprintf(stderr, "%s: %s\n", what, std::string(value.status().message()).c_str());
    std::abort();
  }
  return *std::move(value);
}

// The signals and, per signal, the OPRF inputs of its match keys and the
// purposes its category matches: the crypto work the import does.
struct Data {
  absl::Time now = absl::Now();
  std::shared_ptr<const LocalPolicy> policy;
  crypto::oprf::PoprfServer server{crypto::oprf::PrivateKey::Generate()};
  NodeSecret secret = NodeSecret::Random();
  std::vector<v1::ImportRows> batches;
  size_t signals = 0;
  std::vector<std::string> inputs;     // OPRF inputs, signal after signal
  std::vector<size_t> input_begin;     // per signal, then the end
  std::vector<uint8_t> purpose_mask;   // per signal: bit i for kPurposes[i]
  uint64_t evaluations = 0;

  Data() {
    policy = Check(ParseLocalPolicy(kPolicy), "policy");
    signals = SignalCount();
    Generator generator;
    for (size_t i = 0; i < signals; ++i) {
      if (i % kBatchRows == 0) batches.emplace_back();
      *batches.back().add_rows() = generator.Row(i, now);
    }
    for (const v1::ImportRows& batch : batches) {
      for (const v1::ImportRow& row : batch.rows()) {
        input_begin.push_back(inputs.size());
        const auto keys = Check(SignalStore::MatchKeysOf(row.signal().subject(), now), "keys");
        for (const crypto::MatchKey& k : keys) inputs.push_back(k.OprfInput());
        uint8_t mask = 0;
        for (const std::string& purpose : policy->PurposesMatching(row.signal().category())) {
          for (size_t p = 0; p < std::size(kPurposes); ++p) {
            if (purpose == kPurposes[p]) mask |= static_cast<uint8_t>(1u << p);
          }
          evaluations += keys.size();
        }
        purpose_mask.push_back(mask);
      }
    }
    input_begin.push_back(inputs.size());
  }

  std::map<std::string, crypto::PurposeKey> Keys() const {
    std::map<std::string, crypto::PurposeKey> keys;
    for (const char* purpose : kPurposes) {
      keys.emplace(purpose, Check(crypto::PurposeKey::Create(server, purpose), "purpose key"));
    }
    return keys;
  }
};

Data& Shared() {
  static Data d;
  return d;
}

// Runs fn(first signal, end signal) over every batch, each batch split over
// kThreads threads in contiguous parts, as SignalImport::AddRows splits it.
template <typename Fn>
void OverBatches(const Data& d, Fn fn) {
  size_t first = 0;
  for (const v1::ImportRows& batch : d.batches) {
    const size_t n = static_cast<size_t>(batch.rows_size());
    const size_t per = (n + kThreads - 1) / kThreads;
    std::vector<std::thread> workers;
    for (size_t t = 1; t < kThreads; ++t) {
      workers.emplace_back(fn, first + std::min(n, t * per), first + std::min(n, (t + 1) * per));
    }
    fn(first, first + std::min(n, per));
    for (std::thread& w : workers) w.join();
    first += n;
  }
}

const v1::Signal& SignalAt(const Data& d, size_t i) {
  return d.batches[i / kBatchRows].rows(static_cast<int>(i % kBatchRows)).signal();
}

using Clock = std::chrono::steady_clock;
double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// CPU seconds of the whole process (every thread) so far: load-independent,
// unlike wall time on a shared machine.
double ProcessCpuSeconds() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  const auto sec = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return sec(usage.ru_utime) + sec(usage.ru_stime);
}

double LoadAverage() {
  std::ifstream in("/proc/loadavg");
  double one = 0;
  in >> one;
  return one;
}

double crypto_seconds = 0;      // CryptoAlone's, for Import's ratio
double crypto_cpu_seconds = 0;  // the same in CPU seconds of all threads

void BM_CryptoAlone(benchmark::State& state) {
  const Data& d = Shared();
  const std::map<std::string, crypto::PurposeKey> keys = d.Keys();
  const crypto::PurposeKey* by_index[] = {&keys.at(kPurposes[0]), &keys.at(kPurposes[1])};
  std::atomic<uint64_t> checksum{0};
  for (auto _ : state) {
    const auto start = Clock::now();
    const double cpu_start = ProcessCpuSeconds();
    OverBatches(d, [&](size_t begin, size_t end) {
      uint64_t sum = 0;
      for (size_t i = begin; i < end; ++i) {
        for (size_t p = 0; p < std::size(kPurposes); ++p) {
          if ((d.purpose_mask[i] & (1u << p)) == 0) continue;
          for (size_t k = d.input_begin[i]; k < d.input_begin[i + 1]; ++k) {
            const crypto::Tag tag = Check(by_index[p]->TagFor(crypto::AsBytes(d.inputs[k])), "tag");
            sum += tag[0];
          }
        }
      }
      checksum += sum;
    });
    crypto_seconds = Seconds(start);
    crypto_cpu_seconds = ProcessCpuSeconds() - cpu_start;
    state.SetIterationTime(crypto_seconds);
  }
  benchmark::DoNotOptimize(checksum.load());
  state.counters["signals"] = static_cast<double>(d.signals);
  state.counters["records_per_s"] = static_cast<double>(d.signals) / crypto_seconds;
  state.counters["evaluations"] = static_cast<double>(d.evaluations);
  state.counters["keys_per_signal"] =
      static_cast<double>(d.inputs.size()) / static_cast<double>(d.signals);
  state.counters["evals_per_signal"] =
      static_cast<double>(d.evaluations) / static_cast<double>(d.signals);
  state.counters["cpu_s"] = crypto_cpu_seconds;
  state.counters["us_per_eval_per_thread"] = crypto_seconds * 1e6 * kThreads /
                                             static_cast<double>(d.evaluations);
}
BENCHMARK(BM_CryptoAlone)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

// A SignalStore over a MemoryStore, for the benchmarks that store nothing.
struct Unstored {
  store::MemoryStore kv;
  std::unique_ptr<SignalStore> signals;
  explicit Unstored(const Data& d) {
    signals = Check(SignalStore::Create(&kv, d.policy, d.Keys(), d.secret.Clone()), "store");
  }
};

void BM_ValidateOnly(benchmark::State& state) {
  const Data& d = Shared();
  Unstored u(d);
  std::atomic<size_t> problems{0};
  double seconds = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    OverBatches(d, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        v1::Signal copy = SignalAt(d, i);
        problems += u.signals->Validate(copy, d.now).size();
      }
    });
    seconds = Seconds(start);
    state.SetIterationTime(seconds);
  }
  if (problems != 0) std::abort();  // the generator makes valid signals only
  state.counters["records_per_s"] = static_cast<double>(d.signals) / seconds;
}
BENCHMARK(BM_ValidateOnly)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

void BM_PrepareOnly(benchmark::State& state) {
  const Data& d = Shared();
  Unstored u(d);
  double seconds = 0;
  for (auto _ : state) {
    const auto start = Clock::now();
    OverBatches(d, [&](size_t begin, size_t end) {
      for (size_t i = begin; i < end; ++i) {
        std::vector<SignalProblem> problems;
        benchmark::DoNotOptimize(Check(u.signals->Prepare(SignalAt(d, i), d.now, "bench", &problems),
                                       "prepare"));
      }
    });
    seconds = Seconds(start);
    state.SetIterationTime(seconds);
  }
  state.counters["records_per_s"] = static_cast<double>(d.signals) / seconds;
  if (crypto_seconds > 0) state.counters["ratio_to_crypto"] = seconds / crypto_seconds;
}
BENCHMARK(BM_PrepareOnly)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

std::string TempDir() {
  const char* base = std::getenv("SCHAKEL_BENCH_DIR");
  std::string tmpl =
      (std::filesystem::path(base ? base : std::filesystem::temp_directory_path().string()) /
       "schakel-import-bench-XXXXXX")
          .string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  return tmpl;
}

// Bytes of the files under `dir` (apparent sizes, as du --apparent-size).
uint64_t DirectoryBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

void FlushAndCompact(const std::string& dir) {
  rocksdb::Options options;
  options.IncreaseParallelism(kThreads);
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) std::abort();
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  if (!db->Flush(rocksdb::FlushOptions()).ok() ||
      !db->CompactRange(compact, nullptr, nullptr).ok() || !db->Close().ok()) {
    std::abort();
  }
}

void BM_Import(benchmark::State& state) {
  const Data& d = Shared();
  const double load_before = LoadAverage();
  double seconds = 0, add_seconds = 0, finish_seconds = 0, cpu_seconds = 0, finish_cpu = 0;
  uint64_t closed_bytes = 0, compacted_bytes = 0, tags_queued = 0;
  for (auto _ : state) {
    const std::string dir = TempDir();
    const std::string db_dir = dir + "/db";
    {
      auto kv = Check(store::RocksDbStore::Open(db_dir), "open");
      auto log = Check(LocalLog::Open(kv.get()), "log");
      auto signals = Check(SignalStore::Create(kv.get(), d.policy, d.Keys(), d.secret.Clone(),
                                               log.get()),
                           "signal store");
      v1::ImportHeader header;
      header.set_source_name("signalen.csv");
      header.set_format(v1::IMPORT_FORMAT_CSV);
      ImportOptions options;
      options.threads = kThreads;
      const auto start = Clock::now();
      const double cpu_start = ProcessCpuSeconds();
      auto import = Check(SignalImport::Begin(signals.get(), kv.get(), log.get(), header,
                                              {"importer", v1::ROLE_PROFESSIONAL, ""}, d.now,
                                              options),
                          "begin");
      for (const v1::ImportRows& rows : d.batches) {
        if (absl::Status s = import->AddRows(rows); !s.ok()) {
          std::fprintf(stderr, "rows: %s\n", std::string(s.message()).c_str());
          std::abort();
        }
      }
      add_seconds = Seconds(start);
      const auto finish_start = Clock::now();
      const double finish_cpu_start = ProcessCpuSeconds();
      const v1::ImportResult result = Check(import->Finish(true), "finish");
      finish_seconds = Seconds(finish_start);
      seconds = Seconds(start);
      finish_cpu = ProcessCpuSeconds() - finish_cpu_start;
      cpu_seconds = ProcessCpuSeconds() - cpu_start;
      if (!result.committed() || result.signals_stored() != d.signals) {
        std::fprintf(stderr, "import not committed: %llu problems\n",
                     static_cast<unsigned long long>(result.problem_count()));
        std::abort();
      }
      tags_queued = result.tags_queued();
      state.SetIterationTime(seconds);
    }
    closed_bytes = DirectoryBytes(db_dir);
    FlushAndCompact(db_dir);
    compacted_bytes = DirectoryBytes(db_dir);
    std::filesystem::remove_all(dir);
  }
  const double n = static_cast<double>(d.signals);
  state.counters["signals"] = n;
  state.counters["records_per_s"] = n / seconds;
  if (crypto_seconds > 0) state.counters["ratio_to_crypto"] = seconds / crypto_seconds;
  state.counters["cpu_s"] = cpu_seconds;
  if (crypto_cpu_seconds > 0) state.counters["cpu_ratio_to_crypto"] = cpu_seconds / crypto_cpu_seconds;
  state.counters["finish_cpu_s"] = finish_cpu;
  state.counters["add_rows_s"] = add_seconds;
  state.counters["finish_s"] = finish_seconds;
  state.counters["tags_queued"] = static_cast<double>(tags_queued);
  state.counters["bytes_per_signal_closed"] = static_cast<double>(closed_bytes) / n;
  state.counters["bytes_per_signal_compacted"] = static_cast<double>(compacted_bytes) / n;
  state.counters["load_1m_before"] = load_before;
  state.counters["load_1m_after"] = LoadAverage();
}
BENCHMARK(BM_Import)->Iterations(1)->UseManualTime()->Unit(benchmark::kSecond);

}  // namespace
}  // namespace schakel::nodes

BENCHMARK_MAIN();
