#include "load/load_client.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <iomanip>
#include <mutex>
#include <numeric>
#include <sstream>
#include <thread>
#include <utility>

#include "cli/table.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/checked_file.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "demo/synthetic.h"
#include "nodes/matching_service.h"
#include "nodes/subject_keys.h"
#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"
#include "schakel/v1/gateway.grpc.pb.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::load {
namespace {

using Clock = std::chrono::steady_clock;

std::string AsString(crypto::ByteView bytes) {
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

template <typename Receipts>
std::vector<uint64_t> SequencesOf(const Receipts& receipts) {
  std::vector<uint64_t> out;
  for (const v1::Receipt& r : receipts) out.push_back(r.payload().sequence());
  return out;
}

// An acknowledged call: the exchange id and the receipts' log sequences.
template <typename Response>
CallOutcome Acknowledged(const Response& response, const v1::MatchRequest& request) {
  CallOutcome out;
  out.code = grpc::StatusCode::OK;
  out.exchange_id = response.exchange_id();
  out.log_sequences = SequencesOf(response.receipts());
  out.subjects = static_cast<uint32_t>(request.subjects_size());
  return out;
}

CallOutcome Failed(const grpc::Status& status) {
  CallOutcome out;
  out.code = status.error_code();
  out.error = status.error_message();
  return out;
}

// ---- the real user path: a node's Matching API

class NodeMatchTarget final : public MatchTarget {
 public:
  NodeMatchTarget(cli::ClientConfig config, cli::Credential credential,
                  std::shared_ptr<grpc::Channel> channel)
      : config_(std::move(config)),
        credential_(std::move(credential)),
        stub_(v1::Matching::NewStub(std::move(channel))) {}

  CallOutcome Call(const v1::MatchRequest& request, std::chrono::milliseconds timeout) override {
    grpc::ClientContext context;
    rpc::SetDeadline(context, timeout);
    context.AddMetadata("authorization", credential_.AuthorizationValue());
    if (!config_.role.empty()) context.AddMetadata("x-schakel-role", config_.role);
    v1::MatchResponse response;
    const grpc::Status status = stub_->Match(&context, request, &response);
    if (!status.ok()) return Failed(status);
    CallOutcome out = Acknowledged(response, request);
    const v1::MatchCounts& counts = response.result().counts();
    out.partners_ok = counts.partners_answered();
    out.partners_failed = counts.partners_failed();
    out.subjects_hit = counts.subjects_hit();
    return out;
  }

  std::string Describe() const override {
    return StrCat("node ", config_.endpoint, " (Matching.Match) as user ", credential_.user_id(),
                  config_.role.empty() ? "" : StrCat(" in role ", config_.role));
  }

 private:
  const cli::ClientConfig config_;
  const cli::Credential credential_;
  const std::unique_ptr<v1::Matching::Stub> stub_;
};

// ---- the gateway directly, as an organisation

class GatewayMatchTarget final : public MatchTarget {
 public:
  GatewayMatchTarget(GatewayTargetOptions options, std::shared_ptr<grpc::Channel> channel)
      : options_(std::move(options)), stub_(v1::Gateway::NewStub(std::move(channel))) {}

  CallOutcome Call(const v1::MatchRequest& request, std::chrono::milliseconds timeout) override {
    const auto due = Clock::now();
    auto prepared = nodes::PrepareMatch(request, nullptr, nodes::UtcDay(absl::Now()));
    if (!prepared.ok()) return Failed(rpc::ToGrpcStatus(prepared.status()));
    auto requester = crypto::MatchRequester::Create(request.purpose_id());
    if (!requester.ok()) return Failed(rpc::ToGrpcStatus(requester.status()));
    std::vector<crypto::ByteView> inputs;
    inputs.reserve(prepared->inputs.size());
    for (const crypto::SecretBuffer& in : prepared->inputs) inputs.push_back(in.bytes());
    auto pending = requester->Blind(inputs);
    if (!pending.ok()) return Failed(rpc::ToGrpcStatus(pending.status()));
    const std::vector<crypto::Bytes> blinded = pending->BlindedEncodings();

    v1::OpenExchangeRequest open;
    open.mutable_actor()->set_user_id(options_.user_id);
    open.mutable_actor()->set_role(options_.role);
    std::string request_id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(request_id.data()), 16));
    open.set_request_id(request_id);
    open.set_purpose_id(request.purpose_id());
    open.set_case_id(request.case_id());
    *open.mutable_target_org_ids() = request.partner_org_ids();
    size_t e = 0;
    for (v1::BlindedSubject& subject : prepared->subjects) {
      for (v1::BlindedKey& key : *subject.mutable_keys()) {
        key.set_blinded_element(AsString(blinded[e++]));
      }
      *open.add_subjects() = std::move(subject);
    }

    grpc::ClientContext context;
    // The deadline counts from the start of the call, blinding included.
    context.set_deadline(
        std::chrono::system_clock::now() + timeout -
        std::chrono::duration_cast<std::chrono::system_clock::duration>(Clock::now() - due));
    v1::OpenExchangeResponse response;
    const grpc::Status status = stub_->OpenExchange(&context, open, &response);
    if (!status.ok()) return Failed(status);
    CallOutcome out = Acknowledged(response, request);
    for (const v1::PartnerEvaluation& evaluation : response.evaluations()) {
      (evaluation.outcome().status() == v1::PARTNER_STATUS_OK ? out.partners_ok
                                                              : out.partners_failed)++;
    }
    return out;
  }

