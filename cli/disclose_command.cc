#include "cli/disclose_command.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/disclosure_text.h"
#include "cli/paged_list.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::DisclosureState;
using schakel::v1::OutgoingDisclosure;

constexpr std::string_view kAskRoles = "analyst (or another role the purpose lets ask)";

// "#0 vader, #1 kind": subject indexes with the caller's labels.
std::string Subjects(const OutgoingDisclosure& disclosure) {
  const auto& indices = disclosure.status().subject_indices();
  std::vector<std::string> subjects;
  for (int i = 0; i < indices.size(); ++i) {
    const bool labelled =
        i < disclosure.subject_labels_size() && !disclosure.subject_labels(i).empty();
    subjects.push_back(labelled ? StrCat("#", indices[i], " ", disclosure.subject_labels(i))
                                : StrCat("#", indices[i]));
  }
  return JoinList(subjects);
}

// The waiting flags of `disclose` and `disclosures show`.
struct WaitFlags {
  bool wait = false;
  double wait_for_seconds = 300;
  double poll_interval_seconds = 5;
};

void AddWaitFlags(CLI::App& command, WaitFlags& flags) {
  command.add_flag("--wait", flags.wait,
                   "while it is pending, ask the node again until it is decided or --wait-for "
                   "passed");
  command
      .add_option("--wait-for", flags.wait_for_seconds,
                  "seconds to wait with --wait (default 300)")
      ->check(CLI::PositiveNumber);
  command
      .add_option("--poll-interval", flags.poll_interval_seconds,
                  "seconds between questions with --wait (default 5)")
      ->check(CLI::PositiveNumber);
}

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::ceil(seconds * 1000)));
}

// Asks the node for the disclosure `id` until it is no longer pending or
// flags.wait_for passed; updates `disclosure`. Returns false when a call
// failed (reported); sets `waited_out` when it is still pending.
bool WaitForDecision(const NodeConnection& connection, const std::string& id,
                     const WaitFlags& flags, OutgoingDisclosure& disclosure, bool& waited_out,
                     CommandContext& context) {
  waited_out = false;
  if (disclosure.status().state() != schakel::v1::DISCLOSURE_STATE_PENDING_APPROVAL) return true;
  context.err() << "waiting for " << disclosure.status().responder_org_id()
                << " to decide (decide by " << FormatTime(disclosure.status().decide_by())
                << "; at most " << flags.wait_for_seconds << " s)\n";
  auto client = connection.Client<schakel::v1::Matching>();
  const auto deadline = std::chrono::steady_clock::now() + Millis(flags.wait_for_seconds);
  while (disclosure.status().state() == schakel::v1::DISCLOSURE_STATE_PENDING_APPROVAL) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      waited_out = true;
      return true;
    }
    std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
        Millis(flags.poll_interval_seconds), deadline - now));
    schakel::v1::ShowDisclosureRequest request;
    request.set_disclosure_id(id);
    schakel::v1::ShowDisclosureResponse response;
    auto call = connection.NewCall(kCallTimeout);
    const grpc::Status status = client->ShowDisclosure(call.get(), request, &response);
    if (!status.ok()) {
      connection.Fail(status, {"show the disclosure", std::string(kAskRoles)}, context);
      return false;
    }
    disclosure = response.disclosure();
  }
  return true;
}

