// schakel-load: load on a running federation (load/load_client.h), issue 6.
//
//   schakel-load single --config riec/cli-ana.json --purpose P --rate 100 --clients 16 --seconds 30
//   schakel-load family --config ... --purpose P --rate 10 --seconds 30
//   schakel-load batch  --config ... --purpose P --subjects 10000 --calls 3 --crypto-baseline
//
// The target is a node's local Matching API (the user path; the `schakel`
// client flags --config/--endpoint/--ca/--server-name/--credential-file/
// --role) or, with --gateway, the gateway directly as an organisation
// (--cert/--key/--ca). Prints a table, or JSON with --json. Exit code 0 when
// every call succeeded with every partner answering, 1 when some call
// failed or was partial, 2 on a usage or setup error.
#include <sys/resource.h>

#include <csignal>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/table.h"
#include "common/strings.h"
#include "load/crypto_baseline.h"
#include "load/load_client.h"
#include "load/metrics_scrape.h"

namespace {

using schakel::StrCat;
namespace load = schakel::load;

std::atomic<bool> g_stop{false};

void OnSignal(int) { g_stop = true; }

// CPU time of this process so far (user + system), ms.
double ProcessCpuMs() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e3 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e3;
}

double Ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

std::string Fixed(double value, int digits) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(digits) << value;
  return out.str();
}

struct Flags {
  // Target.
  schakel::cli::ConfigOverrides node;
  std::string gateway, cert, key, user = "load", role;
  // Workload.
  std::string purpose, case_id;
  std::vector<std::string> partners;
  uint64_t seed = 20261124;
  size_t population = 20'000;
  size_t subjects = 10'000;
  bool bsn_only = false;
  // Run.
  double rate = 0;
  int clients = 0;
  double seconds = 0;
  uint64_t calls = 0;
  double timeout_s = 0;
  // Output.
  bool json = false, json_calls = false;
  std::string json_out;
  bool crypto_baseline = false;
  int baseline_partners = 0;
  int baseline_repeats = 0;
  int node_threads = 2, requester_threads = 2;
  std::vector<std::string> metrics;  // name=host:port
};

