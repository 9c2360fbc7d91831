#include "cli/audit_command.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <optional>
#include <string>

#include "cli/connection.h"
#include "cli/progress.h"
#include "cli/proto_text.h"
#include "common/strings.h"
#include "schakel/v1/audit.grpc.pb.h"

namespace schakel::cli {
namespace {

struct VerifyFlags {
  uint64_t from = 0;
  uint64_t to = 0;
  bool progress = false;
  bool json = false;
  ConnectionFlags connection;
};

void RunVerify(const VerifyFlags& flags, CommandContext& context) {
  if (flags.to != 0 && flags.from > flags.to) {
    context.Fail(ExitCode::kUsageError, "--from is after --to",
                 "give a range with --from at most --to");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto stub = schakel::v1::Audit::NewStub(connection->channel());
  schakel::v1::VerifyChainRequest request;
  request.set_from_sequence(flags.from);
  request.set_to_sequence(flags.to);
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = stub->VerifyChain(call.get(), request);

  Progress progress(context.err(), Progress::ModeFor(context.environment(), flags.progress));
  std::optional<schakel::v1::VerifyResult> result;
  schakel::v1::VerifyChainResponse response;
  while (reader->Read(&response)) {
    if (response.has_progress()) {
      const auto& p = response.progress();
      progress.Update(p.entries_total() > 0 ? static_cast<double>(p.entries_checked()) /
                                                  static_cast<double>(p.entries_total())
                                            : -1,
                      StrCat(GroupThousands(p.entries_checked()), " of ",
                             GroupThousands(p.entries_total()), " entries verified"));
    }
    if (response.has_result()) result = response.result();
  }
  progress.Done();
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"verify the exchange log", "auditor"}, context);
    return;
  }
  if (!result.has_value()) {
    context.Fail(ExitCode::kInternalError, "the verification ended without a result",
                 "nothing can be concluded about the chain; run it again and report this if it "
                 "persists");
    return;
  }
  if (flags.json) {
    context.out() << ToJson(*result, /*pretty=*/true) << "\n";
  }
  if (result->intact()) {
    if (!flags.json) {
      context.out() << "chain intact: " << GroupThousands(result->entries_checked())
                    << " entries, " << GroupThousands(result->checkpoints_checked())
                    << " checkpoints\n";
      if (result->has_latest_checkpoint()) {
        context.out() << "latest checkpoint: entry "
                      << result->latest_checkpoint().payload().sequence() << " at "
                      << FormatTime(result->latest_checkpoint().payload().created_at()) << "\n";
      }
    }
    return;
  }
  const std::string finding =
      StrCat("entry ", result->first_bad_sequence(), ": ", ChainProblemText(result->problem()),
             result->detail().empty() ? std::string() : StrCat(" (", result->detail(), ")"));
  if (!flags.json) {
    context.out() << finding << "\n"
                  << "verified before it: " << GroupThousands(result->entries_checked())
                  << " entries, " << GroupThousands(result->checkpoints_checked())
                  << " checkpoints\n";
  }
  context.Fail(ExitCode::kVerificationFailed,
               StrCat("the exchange log's chain is broken at ", finding),
               "the log was changed after it was written, or damaged: keep this output and "
               "tell the gateway's operator and your privacy officer (FG)");
}

}  // namespace

std::string ChainProblemText(schakel::v1::ChainProblem problem) {
  switch (problem) {
    case schakel::v1::CHAIN_PROBLEM_RECORD_HASH_MISMATCH:
      return "record hash does not match its record";
    case schakel::v1::CHAIN_PROBLEM_ENTRY_HASH_MISMATCH:
      return "entry hash does not match";
    case schakel::v1::CHAIN_PROBLEM_PREVIOUS_HASH_MISMATCH:
      return "previous hash does not match the previous entry's hash";
    case schakel::v1::CHAIN_PROBLEM_SEQUENCE_GAP:
      return "sequence number missing or repeated";
    case schakel::v1::CHAIN_PROBLEM_UNDECODABLE_ENTRY:
      return "entry cannot be decoded";
    case schakel::v1::CHAIN_PROBLEM_CHECKPOINT_SIGNATURE_INVALID:
      return "checkpoint signature does not verify";
    case schakel::v1::CHAIN_PROBLEM_CHECKPOINT_HEAD_MISMATCH:
      return "checkpoint head hash does not match the entry";
    default:
      return "problem not further specified";
  }
}

void RegisterAuditCommands(CLI::App& app, CommandContext& context) {
  CLI::App* audit = app.add_subcommand(
      "audit", "The gateway's exchange log, for auditors (compliance, privacy officer)");
  audit->require_subcommand(1);
  audit->footer(std::string(kExitCodesHelp));
  auto flags = std::make_shared<VerifyFlags>();
  CLI::App* verify = audit->add_subcommand(
      "verify", "Check that the exchange log's hash chain and checkpoints are intact");
  verify->add_option("--from", flags->from, "first entry to verify (default: 1)");
  verify->add_option("--to", flags->to, "last entry to verify (default: the newest)");
  verify->add_flag("--progress", flags->progress,
                   "print progress lines to stderr when it is not a terminal");
  verify->add_flag("--json", flags->json, "print the VerifyResult as JSON");
  AddConnectionFlags(*verify, flags->connection);
  verify->footer(HelpFooter(
      "Example:\n"
      "  schakel audit verify --role auditor\n"
      "\n"
      "Prints \"chain intact: N entries, M checkpoints\", or names the first bad entry\n"
      "(\"entry 42: record hash does not match its record (...)\") and exits with 5."));
  verify->callback([flags, &context] { RunVerify(*flags, context); });
}

}  // namespace schakel::cli