// Prints to err() why a disclosure that is not (or not yet) delivered shows
// no content, and records the exit code (DisclosureExitCode).
void ReportState(const OutgoingDisclosure& disclosure, bool waited_out, const WaitFlags& wait,
                 CommandContext& context) {
  const schakel::v1::DisclosureStatus& status = disclosure.status();
  const std::string& partner = status.responder_org_id();
  const std::string id = HexId(status.disclosure_id());
  std::string why = status.detail();
  if (status.reason() != schakel::v1::DENIAL_REASON_UNSPECIFIED) {
    why = StrCat(why, why.empty() ? "" : " ", "(reason: ", EnumName(status.reason()), ")");
  }
  const std::string because = why.empty() ? std::string() : StrCat(": ", why);
  const ExitCode code = DisclosureExitCode(disclosure, waited_out);
  switch (status.state()) {
    case schakel::v1::DISCLOSURE_STATE_DELIVERED:
      if (code == ExitCode::kOk) return;
      context.Fail(code,
                   StrCat("the payload ", partner, " delivered failed verification at your node (",
                          disclosure.verification_problem(), "); it is not shown"),
                   "your node logged it; tell your node's operator and the partner, and do not "
                   "use anything that came with it");
      return;
    case schakel::v1::DISCLOSURE_STATE_PENDING_APPROVAL:
      if (!waited_out) {
        context.err() << "pending: waiting for an approver at " << partner << " (decide by "
                      << FormatTime(status.decide_by()) << "); follow it with 'schakel "
                      << "disclosures show " << id << " --wait'\n";
        context.SetExitCode(code);
        return;
      }
      context.Fail(code,
                   StrCat("no decision from ", partner, " after ", wait.wait_for_seconds,
                          " s; the request stands until ", FormatTime(status.decide_by())),
                   StrCat("do not ask again: follow it with 'schakel disclosures show ", id,
                          " --wait'"));
      return;
    case schakel::v1::DISCLOSURE_STATE_DENIED:
      context.Fail(code, StrCat(partner, " denied the disclosure", because),
                   "nothing was disclosed; contact the partner, or ask for fewer fields with a "
                   "clearer reason");
      return;
    case schakel::v1::DISCLOSURE_STATE_REFUSED:
      context.Fail(code, StrCat("the gateway refused the disclosure", because),
                   "nothing was sent to the partner; the purpose's policy decides which fields "
                   "a partner may disclose to you");
      return;
    case schakel::v1::DISCLOSURE_STATE_EXPIRED:
      context.Fail(code,
                   StrCat("nobody at ", partner, " decided before ",
                          FormatTime(status.decide_by()), "; the request expired", because),
                   "nothing was disclosed; ask again with 'schakel disclose' if it is still "
                   "needed");
      return;
    case schakel::v1::DISCLOSURE_STATE_UNAVAILABLE:
      context.Fail(code, StrCat(partner, " could not be reached; nothing was decided", because),
                   "ask again later with the same 'schakel disclose' command");
      return;
    default:
      context.Fail(code, "the node answered with a disclosure in no known state",
                   "is the node a newer schakel-node? Use a matching schakel");
      return;
  }
}

// Prints the disclosure and records the exit code for its state.
void Present(const OutgoingDisclosure& disclosure, bool waited_out, const WaitFlags& wait,
             CommandContext& context) {
  PrintDisclosure(disclosure, context.out());
  ReportState(disclosure, waited_out, wait, context);
}

struct DiscloseFlags {
  std::string exchange, match_file, partner, family, reason;
  std::vector<uint32_t> subjects;
  std::vector<std::string> fields, categories;
  WaitFlags wait;
  bool json = false;
  ConnectionFlags connection;
};

