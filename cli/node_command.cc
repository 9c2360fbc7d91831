#include "cli/node_command.h"

#include <chrono>
#include <cmath>
#include <memory>
#include <string>
#include <thread>

#include "cli/connection.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/node_admin.grpc.pb.h"

namespace schakel::cli {
namespace {

struct StatusFlags {
  bool json = false;
  bool wait_published = false;
  double wait_for_seconds = 300;
  double poll_interval_seconds = 1;
  ConnectionFlags connection;
};

struct PolicyFlags {
  bool json = false;
  ConnectionFlags connection;
};

// Nothing waits: every batch queued was acknowledged by the gateway. (The
// gateway's tag counts are those of the stream's last reconciliation, so
// they may lag; they are shown, not waited for.)
bool Published(const schakel::v1::GetIndexStatusResponse& s) {
  return s.pending_batches() == 0 && s.acknowledged_through() == s.queued_through();
}

void PrintStatus(const schakel::v1::GetIndexStatusResponse& s, std::ostream& out) {
  PrintFields({{"stream", s.connected() ? "connected" : "not connected"},
               {"batches queued", StrCat(s.queued_through())},
               {"acknowledged", StrCat(s.acknowledged_through())},
               {"pending", StrCat(s.pending_batches())},
               {"last acknowledged",
                s.has_last_ack_at() ? FormatTime(s.last_ack_at()) : std::string("never")}},
              out);
  out << "\n";
  Table table({"purpose", "tags here", "tags at the gateway (last reconciled)"});
  for (const auto& p : s.purposes()) {
    table.AddRow({p.purpose_id(), StrCat(p.tag_count()), StrCat(p.gateway_tag_count())});
  }
  table.Print(out);
}

void RunStatus(const StatusFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::NodeAdmin>();
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<int64_t>(flags.wait_for_seconds * 1000));
  schakel::v1::GetIndexStatusResponse response;
  for (;;) {
    response.Clear();
    auto call = connection->NewCall(kCallTimeout);
    const grpc::Status status =
        client->GetIndexStatus(call.get(), schakel::v1::GetIndexStatusRequest(), &response);
    if (!status.ok()) {
      connection->Fail(status, {"read the index publication status", "admin or auditor"}, context);
      return;
    }
    if (!flags.wait_published || Published(response)) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      if (flags.json) {
        context.out() << ToJson(response, /*pretty=*/true) << "\n";
      } else {
        PrintStatus(response, context.out());
      }
      context.Fail(ExitCode::kUnavailable,
                   StrCat("the index is not published yet after ", flags.wait_for_seconds, " s"),
                   "see 'stream' and 'pending' above; the node's log says why it cannot publish");
      return;
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(static_cast<int64_t>(std::ceil(flags.poll_interval_seconds * 1000))));
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  PrintStatus(response, context.out());
}

void RunPolicy(const PolicyFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::NodeAdmin>();
  schakel::v1::GetLocalPolicyResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status =
      client->GetLocalPolicy(call.get(), schakel::v1::GetLocalPolicyRequest(), &response);
  if (!status.ok()) {
    connection->Fail(status, {"read the local policy", "admin or auditor"}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  const schakel::v1::LocalPolicyInfo& p = response.policy();
  PrintFields({{"version", p.local_policy_version()},
               {"loaded", p.has_loaded_at() ? FormatTime(p.loaded_at()) : std::string("-")},
               {"excluded addresses", StrCat(p.excluded_address_count())},
               {"max persons per address",
                p.max_persons_per_address() == 0 ? std::string("no limit")
                                                 : StrCat(p.max_persons_per_address())}},
              context.out());
  context.out() << "\n";
  Table categories({"category", "retention"});
  for (const auto& c : p.categories()) {
    categories.AddRow({c.category(), StrCat(c.retention().seconds() / 86400, " days")});
  }
  categories.Print(context.out());
  context.out() << "\n";
  Table purposes({"purpose answered", "matchable categories", "refused requesters"});
  for (const auto& a : p.purposes()) {
    purposes.AddRow({a.purpose_id(),
                     JoinList({a.matchable_categories().begin(), a.matchable_categories().end()}),
                     JoinList({a.refused_requester_org_ids().begin(),
                               a.refused_requester_org_ids().end()})});
  }
  purposes.Print(context.out());
  if (p.disclosure_rules_size() > 0) {
    context.out() << "\n";
    Table rules({"disclosure rule", "purpose", "requesters", "fields", "decided by"});
    for (const auto& r : p.disclosure_rules()) {
      std::vector<std::string> fields;
      for (int f : r.fields()) fields.push_back(EnumName(static_cast<schakel::v1::SignalField>(f)));
      rules.AddRow({r.rule(), r.purpose_id(),
                    JoinList({r.requester_org_ids().begin(), r.requester_org_ids().end()}, ", ",
                             "any"),
                    JoinList(fields), r.mandate() ? "mandate" : "an approver"});
    }
    rules.Print(context.out());
  }
}

}  // namespace

void RegisterNodeCommands(CLI::App& app, CommandContext& context) {
  CLI::App* node =
      app.add_subcommand("node", "How your node stands: index publication, local policy (admin, auditor)");
  node->require_subcommand(1);
  node->footer(std::string(kExitCodesHelp));
  {
    auto flags = std::make_shared<StatusFlags>();
    CLI::App* status = node->add_subcommand(
        "status", "Index publication: batches queued and acknowledged, tags here and at the gateway");
    status->add_flag("--wait-published", flags->wait_published,
                     "ask again until nothing waits to be published (exit 4 after --wait-for)");
    status->add_option("--wait-for", flags->wait_for_seconds,
                       "seconds to wait with --wait-published (default 300)")
        ->check(CLI::PositiveNumber);
    status->add_option("--poll-interval", flags->poll_interval_seconds,
                       "seconds between questions with --wait-published (default 1)")
        ->check(CLI::PositiveNumber);
    status->add_flag("--json", flags->json, "print the answer as JSON");
    AddConnectionFlags(*status, flags->connection);
    status->footer(HelpFooter("Example, after an import:\n  schakel node status --wait-published --wait-for 600"));
    status->callback([flags, &context] { RunStatus(*flags, context); });
  }
  {
    auto flags = std::make_shared<PolicyFlags>();
    CLI::App* policy = node->add_subcommand("policy", "The local policy in force");
    policy->add_flag("--json", flags->json, "print the answer as JSON");
    AddConnectionFlags(*policy, flags->connection);
    policy->footer(HelpFooter("Example:\n  schakel node policy"));
    policy->callback([flags, &context] { RunPolicy(*flags, context); });
  }
}

}  // namespace schakel::cli
