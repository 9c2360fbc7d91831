// Gateway tag lookups with many tags in memory.
//
//   build-bench/bench/schakel_tag_index_bench --benchmark_min_time=2
//   SCHAKEL_BENCH_TAGS=10000000 (default) tags spread over 4 partners.
//
// The index is built through TagIndex::Apply in batches of 65,536, over a
// store that discards writes (storage cost is the exchange log benchmark's
// subject; here we measure the in-memory sets). Baseline, same run: one
// random 16-byte read from an array as large as the tag data (a cache miss).
// Memory: the resident-set growth while building the index.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <random>

#include "gateway/tag_index.h"

namespace schakel::gateway {
namespace {

class DiscardStore : public store::KvStore {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view) const override {
    return std::optional<std::string>();
  }
  absl::Status Write(const store::WriteBatch&, store::Durability) override { return absl::OkStatus(); }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(std::string_view, std::string_view,
                                                                        size_t) const override {
    return std::vector<std::pair<std::string, std::string>>();
  }
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(std::string_view,
                                                                          std::string_view) const override {
    return std::optional<std::pair<std::string, std::string>>();
  }
};

size_t TotalTags() {
  const char* env = std::getenv("SCHAKEL_BENCH_TAGS");
  return env ? std::strtoull(env, nullptr, 10) : 10'000'000;
}

long RssKiB() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::string RandomTag(std::mt19937_64& rng) {
  std::string t(16, '\0');
  const uint64_t a = rng(), b = rng();
  std::memcpy(t.data(), &a, 8);
  std::memcpy(t.data() + 8, &b, 8);
  return t;
}

const char* kPartners[] = {"politie", "gemeente", "zorg", "riec"};

struct Fixture {
  DiscardStore store;
  std::unique_ptr<TagIndex> index;
  std::vector<std::vector<TagBytes>> present{4};  // per partner, a sample of its published tags
  long rss_growth_kib = 0;
  size_t tags = 0;
  Fixture() {
    tags = TotalTags();
    index = TagIndex::Open(&store, {}).value();
    std::mt19937_64 rng(2026);
    const long before = RssKiB();
    const auto any = [](const std::string&) { return true; };
    for (size_t org_index = 0; org_index < 4; ++org_index) {
      const char* org = kPartners[org_index];
      uint64_t seq = 0;
      size_t remaining = tags / 4;
      while (remaining > 0) {
        v1::IndexBatch batch;
        batch.set_sequence(++seq);
        auto* c = batch.add_changes();
        c->set_purpose_id("riec-ondermijning");
        const size_t n = std::min<size_t>(remaining, 65536);
        for (size_t i = 0; i < n; ++i) {
          c->add_added(RandomTag(rng));
          if (i % 64 == 0) present[org_index].push_back(ToTag(c->added(static_cast<int>(i)), "t").value());
        }
        if (!index->Apply(org, batch, any).ok()) std::abort();
        remaining -= n;
      }
    }
    rss_growth_kib = RssKiB() - before;
  }
};

Fixture& Shared() {
  static Fixture f;
  return f;
}

// Lookups of 1024 tags at a time against one partner's set, cycling through
// a pool of 1 M queries per partner (so the sets are not cache-hot); half of
// the looked-up tags are present, half are not.
constexpr size_t kBatch = 1024;
constexpr size_t kPool = 1 << 20;

void BM_TagLookup(benchmark::State& state) {
  Fixture& f = Shared();
  std::mt19937_64 rng(7);
  std::vector<std::vector<TagBytes>> pools(4);
  for (size_t p = 0; p < 4; ++p) {
    for (size_t i = 0; i < kPool; ++i) {
      pools[p].push_back(i % 2 == 0 ? f.present[p][rng() % f.present[p].size()]
                                    : ToTag(RandomTag(rng), "t").value());
    }
  }
  size_t hits = 0, n = 0;
  for (auto _ : state) {
    const size_t p = n % 4;
    const size_t offset = (n / 4 * kBatch) % kPool;
    ++n;
    const auto r = f.index->Lookup(kPartners[p], "riec-ondermijning",
                                   std::span<const TagBytes>(pools[p].data() + offset, kBatch));
    for (bool b : r) hits += b;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
  state.counters["tags"] = static_cast<double>(f.tags);
  state.counters["rss_growth_MiB"] = static_cast<double>(f.rss_growth_kib) / 1024.0;
  state.counters["bytes_per_tag"] = static_cast<double>(f.rss_growth_kib) * 1024.0 / static_cast<double>(f.tags);
  state.counters["hit_share"] = static_cast<double>(hits) / static_cast<double>(state.iterations() * kBatch);
}
BENCHMARK(BM_TagLookup);

// Baseline: random 16-byte reads from an array as large as the tag data,
// with the same batch size and pool of indices (one cache miss per read).
void BM_BaselineRandomRead(benchmark::State& state) {
  const size_t n = TotalTags();
  std::vector<TagBytes> data(n);
  for (size_t i = 0; i < n; ++i) data[i][0] = static_cast<uint8_t>(i);
  std::mt19937_64 rng(9);
  std::vector<size_t> pool(kPool);
  for (auto& i : pool) i = rng() % n;
  uint64_t sum = 0;
  size_t offset = 0;
  for (auto _ : state) {
    for (size_t i = 0; i < kBatch; ++i) sum += data[pool[offset + i]][0];
    benchmark::DoNotOptimize(sum);
    offset = (offset + kBatch) % kPool;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * kBatch));
}
BENCHMARK(BM_BaselineRandomRead);

}  // namespace
}  // namespace schakel::gateway

BENCHMARK_MAIN();