// The subject indexes to ask about, from --subject or --family and the match
// output; reports a problem and returns nullopt.
std::optional<std::vector<uint32_t>> ChooseSubjects(const DiscloseFlags& flags,
                                                    const schakel::v1::MatchResponse* match,
                                                    CommandContext& context) {
  if (match == nullptr) return flags.subjects;
  // Hits at the partner per subject index, from the gateway's result.
  std::map<uint32_t, bool> hit;
  for (const schakel::v1::LocalSubject& subject : match->subjects()) {
    hit[subject.subject_index()] = false;
  }
  for (const schakel::v1::SubjectMatch& subject : match->result().subjects()) {
    for (const schakel::v1::PartnerMatch& partner : subject.partners()) {
      if (partner.org_id() == flags.partner && partner.hit()) hit[subject.subject_index()] = true;
    }
  }
  if (!flags.family.empty()) {
    std::vector<uint32_t> members;
    bool known = false;
    for (const schakel::v1::LocalSubject& subject : match->subjects()) {
      if (subject.family_id() != flags.family) continue;
      known = true;
      if (hit[subject.subject_index()]) members.push_back(subject.subject_index());
    }
    if (!known) {
      context.Fail(ExitCode::kInvalidInput,
                   StrCat("--family: ", flags.match_file, " has no family with that id"),
                   "give a family_id of that match (the first column of its table)");
      return std::nullopt;
    }
    if (members.empty()) {
      context.Fail(ExitCode::kInvalidInput,
                   StrCat("--family: no member of that family was a hit at ", flags.partner),
                   "a partner can only disclose about subjects that hit there; nothing was sent");
      return std::nullopt;
    }
    return members;
  }
  std::vector<std::string> problems;
  for (uint32_t index : flags.subjects) {
    auto it = hit.find(index);
    if (it == hit.end()) {
      problems.push_back(StrCat("subject ", index, " is not in that match"));
    } else if (!it->second) {
      problems.push_back(StrCat("subject ", index, " was not a hit at ", flags.partner));
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kInvalidInput, StrCat("--subject: ", JoinList(problems, "; ")),
                 "a partner can only disclose about subjects that hit there; nothing was sent");
    return std::nullopt;
  }
  return flags.subjects;
}

void RunDisclose(const DiscloseFlags& flags, CommandContext& context) {
  constexpr std::string_view kHint = "run 'schakel disclose --help' for an example";
  if (flags.exchange.empty() == flags.match_file.empty()) {
    context.Fail(ExitCode::kUsageError,
                 "name the exchange with --exchange ID or --match FILE (one of them)", kHint);
    return;
  }
  if (flags.subjects.empty() == flags.family.empty()) {
    context.Fail(ExitCode::kUsageError,
                 "name the subjects with --subject N (repeatable) or --family F (one of them)",
                 kHint);
    return;
  }
  if (!flags.family.empty() && flags.match_file.empty()) {
    context.Fail(ExitCode::kUsageError, "--family needs --match FILE to find the family's members",
                 "save the match with 'schakel match ... --json > match.json' and give --match "
                 "match.json");
    return;
  }
  if (!CheckReason(flags.reason, /*required=*/true,
                   "say why you need it, in general terms (the partner's approver reads it; "
                   "never name a person)",
                   context)) {
    return;
  }

  schakel::v1::AskDisclosureRequest request;
  std::vector<std::string> problems;
  for (const std::string& field : flags.fields) {
    auto parsed = ParseEnumName<schakel::v1::SignalField>(field, "--fields");
    if (parsed.ok()) {
      request.mutable_ask()->add_fields(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "e.g. --fields contact_name,contact_phone");
    return;
  }
  for (const std::string& category : flags.categories) request.mutable_ask()->add_categories(category);
  request.mutable_ask()->set_reason(flags.reason);
  request.set_responder_org_id(flags.partner);

  std::optional<schakel::v1::MatchResponse> match;
  if (!flags.match_file.empty()) {
    std::ifstream in(flags.match_file, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    match.emplace();
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = true;
    // The parser's message is left out: it may quote the file (labels).
    if (!in || !google::protobuf::util::JsonStringToMessage(text.str(), &*match, options).ok() ||
        match->exchange_id().size() != 16) {
      context.Fail(ExitCode::kInvalidInput,
                   StrCat("cannot read ", flags.match_file,
                          " as the output of 'schakel match --json'"),
                   "give the file 'schakel match ... --json > FILE' wrote, or --exchange ID");
      return;
    }
    request.set_exchange_id(match->exchange_id());
  } else {
    auto exchange = ParseId(flags.exchange, "--exchange", "an exchange");
    if (!exchange.ok()) {
      context.Fail(ExitCode::kUsageError, std::string(exchange.status().message()),
                   "give the exchange id 'schakel match' printed (\"exchange id: ...\")");
      return;
    }
    request.set_exchange_id(*exchange);
  }
  auto subjects = ChooseSubjects(flags, match ? &*match : nullptr, context);
  if (!subjects) return;
  for (uint32_t index : *subjects) request.add_subject_indices(index);

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Matching>();
  schakel::v1::AskDisclosureResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->AskDisclosure(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"ask for the disclosure", std::string(kAskRoles)}, context);
    return;
  }
  bool waited_out = false;
  // A copy: waiting replaces the message the id lives in.
  const std::string id = response.disclosure().status().disclosure_id();
  if (flags.wait.wait && !WaitForDecision(*connection, id, flags.wait,
                                          *response.mutable_disclosure(), waited_out, context)) {
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    ReportState(response.disclosure(), waited_out, flags.wait, context);
    return;
  }
  Present(response.disclosure(), waited_out, flags.wait, context);
}