  std::string Describe() const override {
    return StrCat("gateway ", options_.endpoint, " (Gateway.OpenExchange) as organisation of ",
                  options_.tls.certificate_chain.string(), ", user ", options_.user_id);
  }

 private:
  const GatewayTargetOptions options_;
  const std::unique_ptr<v1::Gateway::Stub> stub_;
};

v1::Relation RelationOf(const std::string& relation) {
  if (relation == "parent") return v1::RELATION_PARENT;
  if (relation == "child") return v1::RELATION_CHILD;
  if (relation == "partner") return v1::RELATION_PARTNER;
  if (relation == "housemate") return v1::RELATION_HOUSEMATE;
  return v1::RELATION_UNSPECIFIED;
}

Nanos Percentile(const std::vector<Nanos>& sorted, double q) {
  if (sorted.empty()) return Nanos{0};
  // Nearest rank: the smallest sample with at least q of the samples at or
  // below it.
  const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size(), std::max<size_t>(rank, 1)) - 1];
}

double Ms(Nanos d) { return static_cast<double>(d.count()) / 1e6; }

std::string MsText(Nanos d) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(Ms(d) < 100 ? 2 : 0) << Ms(d);
  return out.str();
}

nlohmann::json LatencyJson(const LatencySummary& s) {
  return {{"count", s.count},      {"min_ms", Ms(s.min)}, {"p50_ms", Ms(s.p50)},
          {"p90_ms", Ms(s.p90)},   {"p95_ms", Ms(s.p95)}, {"p99_ms", Ms(s.p99)},
          {"p999_ms", Ms(s.p999)}, {"max_ms", Ms(s.max)}, {"mean_ms", Ms(s.mean)}};
}

}  // namespace

// ---------------------------------------------------------------- targets

absl::StatusOr<std::unique_ptr<MatchTarget>> NodeTarget(const cli::ConfigOverrides& client) {
  auto config = cli::LoadClientConfig(client, cli::ProcessEnvironment(false));
  if (!config.ok()) return config.status();
  auto credential = cli::LoadCredential(config->credential_file);
  if (!credential.ok()) return credential.status();
  const std::string named = StrCat("CA file ", config->ca.string());
  auto ca = crypto::ReadCheckedFile(
      config->ca, {.named = named, .max_size = size_t{1} << 20, .secret = false, .size_note = ""});
  if (!ca.ok()) return ca.status();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs.assign(reinterpret_cast<const char*>(ca->data()), ca->size());
  auto channel =
      rpc::CreateChannel(config->endpoint, grpc::SslCredentials(ssl), config->server_name);
  if (!channel.ok()) return channel.status();
  return std::make_unique<NodeMatchTarget>(*std::move(config), *std::move(credential),
                                           *std::move(channel));
}

