#include "cli/match_command.h"

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/files.h"
#include "cli/import_parser.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "schakel/v1/local.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::MatchResponse;
using schakel::v1::MatchSubject;

struct MatchFlags {
  std::string purpose, case_id, subjects_file, label, save;
  std::vector<std::string> partners;
  std::string bsn, given_names, surname, birth_date, postcode, house_number;
  bool json = false;
  ConnectionFlags connection;
};

// Key types that hit at one partner, "bsn,name_dob", or "-".
std::string HitCell(const schakel::v1::PartnerMatch& match) {
  std::vector<std::string> types;
  for (const schakel::v1::KeyTypeMatch& key : match.key_types()) {
    if (key.hit()) types.push_back(EnumName(key.key_type()));
  }
  return match.hit() && !types.empty() ? JoinList(types, ",") : "-";
}

std::string Relation(schakel::v1::Relation relation) {
  return relation == schakel::v1::RELATION_UNSPECIFIED ? "-" : EnumName(relation);
}

void RunMatch(const MatchFlags& flags, CommandContext& context) {
  schakel::v1::MatchRequest request;
  request.set_purpose_id(flags.purpose);
  request.set_case_id(flags.case_id);
  for (const std::string& partner : flags.partners) request.add_partner_org_ids(partner);

  // Where each subject came from, for the node's messages.
  std::vector<std::string> origins;
  const bool any_flag = !flags.bsn.empty() || !flags.given_names.empty() ||
                        !flags.surname.empty() || !flags.birth_date.empty() ||
                        !flags.postcode.empty() || !flags.house_number.empty();
  if (!flags.subjects_file.empty()) {
    if (any_flag) {
      context.Fail(ExitCode::kUsageError,
                   "give the subjects either with --subjects FILE or with identifier flags, not "
                   "both",
                   "run 'schakel match --help' for examples");
      return;
    }
    std::ifstream in(flags.subjects_file, std::ios::binary);
    if (!in) {
      context.Fail(ExitCode::kInvalidInput, StrCat("cannot read ", flags.subjects_file),
                   "give the path of an existing, readable CSV file");
      return;
    }
    std::vector<LineProblem> problems;
    auto subjects = ReadSubjectsCsv(in, problems);
    if (!subjects.ok()) {
      context.Fail(ExitCode::kInvalidInput,
                   StrCat(flags.subjects_file, ": ", subjects.status().message()),
                   "the first row names the columns: label, bsn, given_names, surname, "
                   "surname_prefix, birth_date, postcode, house_number, house_number_suffix, "
                   "family_id, relation; nothing was sent");
      return;
    }
    if (!problems.empty()) {
      for (const LineProblem& problem : problems) {
        context.err() << flags.subjects_file << ": " << FormatLineProblem(problem) << "\n";
      }
      context.Fail(ExitCode::kInvalidInput,
                   StrCat(problems.size(), problems.size() == 1 ? " problem" : " problems",
                          " in ", flags.subjects_file, "; nothing was sent"),
                   "correct the lines listed above and run the match again");
      return;
    }
    if (subjects->empty()) {
      context.Fail(ExitCode::kInvalidInput, StrCat(flags.subjects_file, " has no subjects"),
                   "add one row per person after the header row");
      return;
    }
    // The line is in the default label; keep it for messages in any case.
    for (MatchSubject& subject : *subjects) {
      origins.push_back(StrCat(flags.subjects_file, " (", subject.label(), ")"));
      *request.add_subjects() = std::move(subject);
    }
  } else {
    if (!any_flag) {
      context.Fail(ExitCode::kUsageError,
                   "no subject given: use --bsn, or --surname with --given-names and "
                   "--birth-date, or --postcode with --house-number, or --subjects FILE.csv",
                   "run 'schakel match --help' for examples");
      return;
    }
    const bool some_name =
        !flags.given_names.empty() || !flags.surname.empty() || !flags.birth_date.empty();
    const bool all_name =
        !flags.given_names.empty() && !flags.surname.empty() && !flags.birth_date.empty();
    if (some_name && !all_name) {
      context.Fail(ExitCode::kUsageError,
                   "--given-names, --surname and --birth-date go together (one key)",
                   "give all three, or leave them out");
      return;
    }
    if (flags.postcode.empty() != flags.house_number.empty()) {
      context.Fail(ExitCode::kUsageError, "--postcode and --house-number go together (one key)",
                   "give both, or leave them out");
      return;
    }
    MatchSubject subject;
    subject.set_label(flags.label.empty() ? "subject" : flags.label);
    std::vector<std::string> problems;
    for (const auto& [column, value] :
         std::vector<std::pair<std::string_view, const std::string*>>{
             {"bsn", &flags.bsn},
             {"given_names", &flags.given_names},
             {"surname", &flags.surname},
             {"birth_date", &flags.birth_date},
             {"postcode", &flags.postcode},
             {"house_number", &flags.house_number}}) {
      std::string problem;
      if (!value->empty() && !SetSubjectColumn(column, *value, subject, problem)) {
        std::string flag = StrCat("--", column);
        for (char& c : flag) c = c == '_' ? '-' : c;
        problems.push_back(StrCat(flag, ": ", problem));
      }
    }
    if (!problems.empty()) {
      context.Fail(ExitCode::kInvalidInput, JoinList(problems, "; "),
                   "correct the flag(s) named above; nothing was sent");
      return;
    }
    origins.emplace_back("the subject given by flags");
    *request.add_subjects() = std::move(subject);
  }

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Matching>();
  MatchResponse response;
  auto call = connection->NewCall(kMatchTimeout);
  const grpc::Status status = client->Match(call.get(), request, &response);
  if (!status.ok()) {
    CallInfo info{"run the match", "analyst (or another role the purpose lets ask)", nullptr};
    info.field_name = [&origins](const std::string& field) {
      static const std::regex kSubject(R"(^subjects\[(\d+)\]\.?(.*)$)");
      std::smatch m;
      if (!std::regex_match(field, m, kSubject)) return field;
      const size_t index = std::stoul(m[1].str());
      if (index >= origins.size()) return field;
      std::string rest = m[2].str();
      if (rest.rfind("subject.", 0) == 0) rest = rest.substr(8);
      if (rest.rfind("address.", 0) == 0) rest = rest.substr(8);
      return StrCat(origins[index], rest.empty() ? "" : ": ", rest);
    };
    connection->Fail(status, info, context);
    return;
  }
  if (!flags.save.empty()) {
    if (absl::Status saved = WriteFileWhole(flags.save, ToJson(response, /*pretty=*/true) + "\n");
        !saved.ok()) {
      // The exchange happened (and is logged); only the copy is missing.
      context.Fail(ExitCode::kInternalError, std::string(saved.message()),
                   StrCat("the match ran (exchange ", crypto::ToHex(crypto::AsBytes(response.exchange_id())),
                          "); give --save a writable path next time"));
    }
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  PrintMatchTable(response, context.out());
}

}  // namespace