struct ListFlags {
  std::vector<std::string> states;
  std::string exchange;
  uint32_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  schakel::v1::ListDisclosuresRequest request;
  std::vector<std::string> problems;
  for (const std::string& state : flags.states) {
    auto parsed = ParseEnumName<DisclosureState>(state, "--state");
    if (parsed.ok()) {
      request.add_states(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  if (!flags.exchange.empty()) {
    auto exchange = ParseId(flags.exchange, "--exchange", "an exchange");
    if (exchange.ok()) {
      request.set_exchange_id(*exchange);
    } else {
      problems.emplace_back(exchange.status().message());
    }
  }
  if (!problems.empty()) {
    context.Fail(ExitCode::kUsageError, JoinList(problems, "; "),
                 "run 'schakel disclosures list --help' for the accepted values");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Matching>();
  Table table({"disclosure", "partner", "purpose", "case", "subjects", "fields", "state",
               "asked (UTC)", "detail"});
  uint32_t count = 0;
  const grpc::Status status = ForEachPage<schakel::v1::ListDisclosuresResponse>(
      request, flags.limit,
      [&](const schakel::v1::ListDisclosuresRequest& page,
          schakel::v1::ListDisclosuresResponse* response) {
        auto call = connection->NewCall(kCallTimeout);
        return client->ListDisclosures(call.get(), page, response);
      },
      [](const schakel::v1::ListDisclosuresResponse& response) -> const auto& {
        return response.disclosures();
      },
      [&](const OutgoingDisclosure& disclosure) {
        ++count;
        if (flags.json) {
          context.out() << ToJson(disclosure) << "\n";
          return;
        }
        const schakel::v1::DisclosureStatus& s = disclosure.status();
        std::string detail = s.detail();
        if (s.state() == schakel::v1::DISCLOSURE_STATE_PENDING_APPROVAL) {
          detail = StrCat("decide by ", FormatTime(s.decide_by()));
        } else if (s.reason() != schakel::v1::DENIAL_REASON_UNSPECIFIED) {
          detail = StrCat(EnumName(s.reason()), detail.empty() ? "" : ": ", detail);
        }
        if (!disclosure.verification_problem().empty()) {
          detail = StrCat("not verified: ", disclosure.verification_problem());
        }
        table.AddRow({HexId(s.disclosure_id()), s.responder_org_id(), s.purpose_id(),
                      s.case_id().empty() ? "-" : s.case_id(), Subjects(disclosure),
                      JoinList(FieldNames(s.ask().fields()), ","), EnumName(s.state()),
                      FormatTime(s.requested_at()), detail.empty() ? "-" : detail});
      });
  if (!status.ok()) {
    connection->Fail(status, {"list disclosures", std::string(kAskRoles)}, context);
    return;
  }
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no disclosures match\n";
    return;
  }
  table.Print(context.out());
}

struct ShowFlags {
  std::string id;
  WaitFlags wait;
  bool json = false;
  ConnectionFlags connection;
};

void RunShow(const ShowFlags& flags, CommandContext& context) {
  auto id = ParseId(flags.id, "ID", "a disclosure");
  if (!id.ok()) {
    context.Fail(ExitCode::kUsageError, std::string(id.status().message()),
                 "give the id 'schakel disclose' or 'schakel disclosures list' printed");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Matching>();
  schakel::v1::ShowDisclosureRequest request;
  request.set_disclosure_id(*id);
  schakel::v1::ShowDisclosureResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->ShowDisclosure(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"show the disclosure", std::string(kAskRoles)}, context);
    return;
  }
  bool waited_out = false;
  if (flags.wait.wait && !WaitForDecision(*connection, *id, flags.wait,
                                          *response.mutable_disclosure(), waited_out, context)) {
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.disclosure(), /*pretty=*/true) << "\n";
    ReportState(response.disclosure(), waited_out, flags.wait, context);
    return;
  }
  Present(response.disclosure(), waited_out, flags.wait, context);
}

// One disclosed signal as a (field, value) table; the free text, which may
// span lines, indented below it.
void PrintSignal(const schakel::v1::DisclosedSignal& signal, std::ostream& out) {
  Table table({"field", "value"});
  std::string free_text;
  bool has_free_text = false;
  for (int field : signal.fields()) {
    const auto f = static_cast<schakel::v1::SignalField>(field);
    std::string value;
    switch (f) {
      case schakel::v1::SIGNAL_FIELD_CATEGORY: value = signal.category(); break;
      case schakel::v1::SIGNAL_FIELD_DOMAIN: value = EnumName(signal.domain()); break;
      case schakel::v1::SIGNAL_FIELD_REGISTERED_AT:
        value = FormatTime(signal.registered_at());
        break;
      case schakel::v1::SIGNAL_FIELD_EXPIRES_AT: value = FormatTime(signal.expires_at()); break;
      case schakel::v1::SIGNAL_FIELD_CONTACT_NAME: value = signal.contact().name(); break;
      case schakel::v1::SIGNAL_FIELD_CONTACT_PHONE: value = signal.contact().phone(); break;
      case schakel::v1::SIGNAL_FIELD_CONTACT_EMAIL: value = signal.contact().email(); break;
      case schakel::v1::SIGNAL_FIELD_FREE_TEXT:
        has_free_text = true;
        free_text = signal.free_text();
        value = free_text.empty() ? "-" : "(below)";
        break;
      default: value = "(a field this schakel does not know)"; break;
    }
    table.AddRow({EnumName(f), value.empty() ? "-" : value});
  }
  // The contact's unit travels with any contact field.
  if (!signal.contact().unit().empty()) table.AddRow({"contact_unit", signal.contact().unit()});
  table.Print(out);
  if (has_free_text && !free_text.empty()) {
    out << "free_text:\n";
    std::istringstream lines(free_text);
    for (std::string line; std::getline(lines, line);) out << "  " << line << "\n";
  }
}

}  // namespace

