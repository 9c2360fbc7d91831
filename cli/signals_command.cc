#include "cli/signals_command.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "cli/connection.h"
#include "cli/import_command.h"
#include "cli/import_parser.h"
#include "cli/proto_text.h"
#include "cli/table.h"
#include "common/strings.h"
#include "schakel/v1/signals.grpc.pb.h"

namespace schakel::cli {
namespace {

using schakel::v1::Signal;

constexpr std::string_view kReadRoles = "professional or admin";
constexpr std::string_view kChangeRoles = "admin, unless you registered the signal yourself";

// "--given-names" for "given_names".
std::string FlagOf(std::string_view column) {
  std::string flag = StrCat("--", column);
  for (char& c : flag) c = c == '_' ? '-' : c;
  return flag;
}

std::string ColumnHelp(std::string_view column) {
  static const auto* help = new std::map<std::string_view, std::string>{
      {"signal_id", "the signal's id, 1-64 of [A-Za-z0-9_-] (default: the node assigns one)"},
      {"bsn", "burgerservicenummer, 9 digits (8 are padded by the node)"},
      {"given_names", "given names as registered, e.g. \"Jan Pieter\""},
      {"surname", "surname, possibly with its prefix, e.g. \"van der Berg\""},
      {"surname_prefix", "tussenvoegsel when registered separately, e.g. \"van der\""},
      {"birth_date", "date of birth: YYYY-MM-DD, DD-MM-YYYY or D-M-YYYY"},
      {"postcode", "postcode, 4 digits and 2 letters"},
      {"house_number", "house number, optionally with suffix: 12, 12A, \"12 bis\", 12-2"},
      {"house_number_suffix", "house number suffix, when not in --house-number"},
      {"street", "street (not used for matching)"},
      {"city", "place (not used for matching)"},
      {"family_id", "your own family or household id (never leaves the node)"},
      {"relation", StrCat("relation within the family: ", EnumNames<schakel::v1::Relation>())},
      {"category", "category from the node's list, e.g. huiselijk-geweld"},
      {"domain", StrCat("domain: ", EnumNames<schakel::v1::Domain>(),
                        " (default: the organisation's)")},
      {"registered_at", "when registered: YYYY-MM-DD or RFC 3339 (default: now)"},
      {"expires_at", "when it expires: YYYY-MM-DD or RFC 3339 (default: by category)"},
      {"contact_name", "contact person for partners"},
      {"contact_phone", "contact person's telephone number"},
      {"contact_email", "contact person's e-mail address"},
      {"contact_unit", "contact person's team or department"},
      {"free_text", "free text, at most 10,000 characters"},
  };
  auto it = help->find(column);
  return it == help->end() ? std::string() : it->second;
}

// The field flags of add/update, bound to one value per column.
struct FieldFlags {
  std::vector<std::string> values = std::vector<std::string>(SignalColumns().size());
  std::vector<CLI::Option*> options = std::vector<CLI::Option*>(SignalColumns().size(), nullptr);

  void Add(CLI::App& command, bool with_signal_id) {
    for (size_t i = 0; i < SignalColumns().size(); ++i) {
      const std::string_view column = SignalColumns()[i];
      if (column == "signal_id" && !with_signal_id) continue;
      options[i] = command.add_option(FlagOf(column), values[i], ColumnHelp(column))
                       ->group("Signal fields");
    }
  }