void AddCommon(CLI::App& app, Flags& f, load::Mode mode) {
  const std::string target = "Target: a node's local API (default) or the gateway";
  app.add_option("--config", f.node.config_file, "client config file, as `schakel --config`")
      ->group(target);
  app.add_option("--endpoint", f.node.endpoint, "the node's local API, host:port")->group(target);
  app.add_option("--ca", f.node.ca, "CA certificate(s) of the node's (or gateway's) listener")
      ->group(target);
  app.add_option("--server-name", f.node.server_name,
                 "name the server's certificate carries, when not the endpoint's host")
      ->group(target);
  app.add_option("--credential-file", f.node.credential_file, "the user's credential file")
      ->group(target);
  app.add_option("--role", f.role,
                 "role to act in (node: as `schakel --role`, default the config's; gateway: the "
                 "actor's role, default analyst)")
      ->group(target);
  app.add_option("--gateway", f.gateway,
                 "call the gateway at host:port directly as an organisation (OpenExchange only)")
      ->group(target);
  app.add_option("--cert", f.cert, "with --gateway: the organisation's certificate")->group(target);
  app.add_option("--key", f.key, "with --gateway: its private key")->group(target);
  app.add_option("--user", f.user, "with --gateway: the actor's user id")->group(target);

  const std::string work = "Requests";
  app.add_option("--purpose", f.purpose, "purpose id")->required()->group(work);
  app.add_option("--case", f.case_id, "case id, when the purpose needs one")->group(work);
  app.add_option("--partners", f.partners, "partners to ask, comma-separated (default: all)")
      ->delimiter(',')
      ->group(work);
  app.add_option("--seed", f.seed, "seed of the synthetic population (schakel-demo-data --seed)")
      ->group(work);
  app.add_option("--population", f.population, "people in the synthetic population")->group(work);
  app.add_flag("--bsn-only", f.bsn_only, "send only the BSN key of each person")->group(work);
  if (mode == load::Mode::kBatch) {
    app.add_option("--subjects", f.subjects, "subjects per batch (1 to 10,000)")
        ->check(CLI::Range(1, 10'000))
        ->group(work);
  }

  const std::string run = "Run";
  const bool steady = mode != load::Mode::kBatch;
  app.add_option("--rate", f.rate,
                 steady ? "calls per second, open loop (default 100 single, 10 family)"
                        : "calls per second (default 0: one after the other)")
      ->check(CLI::NonNegativeNumber)
      ->group(run);
  app.add_option("--clients", f.clients, "concurrent clients (default 16; batch 1)")
      ->check(CLI::Range(1, 1024))
      ->group(run);
  app.add_option("--seconds", f.seconds, "send calls for this long (default 10; batch: --calls)")
      ->check(CLI::NonNegativeNumber)
      ->group(run);
  app.add_option("--calls", f.calls, "at most this many calls (batch default 1)")->group(run);
  app.add_option("--timeout", f.timeout_s,
                 "each call's deadline in seconds (default 30; batch 300)")
      ->check(CLI::PositiveNumber)
      ->group(run);

  const std::string output = "Output";
  app.add_flag("--json", f.json, "print the report as JSON")->group(output);
  app.add_flag("--json-calls", f.json_calls, "with --json: every call's outcome too")
      ->group(output);
  app.add_option("--json-out", f.json_out, "also write the JSON report to this file")
      ->group(output);
  app.add_flag("--crypto-baseline", f.crypto_baseline,
               "also run the first request's crypto in-process (HashToGroup, Blind, "
               "BlindEvaluate with proof per partner, VerifyProof, Finalize) and print the ratio")
      ->group(output);
  app.add_option("--baseline-partners", f.baseline_partners,
                 "partners in the crypto baseline (default: as many as answered the run)")
      ->group(output);
  app.add_option("--baseline-repeats", f.baseline_repeats,
                 "runs of the baseline, each phase's median shown (default: 1 batch, 101 else)")
      ->group(output);
  app.add_option("--node-threads", f.node_threads, "the nodes' config threads (baseline)")
      ->group(output);
  app.add_option("--requester-threads", f.requester_threads,
                 "the requesting node's threads (baseline)")
      ->group(output);
  app.add_option("--metrics", f.metrics,
                 "NAME=host:port of a Prometheus endpoint (gateway or node) to read before and "
                 "after the run, for the time spent in log writes and partner calls; repeatable")
      ->group(output);
}

int RunMode(load::Mode mode, Flags f) {
  // Defaults per mode.
  const bool batch = mode == load::Mode::kBatch;
  if (f.rate == 0 && !batch) f.rate = mode == load::Mode::kSingle ? 100 : 10;
  if (f.clients == 0) f.clients = batch ? 1 : 16;
  if (f.seconds == 0 && f.calls == 0) {
    if (batch) {
      f.calls = 1;
    } else {
      f.seconds = 10;
    }
  }
  if (f.timeout_s == 0) f.timeout_s = batch ? 300 : 30;

  std::unique_ptr<load::MatchTarget> target;
  if (!f.gateway.empty()) {
    if (f.cert.empty() || f.key.empty() || f.node.ca.empty()) {
      std::cerr << "schakel-load: --gateway needs --cert, --key and --ca\n";
      return 2;
    }
    const auto role = schakel::v1::Role_descriptor()->FindValueByName("ROLE_" + [&] {
      std::string r = f.role.empty() ? std::string("analyst") : f.role;
      for (char& c : r) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      return r;
    }());
    if (role == nullptr) {
      std::cerr << "schakel-load: --role " << f.role << " is not a role\n";
      return 2;
    }
    auto made = load::GatewayTarget(
        {.endpoint = f.gateway,
         .server_name = f.node.server_name,
         .tls = {.ca_certificates = f.node.ca, .certificate_chain = f.cert, .private_key = f.key},
         .user_id = f.user,
         .role = static_cast<schakel::v1::Role>(role->number())});
    if (!made.ok()) {
      std::cerr << "schakel-load: " << made.status().message() << "\n";
      return 2;
    }
    target = *std::move(made);
  } else {
    schakel::cli::ConfigOverrides client = f.node;
    if (!f.role.empty()) client.role = f.role;
    auto made = load::NodeTarget(client);
    if (!made.ok()) {
      std::cerr << "schakel-load: " << made.status().message()
                << "\n(give --config FILE as for `schakel`, or --endpoint, --ca and "
                   "--credential-file)\n";
      return 2;
    }
    target = *std::move(made);
  }

  load::Workload workload({.mode = mode,
                           .purpose_id = f.purpose,
                           .case_id = f.case_id,
                           .partners = f.partners,
                           .batch_subjects = f.subjects,
                           .seed = f.seed,
                           .population = f.population,
                           .bsn_only = f.bsn_only});

  std::map<std::string, load::MetricsSnapshot> before;
  for (const std::string& spec : f.metrics) {
    auto snapshot = load::ScrapeMetrics(spec);
    if (!snapshot.ok()) {
      std::cerr << "schakel-load: " << snapshot.status().message() << "\n";
      return 2;
    }
    before[snapshot->name] = *std::move(snapshot);
  }

  const double cpu_before = ProcessCpuMs();
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  load::Report report = load::Run(
      *target, workload,
      {.rate = f.rate,
       .clients = f.clients,
       .duration = std::chrono::milliseconds(static_cast<int64_t>(f.seconds * 1000)),
       .max_calls = f.calls,
       .call_timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_s * 1000)),
       .stop = &g_stop,
       .on_call = nullptr});

  const double client_cpu_ms = ProcessCpuMs() - cpu_before;
  nlohmann::json json = load::ToJson(report, f.json_calls);
  // The load client shares the machine: its own CPU per call.
  json["client_cpu_ms"] = client_cpu_ms;
  json["client_cpu_ms_per_call"] =
      report.calls > 0 ? client_cpu_ms / static_cast<double>(report.calls) : 0.0;
  json["date_utc"] = absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", absl::Now(), absl::UTCTimeZone());

  // Time spent in the servers, from their metrics.
  std::vector<load::MetricsDelta> deltas;
  for (const std::string& spec : f.metrics) {
    auto after = load::ScrapeMetrics(spec);
    if (!after.ok()) {
      std::cerr << "schakel-load: after the run: " << after.status().message() << "\n";
      continue;
    }
    deltas.push_back(load::Difference(before[after->name], *after));
  }
  if (!deltas.empty()) {
    nlohmann::json servers = nlohmann::json::array();
    for (const load::MetricsDelta& d : deltas) servers.push_back(load::ToJson(d));
    json["server_metrics"] = servers;
  }

  std::optional<load::CryptoBaseline> baseline;
  if (f.crypto_baseline) {
    int partners = f.baseline_partners;
    if (partners <= 0) {
      for (const load::CallOutcome& c : report.calls_made) {
        if (c.ok()) {
          partners = static_cast<int>(c.partners_ok);
          break;
        }
      }
    }
    if (partners <= 0) partners = f.partners.empty() ? 3 : static_cast<int>(f.partners.size());
    auto made = load::RunCryptoBaseline(workload.Request(0),
                                        {.partners = partners,
                                         .node_threads = f.node_threads,
                                         .requester_threads = f.requester_threads,
                                         .repeats = f.baseline_repeats > 0 ? f.baseline_repeats
                                                    : batch                ? 1
                                                                           : 101});
    if (!made.ok()) {
      std::cerr << "schakel-load: crypto baseline: " << made.status().message() << "\n";
      return 2;
    }
    baseline = *std::move(made);
    nlohmann::json b = load::ToJson(*baseline);
    const double crypto_ms = Ms(baseline->crypto_wall());
    if (report.ok > 0 && crypto_ms > 0) {
      b["ratio_p50"] = Ms(report.service_time.p50) / crypto_ms;
      b["ratio_max"] = Ms(report.service_time.max) / crypto_ms;
      b["other_ms_p50"] = Ms(report.service_time.p50) - crypto_ms;
    }
    json["crypto_baseline"] = b;
  }
  const std::optional<load::Breakdown> breakdown =
      load::BreakDown(deltas, report, baseline.has_value() ? Ms(baseline->crypto_wall()) : -1.0);
  if (breakdown.has_value()) json["breakdown"] = load::ToJson(*breakdown);

  if (f.json) {
    std::cout << json.dump(2) << "\n";
  } else {
    load::PrintReport(report, std::cout);
    std::cout << "this client used " << Fixed(client_cpu_ms, 0) << " ms of CPU ("
              << Fixed(report.calls > 0 ? client_cpu_ms / static_cast<double>(report.calls) : 0, 2)
              << " ms per call)\n";
    for (const load::MetricsDelta& d : deltas) {
      std::cout << "\n";
      load::PrintDelta(d, report, std::cout);
    }
    if (baseline.has_value()) {
      std::cout << "\ncrypto alone, in this process (" << baseline->subjects << " subjects, "
                << baseline->elements << " elements, " << baseline->partners << " partners; "
                << baseline->node_threads << " threads per node, " << baseline->requester_threads
                << " to finalise):\n";
      schakel::cli::Table table({"phase", "wall ms", "cpu ms"});
      for (const load::CryptoPhase& p : baseline->phases) {
        table.AddRow({p.name, Fixed(Ms(p.wall), 1), Fixed(Ms(p.cpu), 1)});
      }
      table.AddRow({"crypto (blind+evaluate+finalize)", Fixed(Ms(baseline->crypto_wall()), 1),
                    Fixed(Ms(baseline->crypto_cpu()), 1)});
      table.Print(std::cout);
      if (report.ok > 0) {
        const double crypto_ms = Ms(baseline->crypto_wall());
        std::cout << "match p50 " << Fixed(Ms(report.service_time.p50), 1)
                  << " ms = " << Fixed(Ms(report.service_time.p50) / crypto_ms, 2)
                  << " x crypto alone; everything else (keys, gRPC, stores, logs, signatures) "
                  << Fixed(Ms(report.service_time.p50) - crypto_ms, 1)
                  << " ms = " << Fixed(100 * (1 - crypto_ms / Ms(report.service_time.p50)), 1)
                  << " % of the match\n";
      }
    }
    if (breakdown.has_value()) {
      std::cout << "\n";
      load::PrintBreakdown(*breakdown, std::cout);
    }
  }
  if (!f.json_out.empty()) {
    std::ofstream out(f.json_out);
    out << json.dump(2) << "\n";
    if (!out) {
      std::cerr << "schakel-load: cannot write " << f.json_out << "\n";
      return 2;
    }
  }
  return report.ok == report.calls && report.partial == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{
      "Load on a running Schakel federation: match exchanges at a steady rate, with "
      "throughput and latency percentiles (issue 6; docs/performance.md)"};
  app.require_subcommand(1);
  Flags single_flags, family_flags, batch_flags;
  int exit_code = 0;
  struct Sub {
    const char* name;
    const char* help;
    load::Mode mode;
    Flags* flags;
  };
  for (const Sub& sub :
       {Sub{"single", "one person per match, open loop", load::Mode::kSingle, &single_flags},
        Sub{"family", "a household per match, open loop", load::Mode::kFamily, &family_flags},
        Sub{"batch", "many people per match (default 10,000)", load::Mode::kBatch, &batch_flags}}) {
    CLI::App* command = app.add_subcommand(sub.name, sub.help);
    AddCommon(*command, *sub.flags, sub.mode);
    command->callback([&exit_code, sub] { exit_code = RunMode(sub.mode, *sub.flags); });
  }
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