std::string PartnerStatusText(schakel::v1::PartnerStatus status) {
  switch (status) {
    case schakel::v1::PARTNER_STATUS_OK: return "OK";
    case schakel::v1::PARTNER_STATUS_REFUSED_BY_POLICY: return "refused by policy";
    case schakel::v1::PARTNER_STATUS_REFUSED_BY_NODE: return "refused by the partner";
    case schakel::v1::PARTNER_STATUS_UNAVAILABLE: return "unavailable";
    case schakel::v1::PARTNER_STATUS_TIMED_OUT: return "timed out";
    case schakel::v1::PARTNER_STATUS_INVALID_RESPONSE: return "invalid response";
    default: return "unknown";
  }
}

void PrintMatchTable(const MatchResponse& response, std::ostream& out) {
  const schakel::v1::MatchResult& result = response.result();
  std::vector<std::pair<std::string, std::string>> head = {
      {"exchange", crypto::ToHex(crypto::AsBytes(response.exchange_id()))},
      {"purpose", response.purpose_id()},
      {"case", response.case_id().empty() ? "-" : response.case_id()},
      {"policy", response.policy_version()},
      {"lawful basis", response.lawful_basis().reference()},
  };
  PrintFields(head, out);
  out << "\n";

  // Partners that answered, in the gateway's order: one column each.
  std::vector<std::string> answered;
  for (const schakel::v1::PartnerOutcome& partner : result.partners()) {
    if (partner.status() == schakel::v1::PARTNER_STATUS_OK) answered.push_back(partner.org_id());
  }
  std::map<uint32_t, const schakel::v1::SubjectMatch*> matches;
  for (const schakel::v1::SubjectMatch& match : result.subjects()) {
    matches[match.subject_index()] = &match;
  }
  std::map<uint32_t, std::string> labels;
  for (const schakel::v1::LocalSubject& subject : response.subjects()) {
    labels[subject.subject_index()] = subject.label();
  }

  // Rows grouped by family, families in order of first appearance, people
  // without a family last.
  std::vector<std::string> family_order;
  std::map<std::string, std::vector<const schakel::v1::LocalSubject*>> by_family;
  std::vector<const schakel::v1::LocalSubject*> alone;
  for (const schakel::v1::LocalSubject& subject : response.subjects()) {
    if (subject.family_id().empty()) {
      alone.push_back(&subject);
      continue;
    }
    auto& members = by_family[subject.family_id()];
    if (members.empty()) family_order.push_back(subject.family_id());
    members.push_back(&subject);
  }
  std::vector<std::string> header = {"family", "member", "relation"};
  header.insert(header.end(), answered.begin(), answered.end());
  Table table(header);
  auto add_row = [&](const schakel::v1::LocalSubject& subject) {
    std::vector<std::string> row = {subject.family_id().empty() ? "-" : subject.family_id(),
                                    subject.label(), Relation(subject.relation())};
    auto match = matches.find(subject.subject_index());
    for (const std::string& org : answered) {
      std::string cell = "?";
      if (match != matches.end()) {
        for (const schakel::v1::PartnerMatch& partner : match->second->partners()) {
          if (partner.org_id() == org) cell = HitCell(partner);
        }
      }
      row.push_back(cell);
    }
    table.AddRow(std::move(row));
  };
  for (const std::string& family : family_order) {
    for (const auto* subject : by_family[family]) add_row(*subject);
  }
  for (const auto* subject : alone) add_row(*subject);
  if (answered.empty()) {
    out << "no partner answered: nothing is known about hits (see the partners below)\n";
  } else {
    table.Print(out);
  }

  // Which domains know which members, per family.
  std::map<uint32_t, std::string> family_ids;
  for (const schakel::v1::LocalFamily& family : response.families()) {
    family_ids[family.family()] = family.family_id();
  }
  if (result.families_size() > 0) out << "\n";
  for (const schakel::v1::FamilySummary& family : result.families()) {
    const auto id = family_ids.find(family.family());
    std::string line =
        StrCat("family ", id == family_ids.end() ? StrCat("#", family.family()) : id->second, ": ",
               family.members_with_hit(), " of ", family.member_count(), " members known");
    for (const schakel::v1::DomainKnowledge& domain : family.domains()) {
      std::vector<std::string> members;
      for (uint32_t index : domain.subject_indices()) {
        auto label = labels.find(index);
        members.push_back(label == labels.end() ? StrCat("#", index) : label->second);
      }
      std::vector<std::string> orgs(domain.org_ids().begin(), domain.org_ids().end());
      line += StrCat("; ", EnumName(domain.domain()), " (", JoinList(orgs, ", "), "): ",
                     JoinList(members, ", "));
    }
    out << line << "\n";
  }

  out << "\n";
  Table partners({"partner", "domain", "status", "subjects hit", "detail"});
  for (const schakel::v1::PartnerOutcome& partner : result.partners()) {
    const bool ok = partner.status() == schakel::v1::PARTNER_STATUS_OK;
    std::string detail = partner.detail();
    if (partner.reason() != schakel::v1::DENIAL_REASON_UNSPECIFIED) {
      detail = StrCat(EnumName(partner.reason()), detail.empty() ? "" : ": ", detail);
    }
    partners.AddRow({partner.org_id(), EnumName(partner.domain()),
                     PartnerStatusText(partner.status()),
                     ok ? StrCat(partner.subjects_hit()) : std::string("-"),
                     detail.empty() ? "-" : detail});
  }
  partners.Print(out);
  const schakel::v1::MatchCounts& counts = result.counts();
  out << "\n"
      << counts.subjects_hit() << " of " << counts.subjects() << " subjects known to a partner; "
      << counts.partners_answered()
      << (counts.partners_answered() == 1 ? " partner answered, " : " partners answered, ")
      << counts.partners_failed() << " did not\n";
  out << "exchange id: " << crypto::ToHex(crypto::AsBytes(response.exchange_id())) << "\n";
}