  // (column, value) of every flag given.
  std::vector<std::pair<std::string_view, std::string>> Given() const {
    std::vector<std::pair<std::string_view, std::string>> given;
    for (size_t i = 0; i < options.size(); ++i) {
      if (options[i] != nullptr && options[i]->count() > 0) {
        given.emplace_back(SignalColumns()[i], values[i]);
      }
    }
    return given;
  }
};

// Applies flags to `signal`; on problems fails the context (exit 3) naming
// the flags and returns false.
bool ApplyFlags(const std::vector<std::pair<std::string_view, std::string>>& given,
                Signal& signal, bool empty_clears, CommandContext& context) {
  std::vector<std::string> problems;
  // The house number and its suffix are replaced together.
  for (const auto& [column, value] : given) {
    if (column == "house_number" || column == "house_number_suffix") {
      ClearSignalColumn("house_number", signal);
    }
  }
  for (const auto& [column, value] : given) {
    if (empty_clears && value.find_first_not_of(" \t") == std::string::npos) {
      ClearSignalColumn(column, signal);
      continue;
    }
    std::string problem;
    if (!SetSignalColumn(column, value, signal, problem)) {
      problems.push_back(StrCat(FlagOf(column), ": ", problem));
    }
  }
  if (problems.empty()) return true;
  context.Fail(ExitCode::kInvalidInput, JoinList(problems, "; "),
               "correct the flag(s) named above; nothing was sent to the node");
  return false;
}

std::optional<std::string> ReadSmallFile(const std::string& path, CommandContext& context) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    context.Fail(ExitCode::kInvalidInput, StrCat("cannot read ", path),
                 "give the path of an existing, readable file");
    return std::nullopt;
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (text.str().size() > (size_t{1} << 20)) {
    context.Fail(ExitCode::kInvalidInput, StrCat(path, " is larger than 1 MiB"),
                 "--json-file holds one signal; use 'schakel signals import' for many");
    return std::nullopt;
  }
  return text.str();
}

std::string KeyTypes(const Signal& signal) {
  std::vector<std::string> names;
  for (int type : signal.key_types()) {
    names.push_back(EnumName(static_cast<schakel::v1::MatchKeyType>(type)));
  }
  return JoinList(names, ", ", "none");
}

std::string TaggedFor(const Signal& signal) {
  std::vector<std::string> purposes(signal.tagged_purpose_ids().begin(),
                                    signal.tagged_purpose_ids().end());
  return JoinList(purposes, ", ", "no purpose (its category is matchable under none)");
}

// What add and update print: nothing identifying.
void PrintSummary(std::string_view what, const Signal& signal, std::ostream& out) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"signal", StrCat(signal.signal_id(), " (", what, ")")},
      {"version", StrCat(signal.version())},
      {"category", signal.category()},
      {"domain", EnumName(signal.domain())},
      {"expires", FormatDate(signal.expires_at())},
      {"key types", KeyTypes(signal)},
      {"tagged for", TaggedFor(signal)},
  };
  if (signal.address_excluded()) {
    fields.emplace_back("address", "on the exclusion list: no address key");
  }
  PrintFields(fields, out);
}

std::string Indented(const std::string& text) {
  std::string out;
  for (char c : text) {
    out += c;
    if (c == '\n') out += "  ";
  }
  return out;
}

// --- add ---------------------------------------------------------------

struct AddFlags {
  FieldFlags fields;
  std::string json_file;
  bool json = false;
  ConnectionFlags connection;
};

void RunAdd(const AddFlags& flags, CommandContext& context) {
  Signal signal;
  if (!flags.json_file.empty()) {
    auto text = ReadSmallFile(flags.json_file, context);
    if (!text.has_value()) return;
    std::vector<LineProblem> problems;
    if (!ParseSignalJson(*text, 0, signal, problems)) {
      std::vector<std::string> lines;
      for (const LineProblem& p : problems) lines.push_back(FormatLineProblem(p));
      context.Fail(ExitCode::kInvalidInput,
                   StrCat(flags.json_file, ": ", JoinList(lines, "; ")),
                   "--json-file holds one JSON object with the import columns as keys "
                   "(docs/cli.md, \"Import files\")");
      return;
    }
  }
  const auto given = flags.fields.Given();
  if (flags.json_file.empty() && given.empty()) {
    context.Fail(ExitCode::kUsageError, "no signal fields given",
                 "give at least --category and the subject (e.g. --bsn), or --json-file FILE; "
                 "run 'schakel signals add --help' for an example");
    return;
  }
  if (!ApplyFlags(given, signal, /*empty_clears=*/false, context)) return;

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();
  schakel::v1::AddSignalRequest request;
  *request.mutable_signal() = std::move(signal);
  schakel::v1::AddSignalResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->AddSignal(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"add the signal", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.signal(), /*pretty=*/true) << "\n";
  } else {
    PrintSummary("added", response.signal(), context.out());
  }
}

// --- get ---------------------------------------------------------------

struct IdFlags {
  std::string signal_id;
  bool json = false;
  ConnectionFlags connection;
};

