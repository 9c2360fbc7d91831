// schakel-demo-data: the demo federation's synthetic source files.
//
//   schakel-demo-data --out var/demo/data [--signals 100000] [--seed 20261124]
//                     [--today 2026-11-24] [--families 3]
//
// Writes, each whole or not at all (a temporary file renamed):
//   OUT/<org>.csv     the signals of politie, gemeente, zorg and riec, as
//                     `schakel signals import` reads them (docs/cli.md)
//   OUT/families.csv  families for `schakel match --subjects`: some known to
//                     some partners, one known to none
// Every value is synthetic (demo/synthetic.h). Exit 0 done, 1 a file could
// not be written, 2 usage error.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "absl/time/clock.h"
#include "common/strings.h"
#include "demo/synthetic.h"

namespace {

namespace fs = std::filesystem;

template <typename Fn>
bool WriteWhole(const fs::path& path, Fn fill) {
  const fs::path temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return false;
    fill(out);
    out.flush();
    if (!out) return false;
  }
  std::error_code ec;
  fs::rename(temporary, path, ec);
  return !ec;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace schakel;
  CLI::App app{"The demo federation's synthetic source files (nothing in them is real data)",
               "schakel-demo-data"};
  std::string out_dir;
  size_t signals = 100'000;
  uint64_t seed = 20261124;
  std::string today_text;
  size_t families = 3;
  app.add_option("--out", out_dir, "directory to write <org>.csv and families.csv to")->required();
  app.add_option("--signals", signals, "signals per organisation")->check(CLI::Range(1, 10'000'000));
  app.add_option("--seed", seed, "seed of the generator: the same seed, the same files");
  app.add_option("--today", today_text, "YYYY-MM-DD the registration dates count back from (default: today)");
  app.add_option("--families", families, "families in families.csv (plus one known to no one)")
      ->check(CLI::Range(1, 100));
  app.footer("Example: schakel-demo-data --out var/demo/data --signals 100000");
  CLI11_PARSE(app, argc, argv);

  absl::Time today = absl::Now();
  if (!today_text.empty()) {
    std::string error;
    if (!absl::ParseTime("%Y-%m-%d", today_text, absl::UTCTimeZone(), &today, &error)) {
      std::cerr << "schakel-demo-data: --today: not a date (YYYY-MM-DD)\n";
      return 2;
    }
  }
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) {
    std::cerr << "schakel-demo-data: cannot create " << out_dir << ": " << ec.message() << "\n";
    return 1;
  }

  // Twice as many people as one partner has signals: partners know some of
  // the same people, and not everyone.
  const demo::Population population = demo::Population::Generate(seed, 2 * signals);
  std::vector<std::set<size_t>> known;
  for (const demo::Registration& who : demo::DemoRegistrations()) {
    const fs::path path = fs::path(out_dir) / StrCat(who.org_id, ".csv");
    std::set<size_t> held;
    if (!WriteWhole(path, [&](std::ostream& out) {
          held = demo::WriteSignalsCsv(population, who, signals, seed, today, out);
        })) {
      std::cerr << "schakel-demo-data: cannot write " << path.string() << "\n";
      return 1;
    }
    std::cout << path.string() << ": " << signals << " signals about " << held.size()
              << " people\n";
    // The RIEC asks; its own signals do not count as a partner's.
    if (who.org_id != "riec") known.push_back(std::move(held));
  }
  const fs::path path = fs::path(out_dir) / "families.csv";
  size_t written = 0;
  if (!WriteWhole(path, [&](std::ostream& out) {
        written = demo::WriteFamilySubjectsCsv(population, known, families, out);
      })) {
    std::cerr << "schakel-demo-data: cannot write " << path.string() << "\n";
    return 1;
  }
  std::cout << path.string() << ": " << written << " families\n";
  return 0;
}