ExitCode DisclosureExitCode(const OutgoingDisclosure& disclosure, bool waited_out) {
  switch (disclosure.status().state()) {
    case schakel::v1::DISCLOSURE_STATE_DELIVERED:
      return disclosure.verification_problem().empty() ? ExitCode::kOk
                                                       : ExitCode::kVerificationFailed;
    case schakel::v1::DISCLOSURE_STATE_PENDING_APPROVAL:
      return waited_out ? ExitCode::kUnavailable : ExitCode::kOk;
    case schakel::v1::DISCLOSURE_STATE_DENIED:
    case schakel::v1::DISCLOSURE_STATE_REFUSED:
    case schakel::v1::DISCLOSURE_STATE_EXPIRED:
      return ExitCode::kRefused;
    case schakel::v1::DISCLOSURE_STATE_UNAVAILABLE:
      return ExitCode::kUnavailable;
    default:
      return ExitCode::kInternalError;
  }
}

void PrintDisclosure(const OutgoingDisclosure& disclosure, std::ostream& out) {
  const schakel::v1::DisclosureStatus& s = disclosure.status();
  std::vector<std::string> categories(s.ask().categories().begin(), s.ask().categories().end());
  std::vector<std::pair<std::string, std::string>> fields = {
      {"disclosure", HexId(s.disclosure_id())},
      {"exchange", HexId(s.exchange_id())},
      {"partner", s.responder_org_id()},
      {"purpose", s.purpose_id()},
      {"case", s.case_id().empty() ? "-" : s.case_id()},
      {"subjects", Subjects(disclosure)},
      {"fields asked", JoinList(FieldNames(s.ask().fields()))},
      {"categories", JoinList(categories, ", ", "every category the policy allows")},
      {"reason asked", s.ask().reason()},
      {"asked by", disclosure.requested_by_user_id().empty() ? "-"
                                                             : disclosure.requested_by_user_id()},
      {"asked at", FormatTime(s.requested_at())},
      {"state", EnumName(s.state())},
  };
  if (s.reason() != schakel::v1::DENIAL_REASON_UNSPECIFIED) {
    fields.emplace_back("why", EnumName(s.reason()));
  }
  if (!s.detail().empty()) fields.emplace_back("detail", s.detail());
  if (s.has_decide_by()) fields.emplace_back("decide by", FormatTime(s.decide_by()));
  if (s.has_decided_at()) fields.emplace_back("decided at", FormatTime(s.decided_at()));
  if (s.sealed().has_statement()) {
    const schakel::v1::DisclosureStatement& statement = s.sealed().statement();
    fields.emplace_back("decision", EnumName(statement.decision()));
    std::string by = statement.decided_by_user_id();
    if (by.empty()) by = statement.rule().empty() ? "-" : StrCat("rule ", statement.rule());
    fields.emplace_back("decided by", by);
    if (!statement.reason().empty()) fields.emplace_back("decision reason", statement.reason());
    if (statement.fields_disclosed_size() > 0) {
      fields.emplace_back("fields disclosed", JoinList(FieldNames(statement.fields_disclosed())));
      fields.emplace_back("signals disclosed", StrCat(statement.signal_count()));
    }
    if (!statement.payload_hash().empty()) {
      fields.emplace_back("payload hash", HexId(statement.payload_hash()));
    }
  }
  if (!disclosure.verification_problem().empty()) {
    fields.emplace_back("not verified", disclosure.verification_problem());
  }
  PrintFields(fields, out);

  if (!disclosure.has_content()) return;
  const schakel::v1::DisclosedContent& content = disclosure.content();
  std::map<uint32_t, std::string> labels;
  for (int i = 0; i < s.subject_indices_size() && i < disclosure.subject_labels_size(); ++i) {
    labels[s.subject_indices(i)] = disclosure.subject_labels(i);
  }
  out << "\n";
  if (content.signals_size() == 0) {
    out << "no signal disclosed: the subjects' tags resolve to no signal at "
        << s.responder_org_id() << " any more (e.g. expired since the match)\n";
    return;
  }
  for (int i = 0; i < content.signals_size(); ++i) {
    const schakel::v1::DisclosedSignal& signal = content.signals(i);
    auto label = labels.find(signal.subject_index());
    out << "signal " << i + 1 << " of " << content.signals_size() << ", subject #"
        << signal.subject_index()
        << (label == labels.end() || label->second.empty() ? "" : StrCat(" ", label->second))
        << ":\n";
    PrintSignal(signal, out);
    if (i + 1 < content.signals_size()) out << "\n";
  }
}