absl::StatusOr<std::unique_ptr<MatchTarget>> GatewayTarget(const GatewayTargetOptions& options) {
  auto credentials = rpc::ClientCredentialsFromFiles(options.tls);
  if (!credentials.ok()) return credentials.status();
  auto channel = rpc::CreateChannel(options.endpoint, *credentials, options.server_name);
  if (!channel.ok()) return channel.status();
  return std::make_unique<GatewayMatchTarget>(options, *std::move(channel));
}

// ---------------------------------------------------------------- requests

std::optional<Mode> ParseMode(std::string_view name) {
  if (name == "single") return Mode::kSingle;
  if (name == "family") return Mode::kFamily;
  if (name == "batch") return Mode::kBatch;
  return std::nullopt;
}

std::string ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSingle:
      return "single";
    case Mode::kFamily:
      return "family";
    case Mode::kBatch:
      return "batch";
  }
  return "?";
}

Workload::Workload(WorkloadOptions options) : options_(std::move(options)) {
  options_.population = std::max<size_t>(options_.population, 10);
  options_.batch_subjects = std::clamp<size_t>(options_.batch_subjects, 1, 10'000);
  population_ = std::make_shared<const demo::Population>(
      demo::Population::Generate(options_.seed, options_.population));
  const auto& households = population_->households();
  for (size_t h = 0; h < households.size(); ++h) {
    if (households[h].members.size() >= 2) families_.push_back(h);
  }
}

v1::MatchSubject Workload::SubjectOf(size_t index, bool in_family) const {
  const demo::Person& p = population_->persons()[index % population_->persons().size()];
  const demo::Household& home = population_->households()[p.household];
  v1::MatchSubject out;
  out.set_label(StrCat("p", index));
  v1::Subject& s = *out.mutable_subject();
  s.set_bsn(p.bsn);
  if (!options_.bsn_only) {
    s.set_given_names(p.given_names);
    s.set_surname(p.surname);
    s.set_surname_prefix(p.surname_prefix);
    char date[16];
    std::snprintf(date, sizeof date, "%04d-%02d-%02d", p.birth_year, p.birth_month, p.birth_day);
    s.set_birth_date(date);
    s.mutable_address()->set_postcode(home.postcode);
    s.mutable_address()->set_house_number(home.house_number);
    s.mutable_address()->set_house_number_suffix(home.house_number_suffix);
  } else {
    out.add_key_types(v1::MATCH_KEY_TYPE_BSN);
  }
  if (in_family) {
    s.set_family_id(StrCat("h", p.household));
    s.set_relation(RelationOf(p.relation));
  }
  return out;
}

v1::MatchRequest Workload::Request(uint64_t index) const {
  v1::MatchRequest request;
  request.set_purpose_id(options_.purpose_id);
  request.set_case_id(options_.case_id);
  for (const std::string& partner : options_.partners) request.add_partner_org_ids(partner);
  const size_t persons = population_->persons().size();
  // A fixed, well-spread walk through the population (a prime stride).
  constexpr uint64_t kStride = 7919;
  switch (options_.mode) {
    case Mode::kSingle:
      *request.add_subjects() = SubjectOf(static_cast<size_t>((index * kStride) % persons), false);
      break;
    case Mode::kFamily: {
      if (families_.empty()) {
        *request.add_subjects() = SubjectOf(static_cast<size_t>(index % persons), false);
        break;
      }
      const demo::Household& home =
          population_->households()[families_[static_cast<size_t>(index % families_.size())]];
      for (size_t member : home.members) *request.add_subjects() = SubjectOf(member, true);
      break;
    }
    case Mode::kBatch: {
      const uint64_t first = index * options_.batch_subjects;
      for (size_t i = 0; i < options_.batch_subjects; ++i) {
        *request.add_subjects() =
            SubjectOf(static_cast<size_t>(((first + i) * kStride) % persons), false);
      }
      break;
    }
  }
  return request;
}

// ---------------------------------------------------------------- the run

LatencySummary Summarise(std::vector<Nanos> samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = Percentile(samples, 0.50);
  s.p90 = Percentile(samples, 0.90);
  s.p95 = Percentile(samples, 0.95);
  s.p99 = Percentile(samples, 0.99);
  s.p999 = Percentile(samples, 0.999);
  Nanos total{0};
  for (Nanos d : samples) total += d;
  s.mean = total / static_cast<int64_t>(samples.size());
  return s;
}

std::vector<std::string> Report::AcknowledgedExchanges() const {
  std::vector<std::string> out;
  for (const CallOutcome& c : calls_made) {
    if (c.ok()) out.push_back(c.exchange_id);
  }
  return out;
}

std::vector<uint64_t> Report::AcknowledgedSequences() const {
  std::vector<uint64_t> out;
  for (const CallOutcome& c : calls_made) {
    if (c.ok()) out.insert(out.end(), c.log_sequences.begin(), c.log_sequences.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

Report Run(MatchTarget& target, const Workload& workload, const RunOptions& options) {
  Report report;
  report.target = target.Describe();
  report.mode = ModeName(workload.options().mode);
  report.options = options;
  report.options.stop = nullptr;
  report.options.on_call = nullptr;
  const int clients = std::max(1, options.clients);
  const bool open_loop = options.rate > 0;
  const bool bounded = options.duration.count() > 0 || options.max_calls > 0;

  std::mutex mu;
  std::vector<CallOutcome> outcomes;
  std::atomic<uint64_t> next{0};
  const Clock::time_point start = Clock::now() + std::chrono::milliseconds(5);
  const Clock::time_point end =
      options.duration.count() > 0 ? start + options.duration : Clock::time_point::max();
  std::atomic<int64_t> last_answer{0};

  auto client = [&] {
    std::vector<CallOutcome> mine;
    for (;;) {
      if (!bounded) break;
      if (options.stop != nullptr && options.stop->load()) break;
      const uint64_t i = next++;
      if (options.max_calls > 0 && i >= options.max_calls) break;
      Clock::time_point due = Clock::now();
      if (open_loop) {
        // Exact for any rate: the i-th due time is rounded, never accumulated.
        due = start + Nanos(std::llround(static_cast<double>(i) * 1e9 / options.rate));
        if (due >= end) break;
        // Sleep until due, waking to notice a stop.
        while (Clock::now() < due) {
          if (options.stop != nullptr && options.stop->load()) break;
          std::this_thread::sleep_until(
              std::min(due, Clock::now() + std::chrono::milliseconds(50)));
        }
        if (options.stop != nullptr && options.stop->load()) break;
      } else if (due >= end) {
        break;
      }
      const v1::MatchRequest request = workload.Request(i);
      const Clock::time_point sent = Clock::now();
      CallOutcome outcome = target.Call(request, options.call_timeout);
      const Clock::time_point answered = Clock::now();
      outcome.index = i;
      outcome.subjects = static_cast<uint32_t>(request.subjects_size());
      outcome.latency = answered - std::min(due, sent);
      outcome.service_time = answered - sent;
      int64_t at = (answered - start).count();
      for (int64_t seen = last_answer.load();
           at > seen && !last_answer.compare_exchange_weak(seen, at);) {
      }
      if (options.on_call) options.on_call(outcome);
      mine.push_back(std::move(outcome));
    }
    std::lock_guard lock(mu);
    for (CallOutcome& c : mine) outcomes.push_back(std::move(c));
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < clients; ++c) threads.emplace_back(client);
  for (std::thread& t : threads) t.join();

  std::sort(outcomes.begin(), outcomes.end(),
            [](const CallOutcome& a, const CallOutcome& b) { return a.index < b.index; });
  report.seconds = static_cast<double>(last_answer.load()) / 1e9;
  std::vector<Nanos> ok_latency, ok_service, all_latency;
  for (const CallOutcome& c : outcomes) {
    ++report.calls;
    all_latency.push_back(c.latency);
    if (c.latency - c.service_time > std::chrono::milliseconds(10)) ++report.late_starts;
    if (c.ok()) {
      ++report.ok;
      if (c.partners_failed > 0) ++report.partial;
      report.subjects += c.subjects;
      ok_latency.push_back(c.latency);
      ok_service.push_back(c.service_time);
    } else {
      ++report.errors[c.code];
      report.first_error.emplace(c.code, c.error);
    }
  }
  report.latency = Summarise(std::move(ok_latency));
  report.service_time = Summarise(std::move(ok_service));
  report.all_latency = Summarise(std::move(all_latency));
  report.calls_made = std::move(outcomes);
  return report;
}

std::string CodeName(grpc::StatusCode code) {
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

nlohmann::json ToJson(const Report& report, bool with_calls) {
  nlohmann::json errors = nlohmann::json::object();
  for (const auto& [code, count] : report.errors) {
    errors[CodeName(code)] = {{"count", count}, {"first_message", report.first_error.at(code)}};
  }
  nlohmann::json out = {
      {"target", report.target},
      {"mode", report.mode},
      {"rate_per_s", report.options.rate},
      {"clients", report.options.clients},
      {"duration_s", static_cast<double>(report.options.duration.count()) / 1e3},
      {"max_calls", report.options.max_calls},
      {"call_timeout_s", static_cast<double>(report.options.call_timeout.count()) / 1e3},
      {"seconds", report.seconds},
      {"calls", report.calls},
      {"ok", report.ok},
      {"failed", report.calls - report.ok},
      {"errors", errors},
      {"partial", report.partial},
      {"late_starts", report.late_starts},
      {"subjects", report.subjects},
      {"throughput_per_s", report.throughput()},
      {"subjects_per_s",
       report.seconds > 0 ? static_cast<double>(report.subjects) / report.seconds : 0},
      {"latency", LatencyJson(report.latency)},
      {"service_time", LatencyJson(report.service_time)},
      {"all_calls_latency", LatencyJson(report.all_latency)},
  };
  if (with_calls) {
    nlohmann::json calls = nlohmann::json::array();
    for (const CallOutcome& c : report.calls_made) {
      nlohmann::json call = {{"index", c.index},
                             {"code", CodeName(c.code)},
                             {"latency_ms", Ms(c.latency)},
                             {"service_ms", Ms(c.service_time)}};
      if (c.ok()) {
        call["exchange_id"] = crypto::ToHex(crypto::AsBytes(c.exchange_id));
        call["log_sequences"] = c.log_sequences;
        call["partners_ok"] = c.partners_ok;
        call["partners_failed"] = c.partners_failed;
      } else {
        call["error"] = c.error;
      }
      calls.push_back(std::move(call));
    }
    out["calls_made"] = std::move(calls);
  }
  return out;
}

void PrintReport(const Report& report, std::ostream& out) {
  out << report.mode << " against " << report.target << "\n";
  if (report.options.rate > 0) {
    out << "open loop: " << report.options.rate << " calls/s, " << report.options.clients
        << " clients";
  } else {
    out << "closed loop: " << report.options.clients << " clients";
  }
  out << "; " << report.calls << " calls in " << std::fixed << std::setprecision(2)
      << report.seconds << " s: " << report.ok << " OK, " << (report.calls - report.ok)
      << " failed; " << std::setprecision(1) << report.throughput() << " OK/s";
  if (report.subjects > report.ok) {
    out << ", " << std::setprecision(0)
        << (report.seconds > 0 ? static_cast<double>(report.subjects) / report.seconds : 0)
        << " subjects/s";
  }
  out << "\n";
  if (report.partial > 0) {
    out << report.partial
        << " of the OK calls are partial: some partner did not answer (see partners_failed "
           "in --json --json-calls, and the gateway's log)\n";
  }
  if (report.late_starts > 0) {
    out << report.late_starts
        << " calls were sent more than 10 ms late (every client busy); their wait is in "
           "'latency'\n";
  }
  out << "\n";
  cli::Table table({"ms", "count", "min", "p50", "p90", "p95", "p99", "max", "mean"});
  auto row = [&](const std::string& name, const LatencySummary& s) {
    table.AddRow({name, StrCat(s.count), MsText(s.min), MsText(s.p50), MsText(s.p90), MsText(s.p95),
                  MsText(s.p99), MsText(s.max), MsText(s.mean)});
  };
  row("latency (OK, from due)", report.latency);
  row("service (OK, from sent)", report.service_time);
  row("every call, from due", report.all_latency);
  table.Print(out);
  if (!report.errors.empty()) {
    out << "\n";
    cli::Table errors({"code", "calls", "first message"});
    for (const auto& [code, count] : report.errors) {
      errors.AddRow({CodeName(code), StrCat(count), report.first_error.at(code)});
    }
    errors.Print(out);
  }
}

}  // namespace schakel::load