void RegisterMatchCommand(CLI::App& app, CommandContext& context) {
  auto flags = std::make_shared<MatchFlags>();
  CLI::App* match = app.add_subcommand(
      "match", "Ask partners whether they know a person, a family or a list, under a purpose");
  match->add_option("--purpose", flags->purpose, "the purpose id")->required();
  match->add_option("--case", flags->case_id, "the case id (when the purpose requires a case)");
  match->add_option("--partners", flags->partners,
                    "only these partners, comma-separated (default: every permitted partner)")
      ->delimiter(',');
  match->add_option("--subjects", flags->subjects_file,
                    "CSV file with one subject per row (see below)");
  const std::string one = "One person (instead of --subjects)";
  match->add_option("--bsn", flags->bsn, "BSN")->group(one);
  match->add_option("--given-names", flags->given_names, "given names")->group(one);
  match->add_option("--surname", flags->surname, "surname")->group(one);
  match->add_option("--birth-date", flags->birth_date, "date of birth")->group(one);
  match->add_option("--postcode", flags->postcode, "postcode")->group(one);
  match->add_option("--house-number", flags->house_number, "house number")->group(one);
  match->add_option("--label", flags->label, "your label for the person in the output")
      ->group(one);
  match->add_flag("--json", flags->json, "print the whole MatchResponse as JSON");
  match->add_option("--save", flags->save,
                    "also write the whole MatchResponse as JSON to this file (mode 0600), "
                    "for 'schakel disclose --match FILE'");
  AddConnectionFlags(*match, flags->connection);
  match->footer(HelpFooter(
      "Examples:\n"
      "  schakel match --purpose riec.ondermijning --case 2025-0042 --bsn 111222333\n"
      "  schakel match --purpose riec.ondermijning --case 2025-0042 --subjects gezin.csv \\\n"
      "      --partners politie,gemeente\n"
      "\n"
      "gezin.csv (a header row, then one person per row; rows with the same family_id\n"
      "are one family):\n"
      "  label,bsn,given_names,surname,birth_date,family_id,relation\n"
      "  vader,111222333,,,,fam-1,parent\n"
      "  kind,,Sem,de Vries,2010-05-04,fam-1,child\n"
      "Columns: label, bsn, given_names, surname, surname_prefix, birth_date, postcode,\n"
      "house_number, house_number_suffix, family_id, relation.\n"
      "\n"
      "The table shows, per family and member, which key types hit at each partner\n"
      "that answered (\"-\": no hit), then each partner's status and the exchange id."));
  match->callback([flags, &context] { RunMatch(*flags, context); });
}

}  // namespace schakel::cli