void RegisterDiscloseCommands(CLI::App& app, CommandContext& context) {
  {
    auto flags = std::make_shared<DiscloseFlags>();
    CLI::App* disclose = app.add_subcommand(
        "disclose", "Ask a partner to disclose fields about subjects that hit there (analyst)");
    disclose->add_option("--exchange", flags->exchange,
                         "the exchange id 'schakel match' printed (32 hex digits)");
    disclose->add_option("--match", flags->match_file,
                         "instead of --exchange: the file 'schakel match --json' wrote");
    disclose->add_option("--partner", flags->partner, "the partner asked to disclose")
        ->required();
    disclose
        ->add_option("--subject", flags->subjects,
                     "subject index from the match (repeatable, or comma-separated)")
        ->delimiter(',');
    disclose->add_option("--family", flags->family,
                         "instead of --subject: your family id; asks about every member that "
                         "hit at the partner (needs --match)");
    disclose
        ->add_option("--fields", flags->fields,
                     StrCat("fields asked for, comma-separated: ",
                            EnumNames<schakel::v1::SignalField>()))
        ->delimiter(',')
        ->required();
    disclose
        ->add_option("--categories", flags->categories,
                     "only signals of these categories, comma-separated (default: every "
                     "category the policy allows)")
        ->delimiter(',');
    disclose->add_option("--reason", flags->reason,
                         "why you need it, for the partner's approver and the log; no "
                         "identifiers")
        ->required();
    AddWaitFlags(*disclose, flags->wait);
    disclose->add_flag("--json", flags->json, "print the AskDisclosureResponse as JSON");
    AddConnectionFlags(*disclose, flags->connection);
    disclose->footer(HelpFooter(
        "Examples:\n"
        "  schakel disclose --exchange 5f1c0d9e8a7b6c5d4e3f2a1b0c9d8e7f --partner politie \\\n"
        "      --subject 0 --fields contact_name,contact_phone \\\n"
        "      --reason \"afstemming aanpak casus wijk Noord\" --wait\n"
        "  schakel match --purpose zvh.casusoverleg --case 2025-0042 --subjects gezin.csv \\\n"
        "      --json > match.json\n"
        "  schakel disclose --match match.json --partner zorg --family fam-1 \\\n"
        "      --fields category,contact_name --reason \"gezamenlijk plan van aanpak\"\n"
        "\n"
        "The partner's node decides under its own policy: at once under a mandate, or\n"
        "later by an approver (state pending_approval; follow it with 'schakel\n"
        "disclosures show ID --wait'). Exit 0: delivered, or pending without --wait;\n"
        "6: denied, refused or expired; 4: partner unavailable, or still pending when\n"
        "--wait ended (the request stands); 5: the payload failed verification."));
    disclose->callback([flags, &context] { RunDisclose(*flags, context); });
  }
  CLI::App* disclosures = app.add_subcommand(
      "disclosures", "The disclosures you asked for: list them, show one with its content");
  disclosures->require_subcommand(1);
  disclosures->footer(std::string(kExitCodesHelp));
  {
    auto flags = std::make_shared<ListFlags>();
    CLI::App* list =
        disclosures->add_subcommand("list", "List the disclosures you asked for, newest first");
    list->add_option("--state", flags->states,
                     StrCat("only this state (repeatable): ", EnumNames<DisclosureState>()));
    list->add_option("--exchange", flags->exchange, "only this exchange (32 hex digits)");
    list->add_option("--limit", flags->limit, "at most this many (default: all)");
    list->add_flag("--json", flags->json, "print one OutgoingDisclosure per line as JSON");
    AddConnectionFlags(*list, flags->connection);
    list->footer(HelpFooter("Example:\n  schakel disclosures list --state pending_approval"));
    list->callback([flags, &context] { RunList(*flags, context); });
  }
  {
    auto flags = std::make_shared<ShowFlags>();
    CLI::App* show = disclosures->add_subcommand(
        "show", "Show one disclosure; once delivered, a table per disclosed signal");
    show->add_option("ID", flags->id, "the disclosure id (32 hex digits)")->required();
    AddWaitFlags(*show, flags->wait);
    show->add_flag("--json", flags->json, "print the OutgoingDisclosure as JSON");
    AddConnectionFlags(*show, flags->connection);
    show->footer(HelpFooter(
        "Example:\n"
        "  schakel disclosures show 0a1b2c3d4e5f60718293a4b5c6d7e8f9 --wait\n"
        "\n"
        "Exit codes as for 'schakel disclose': 0 delivered or pending, 6 denied, refused\n"
        "or expired, 4 unavailable or still pending after --wait, 5 not verified."));
    show->callback([flags, &context] { RunShow(*flags, context); });
  }
}

}  // namespace schakel::cli