void RunGet(const IdFlags& flags, CommandContext& context) {
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();
  schakel::v1::GetSignalRequest request;
  request.set_signal_id(flags.signal_id);
  schakel::v1::GetSignalResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->GetSignal(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"get the signal", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.signal(), /*pretty=*/true) << "\n";
  } else {
    PrintSignal(response.signal(), context.out());
  }
}

// --- list --------------------------------------------------------------

struct ListFlags {
  std::vector<std::string> categories, domains;
  std::string owner, registered_from, registered_until, expires_before, family_id;
  std::string bsn, given_names, surname, birth_date, postcode, house_number;
  uint64_t limit = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunList(const ListFlags& flags, CommandContext& context) {
  schakel::v1::ListSignalsRequest request;
  std::vector<std::string> problems;
  for (const std::string& category : flags.categories) request.add_categories(category);
  for (const std::string& domain : flags.domains) {
    auto parsed = ParseEnumName<schakel::v1::Domain>(domain, "--domain");
    if (parsed.ok()) {
      request.add_domains(*parsed);
    } else {
      problems.emplace_back(parsed.status().message());
    }
  }
  request.set_owner_user_id(flags.owner);
  // Only a flag given sets its field (an empty Timestamp would mean 1970).
  auto time_flag = [&problems](const std::string& value, std::string_view flag,
                               const std::function<google::protobuf::Timestamp*()>& out) {
    if (value.empty()) return;
    auto time = ParseTime(value, flag);
    if (time.ok()) {
      *out() = *time;
    } else {
      problems.emplace_back(time.status().message());
    }
  };
  time_flag(flags.registered_from, "--registered-from",
            [&request] { return request.mutable_registered()->mutable_from(); });
  time_flag(flags.registered_until, "--registered-until",
            [&request] { return request.mutable_registered()->mutable_to(); });
  time_flag(flags.expires_before, "--expires-before",
            [&request] { return request.mutable_expires_before(); });
  request.set_family_id(flags.family_id);
  request.set_limit(flags.limit);
  Signal subject_holder;
  const std::vector<std::pair<std::string_view, const std::string*>> subject_flags = {
      {"bsn", &flags.bsn},           {"given_names", &flags.given_names},
      {"surname", &flags.surname},   {"birth_date", &flags.birth_date},
      {"postcode", &flags.postcode}, {"house_number", &flags.house_number}};
  bool any_subject = false;
  for (const auto& [column, value] : subject_flags) {
    if (value->empty()) continue;
    any_subject = true;
    std::string problem;
    if (!SetSignalColumn(column, *value, subject_holder, problem)) {
      problems.push_back(StrCat(FlagOf(column), ": ", problem));
    }
  }
  if (any_subject) *request.mutable_subject() = subject_holder.subject();
  if (!problems.empty()) {
    context.Fail(ExitCode::kInvalidInput, JoinList(problems, "; "),
                 "correct the filter flag(s) named above");
    return;
  }

  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();
  auto call = connection->NewCall(kStreamTimeout);
  auto reader = client->ListSignals(call.get(), request);
  Table table({"signal_id", "category", "domain", "registered", "expires", "owner", "key types"});
  schakel::v1::ListSignalsResponse response;
  uint64_t count = 0;
  while (reader->Read(&response)) {
    for (const Signal& signal : response.signals()) {
      ++count;
      if (flags.json) {
        context.out() << ToJson(signal) << "\n";
        continue;
      }
      table.AddRow({signal.signal_id(), signal.category(), EnumName(signal.domain()),
                    FormatDate(signal.registered_at()), FormatDate(signal.expires_at()),
                    signal.owner_user_id(), KeyTypes(signal)});
    }
  }
  const grpc::Status status = reader->Finish();
  if (!status.ok()) {
    connection->Fail(status, {"list signals", std::string(kReadRoles)}, context);
    return;
  }
  if (flags.json) return;
  if (count == 0) {
    context.out() << "no signals match\n";
    return;
  }
  table.Print(context.out());
  context.out() << "\n" << count << (count == 1 ? " signal" : " signals") << "\n";
}

// --- update ------------------------------------------------------------

struct UpdateFlags {
  std::string signal_id;
  FieldFlags fields;
  uint64_t expected_version = 0;
  std::string reason;
  bool json = false;
  ConnectionFlags connection;
};

void RunUpdate(const UpdateFlags& flags, CommandContext& context) {
  const auto given = flags.fields.Given();
  if (given.empty()) {
    context.Fail(ExitCode::kUsageError, "no field to change given",
                 "give the fields to change as flags, e.g. --expires-at 2026-12-31; run "
                 "'schakel signals update --help'");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();

  // Read first: "subject.address" and "contact" are replaced as a whole, so
  // the fields not given must be sent as they are.
  schakel::v1::GetSignalRequest get;
  get.set_signal_id(flags.signal_id);
  schakel::v1::GetSignalResponse current;
  auto get_call = connection->NewCall(kCallTimeout);
  grpc::Status status = client->GetSignal(get_call.get(), get, &current);
  if (!status.ok()) {
    connection->Fail(status, {"read the signal before changing it", std::string(kReadRoles)},
                     context);
    return;
  }
  Signal signal = current.signal();
  if (!ApplyFlags(given, signal, /*empty_clears=*/true, context)) return;

  schakel::v1::UpdateSignalRequest request;
  *request.mutable_signal() = std::move(signal);
  request.mutable_signal()->set_signal_id(flags.signal_id);
  std::vector<std::string> paths;
  for (const auto& [column, value] : given) {
    const std::string path = UpdatePathOf(column);
    if (!path.empty() && std::find(paths.begin(), paths.end(), path) == paths.end()) {
      paths.push_back(path);
      request.mutable_update_mask()->add_paths(path);
    }
  }
  request.set_expected_version(flags.expected_version != 0 ? flags.expected_version
                                                           : current.signal().version());
  request.set_reason(flags.reason);
  schakel::v1::UpdateSignalResponse response;
  auto call = connection->NewCall(kCallTimeout);
  status = client->UpdateSignal(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"change the signal", std::string(kChangeRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response.signal(), /*pretty=*/true) << "\n";
  } else {
    PrintSummary(StrCat("changed: ", JoinList(paths)), response.signal(), context.out());
  }
}

// --- delete ------------------------------------------------------------

struct DeleteFlags {
  std::string signal_id;
  std::string reason;
  uint64_t expected_version = 0;
  bool json = false;
  ConnectionFlags connection;
};

void RunDelete(const DeleteFlags& flags, CommandContext& context) {
  if (flags.reason.find_first_not_of(" \t") == std::string::npos) {
    context.Fail(ExitCode::kUsageError, "--reason is empty",
                 "say why the signal is deleted, e.g. --reason correction or --reason "
                 "\"erasure request\"");
    return;
  }
  auto connection = NodeConnection::Open(flags.connection, context);
  if (!connection) return;
  auto client = connection->Client<schakel::v1::Signals>();
  schakel::v1::DeleteSignalRequest request;
  request.set_signal_id(flags.signal_id);
  request.set_reason(flags.reason);
  request.set_expected_version(flags.expected_version);
  schakel::v1::DeleteSignalResponse response;
  auto call = connection->NewCall(kCallTimeout);
  const grpc::Status status = client->DeleteSignal(call.get(), request, &response);
  if (!status.ok()) {
    connection->Fail(status, {"delete the signal", std::string(kChangeRoles)}, context);
    return;
  }
  if (flags.json) {
    context.out() << ToJson(response, /*pretty=*/true) << "\n";
    return;
  }
  PrintFields({{"signal", StrCat(flags.signal_id, " (deleted)")},
               {"deleted at", FormatTime(response.deleted_at())},
               {"tags withdrawn", StrCat(response.tags_withdrawn())}},
              context.out());
}

void AddJsonFlag(CLI::App& command, bool& json, std::string_view what) {
  command.add_flag("--json", json, StrCat("print ", what, " as JSON instead of text"));
}

}  // namespace

void PrintSignal(const Signal& signal, std::ostream& out) {
  const schakel::v1::Subject& s = signal.subject();
  std::vector<std::pair<std::string, std::string>> fields = {
      {"signal_id", signal.signal_id()},
      {"category", signal.category()},
      {"domain", EnumName(signal.domain())},
      {"bsn", s.bsn().empty() ? "-" : s.bsn()},
      {"given_names", s.given_names().empty() ? "-" : s.given_names()},
      {"surname", s.surname().empty() ? "-" : s.surname()},
  };
  if (!s.surname_prefix().empty()) fields.emplace_back("surname_prefix", s.surname_prefix());
  fields.emplace_back("birth_date", s.birth_date().empty() ? "-" : s.birth_date());
  if (s.has_address()) {
    const schakel::v1::Address& a = s.address();
    std::string address = StrCat(a.postcode(), " ", a.house_number(), a.house_number_suffix());
    if (!a.street().empty() || !a.city().empty()) {
      address += StrCat(" (", a.street(), a.street().empty() || a.city().empty() ? "" : ", ",
                        a.city(), ")");
    }
    fields.emplace_back("address", address);
  } else {
    fields.emplace_back("address", "-");
  }
  fields.emplace_back("family_id", s.family_id().empty() ? "-" : s.family_id());
  fields.emplace_back("relation", s.relation() == schakel::v1::RELATION_UNSPECIFIED
                                      ? "-"
                                      : EnumName(s.relation()));
  if (signal.has_contact()) {
    const schakel::v1::ContactPerson& c = signal.contact();
    std::vector<std::string> parts;
    for (const std::string* part : {&c.name(), &c.unit(), &c.phone(), &c.email()}) {
      if (!part->empty()) parts.push_back(*part);
    }
    fields.emplace_back("contact", JoinList(parts));
  } else {
    fields.emplace_back("contact", "-");
  }
  fields.emplace_back("registered_at", FormatTime(signal.registered_at()));
  fields.emplace_back("expires_at", FormatTime(signal.expires_at()));
  fields.emplace_back("updated_at", FormatTime(signal.updated_at()));
  fields.emplace_back("owner", signal.owner_user_id().empty() ? "-" : signal.owner_user_id());
  fields.emplace_back("version", StrCat(signal.version()));
  fields.emplace_back("key types", KeyTypes(signal));
  fields.emplace_back("tagged for", TaggedFor(signal));
  if (signal.address_excluded()) {
    fields.emplace_back("address excluded", "yes (institutional address: no address key)");
  }
  fields.emplace_back("free_text", signal.free_text().empty() ? "-" : Indented(signal.free_text()));
  PrintFields(fields, out);
}

CLI::App* RegisterSignalsCommands(CLI::App& app, CommandContext& context) {
  CLI::App* signals =
      app.add_subcommand("signals", "Your organisation's signals on its node: add, get, list, "
                                    "update, delete, import");
  signals->require_subcommand(1);
  signals->footer(std::string(kExitCodesHelp));

  {
    auto flags = std::make_shared<AddFlags>();
    CLI::App* add = signals->add_subcommand("add", "Register a signal about a person");
    flags->fields.Add(*add, /*with_signal_id=*/true);
    add->add_option("--json-file", flags->json_file,
                    "read the fields from a JSON object (the import columns as keys); flags "
                    "override it");
    AddJsonFlag(*add, flags->json, "the stored signal");
    AddConnectionFlags(*add, flags->connection);
    add->footer(HelpFooter(
        "Example:\n"
        "  schakel signals add --category huiselijk-geweld --bsn 111222333 \\\n"
        "      --given-names \"Jan Peter\" --surname \"van der Berg\" --birth-date 1990-02-01 \\\n"
        "      --postcode 1234AB --house-number \"12 A\" --family-id fam-17 --relation parent \\\n"
        "      --contact-name \"J. de Boer\" --contact-phone \"+31 6 12345678\"\n"
        "\n"
        "Prints the new signal's id, version, key types and the purposes it is tagged for\n"
        "(no identifiers). Needs the role professional or admin."));
    add->callback([flags, &context] { RunAdd(*flags, context); });
  }
  {
    auto flags = std::make_shared<IdFlags>();
    CLI::App* get = signals->add_subcommand("get", "Show one signal with all its fields");
    get->add_option("ID", flags->signal_id, "the signal's id")->required();
    AddJsonFlag(*get, flags->json, "the signal");
    AddConnectionFlags(*get, flags->connection);
    get->footer(HelpFooter("Example:\n  schakel signals get zaak-2025-0117"));
    get->callback([flags, &context] { RunGet(*flags, context); });
  }
  {
    auto flags = std::make_shared<ListFlags>();
    CLI::App* list = signals->add_subcommand(
        "list", "List signals (a table without identifiers), filtered, ordered by id");
    list->add_option("--category", flags->categories, "only this category (repeatable)");
    list->add_option("--domain", flags->domains,
                     StrCat("only this domain (repeatable): ", EnumNames<schakel::v1::Domain>()));
    list->add_option("--owner", flags->owner, "only signals registered by this user id");
    list->add_option("--registered-from", flags->registered_from,
                     "registered at or after: YYYY-MM-DD or RFC 3339");
    list->add_option("--registered-until", flags->registered_until,
                     "registered before: YYYY-MM-DD or RFC 3339");
    list->add_option("--expires-before", flags->expires_before,
                     "only signals expiring before: YYYY-MM-DD or RFC 3339");
    list->add_option("--family-id", flags->family_id, "only this family id");
    const std::string subject_group = "Only signals about this person (same match keys)";
    list->add_option("--bsn", flags->bsn, "BSN")->group(subject_group);
    list->add_option("--given-names", flags->given_names, "given names")->group(subject_group);
    list->add_option("--surname", flags->surname, "surname")->group(subject_group);
    list->add_option("--birth-date", flags->birth_date, "date of birth")->group(subject_group);
    list->add_option("--postcode", flags->postcode, "postcode")->group(subject_group);
    list->add_option("--house-number", flags->house_number, "house number")
        ->group(subject_group);
    list->add_option("--limit", flags->limit, "at most this many (default: all)");
    AddJsonFlag(*list, flags->json, "every signal, one JSON object per line,");
    AddConnectionFlags(*list, flags->connection);
    list->footer(HelpFooter(
        "Examples:\n"
        "  schakel signals list --category overlast --expires-before 2025-12-31\n"
        "  schakel signals list --bsn 111222333\n"
        "  schakel signals list --json > signals.jsonl   (re-importable)"));
    list->callback([flags, &context] { RunList(*flags, context); });
  }
  {
    auto flags = std::make_shared<UpdateFlags>();
    CLI::App* update = signals->add_subcommand(
        "update", "Change fields of a signal; fields not given stay as they are");
    update->add_option("ID", flags->signal_id, "the signal's id")->required();
    flags->fields.Add(*update, /*with_signal_id=*/false);
    update->add_option("--expected-version", flags->expected_version,
                       "refuse the change unless the signal still has this version (default: "
                       "the version read just before)");
    update->add_option("--reason", flags->reason, "why it changes (logged on the node)");
    AddJsonFlag(*update, flags->json, "the changed signal");
    AddConnectionFlags(*update, flags->connection);
    update->footer(HelpFooter(
        "Examples:\n"
        "  schakel signals update zaak-2025-0117 --expires-at 2026-06-30 --reason verlenging\n"
        "  schakel signals update zaak-2025-0117 --family-id \"\"   (an empty value clears a "
        "field)\n"
        "\n"
        "Needs the role admin, unless you registered the signal yourself."));
    update->callback([flags, &context] { RunUpdate(*flags, context); });
  }
  {
    auto flags = std::make_shared<DeleteFlags>();
    CLI::App* del = signals->add_subcommand(
        "delete", "Delete a signal (correction or erasure); its tags are withdrawn");
    del->add_option("ID", flags->signal_id, "the signal's id")->required();
    del->add_option("--reason", flags->reason, "why, e.g. correction, \"erasure request\"")
        ->required();
    del->add_option("--expected-version", flags->expected_version,
                    "refuse unless the signal still has this version");
    AddJsonFlag(*del, flags->json, "the result");
    AddConnectionFlags(*del, flags->connection);
    del->footer(HelpFooter(
        "Example:\n  schakel signals delete zaak-2025-0117 --reason \"erasure request\""));
    del->callback([flags, &context] { RunDelete(*flags, context); });
  }
  RegisterImportCommand(*signals, context);
  return signals;
}

}  // namespace schakel::cli
