#include "cli/keys_command.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "crypto/hash.h"
#include "crypto/key_file.h"
#include "crypto/oprf.h"
#include "crypto/sealed_box.h"
#include "crypto/signing.h"

namespace schakel::cli {
namespace {

constexpr std::string_view kDeriveExample =
    "Example:\n"
    "  schakel keys derive --bsn 111222333 --given-names \"Jan Peter\" \\\n"
    "      --surname \"Berg, van der\" --birth-date 01-02-1990 \\\n"
    "      --postcode \"1234 ab\" --house-number \"12 A\"\n"
    "\n"
    "Give a BSN, or surname + given names + date of birth, or postcode + house\n"
    "number, or any combination of these groups. Dates: YYYY-MM-DD, DD-MM-YYYY or\n"
    "D-M-YYYY. Add --json for machine-readable output.";

constexpr std::string_view kInvalidInputHint =
    "correct the field(s) named above; 'schakel keys derive --help' lists the accepted forms";

// The flag values as CLI11 fills them in.
struct DeriveFlags {
  std::string bsn, given_names, surname, birth_date, postcode, house_number;
  bool json = false;
};

bool IsBlank(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c == ' ' || c == '\t'; });
}

void PrintJson(const std::vector<crypto::MatchKey>& keys, std::ostream& out) {
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (const crypto::MatchKey& key : keys) {
    list.push_back({{"type", crypto::MatchKeyTypeName(key.type)},
                    {"canonical", key.canonical},
                    {"oprf_input", key.OprfInput()}});
  }
  nlohmann::ordered_json doc;
  doc["keys"] = std::move(list);
  out << doc.dump(2) << "\n";
}

// One line on what normalisation did to the surname, if anything notable.
std::vector<std::string> SurnameNotes(const crypto::SubjectIdentifiers& subject) {
  std::vector<std::string> notes;
  if (!subject.surname.has_value()) return notes;
  auto parsed = crypto::ParseSurname(*subject.surname);
  if (!parsed.ok()) return notes;
  if (!parsed->stripped_tussenvoegsels.empty()) {
    std::string list;
    for (const std::string& t : parsed->stripped_tussenvoegsels) {
      list += StrCat(list.empty() ? "" : ", ", "\"", t, "\"");
    }
    notes.push_back(StrCat("surname: tussenvoegsels removed: ", list));
  }
  if (parsed->cores.size() > 1) {
    notes.emplace_back("surname: double surname, one key for the whole and one per part");
  }
  return notes;
}

void PrintTable(const std::vector<crypto::MatchKey>& keys,
                const crypto::SubjectIdentifiers& subject, std::ostream& out) {
  // One column width for every run, so that two outputs line up.
  constexpr std::string_view kTypeHeader = "type";
  size_t width = kTypeHeader.size();
  for (auto type : {crypto::MatchKeyType::kBsn, crypto::MatchKeyType::kNameDob,
                    crypto::MatchKeyType::kAddress}) {
    width = std::max(width, crypto::MatchKeyTypeName(type).size());
  }
  auto row = [&out, width](std::string_view type, std::string_view value) {
    out << type << std::string(width - type.size() + 2, ' ') << value << "\n";
  };
  row(kTypeHeader, "canonical key");
  for (const crypto::MatchKey& key : keys) row(crypto::MatchKeyTypeName(key.type), key.canonical);
  out << "\n";
  for (const std::string& note : SurnameNotes(subject)) out << note << "\n";
  out << "Two records match on a key type when these canonical keys are equal.\n";
}

constexpr std::string_view kGenerateExample =
    "Examples:\n"
    "  schakel keys generate --kind oprf --out /etc/schakel/keys/oprf.key\n"
    "  schakel keys generate --kind ed25519 --out /etc/schakel/keys/signing.key\n"
    "  schakel keys generate --kind x25519 --out /etc/schakel/keys/box.key\n"
    "\n"
    "Writes a new secret key file (mode 0600, format: docs/key-files.md) and prints\n"
    "only its public key and key id. An existing file is never replaced unless\n"
    "--force is given.";

struct GenerateFlags {
  std::string kind, out;
  bool force = false;
};

// The CLI's short kind names, and the file format's names.
absl::StatusOr<crypto::KeyKind> ParseCliKind(std::string_view name) {
  if (name == "oprf") return crypto::KeyKind::kOprfRistretto255Sha512;
  if (name == "ed25519") return crypto::KeyKind::kEd25519;
  if (name == "x25519") return crypto::KeyKind::kX25519;
  return crypto::ParseKeyKind(name);  // also accepts "oprf-ristretto255-sha512"
}

}  // namespace

std::string KeyIdHex(crypto::ByteView public_key) {
  const crypto::Blake2b256Digest digest = crypto::Blake2b256Hash(public_key);
  return crypto::ToHex(crypto::ByteView(digest.data(), 8));
}

absl::StatusOr<crypto::Bytes> GenerateKeyFile(crypto::KeyKind kind, const std::filesystem::path& out,
                                              crypto::Overwrite overwrite) {
  crypto::Bytes public_key;
  absl::Status saved;
  switch (kind) {
    case crypto::KeyKind::kOprfRistretto255Sha512: {
      const crypto::oprf::PrivateKey key = crypto::oprf::PrivateKey::Generate();
      const auto pk = key.public_key().bytes();
      public_key.assign(pk.begin(), pk.end());
      saved = crypto::SaveOprfKey(out, key, overwrite);
      break;
    }
    case crypto::KeyKind::kEd25519: {
      const crypto::SigningKey key = crypto::SigningKey::Generate();
      public_key = key.verify_key().ToBytes();
      saved = crypto::SaveSigningKey(out, key, overwrite);
      break;
    }
    case crypto::KeyKind::kX25519: {
      const crypto::BoxSecretKey key = crypto::BoxSecretKey::Generate();
      public_key = key.public_key().ToBytes();
      saved = crypto::SaveBoxSecretKey(out, key, overwrite);
      break;
    }
  }
  if (!saved.ok()) return saved;
  return public_key;
}

void RunKeysGenerate(const KeysGenerateRequest& request, CommandContext& context) {
  const crypto::Overwrite overwrite =
      request.force ? crypto::Overwrite::kReplace : crypto::Overwrite::kRefuse;
  absl::StatusOr<crypto::Bytes> generated = GenerateKeyFile(request.kind, request.out, overwrite);
  const absl::Status saved = generated.status();
  if (!saved.ok()) {
    const std::string message(saved.message());
    switch (saved.code()) {
      case absl::StatusCode::kAlreadyExists:
        context.Fail(ExitCode::kInvalidInput,
                     StrCat("key file ", request.out.string(),
                            " already exists; it was left unchanged"),
                     "choose another --out, or add --force to replace it (the old key is then "
                     "lost for good)");
        return;
      case absl::StatusCode::kNotFound:
      case absl::StatusCode::kPermissionDenied:
        context.Fail(ExitCode::kInvalidInput, message,
                     "--out must name a file in an existing directory you may write to");
        return;
      default:
        context.Fail(saved, "no key file was written");
        return;
    }
  }
  context.out() << "kind: " << crypto::KeyKindName(request.kind) << "\n"
                << "file: " << request.out.string() << "\n"
                << "public: " << crypto::ToHex(*generated) << "\n"
                << "key_id: " << KeyIdHex(*generated) << "\n";
}

void RunKeysDerive(const KeysDeriveRequest& request, CommandContext& context) {
  auto keys = crypto::DeriveMatchKeys(request.subject);
  if (!keys.ok()) {
    context.Fail(keys.status(), kInvalidInputHint);
    return;
  }
  if (request.json) {
    PrintJson(*keys, context.out());
  } else {
    PrintTable(*keys, request.subject, context.out());
  }
}

void RegisterKeysCommands(CLI::App& app, CommandContext& context) {
  CLI::App* keys = app.add_subcommand("keys", "Match keys: what a subject's identifiers become");
  keys->require_subcommand(1);

  CLI::App* generate = keys->add_subcommand(
      "generate", "Write a new secret key file (mode 0600) and print its public key and key id");
  auto gflags = std::make_shared<GenerateFlags>();
  generate->add_option("--kind", gflags->kind, "oprf, ed25519 or x25519")->required();
  generate->add_option("--out", gflags->out, "the key file to write")->required();
  generate->add_flag("--force", gflags->force, "replace an existing file");
  generate->footer(StrCat(kGenerateExample, "\n\n", kExitCodesHelp));
  generate->callback([gflags, &context] {
    auto kind = ParseCliKind(gflags->kind);
    if (!kind.ok()) {
      context.Fail(ExitCode::kUsageError,
                   StrCat("--kind \"", gflags->kind, "\" is not a key kind"),
                   "use --kind oprf, --kind ed25519 or --kind x25519");
      return;
    }
    if (gflags->out.empty()) {
      context.Fail(ExitCode::kUsageError, "--out is empty", "give the path of the key file");
      return;
    }
    RunKeysGenerate({.kind = *kind, .out = gflags->out, .force = gflags->force}, context);
  });
  keys->footer(std::string(kExitCodesHelp));

  CLI::App* derive = keys->add_subcommand(
      "derive",
      "Show the canonical match keys a subject yields (nothing secret is printed), to see why "
      "two records do or do not match");
  auto flags = std::make_shared<DeriveFlags>();
  CLI::Option* bsn = derive->add_option(
      "--bsn", flags->bsn, "burgerservicenummer: 9 digits (8 are padded); spaces and dots allowed");
  CLI::Option* given = derive->add_option("--given-names", flags->given_names,
                                          "given names or initials (\"Jan Peter\", \"J.P.\")");
  CLI::Option* surname = derive->add_option(
      "--surname", flags->surname,
      "surname with tussenvoegsels in either place (\"van der Berg\", \"Berg, van der\")");
  CLI::Option* birth_date = derive->add_option(
      "--birth-date", flags->birth_date, "date of birth: YYYY-MM-DD, DD-MM-YYYY or D-M-YYYY");
  CLI::Option* postcode =
      derive->add_option("--postcode", flags->postcode, "postcode: 4 digits and 2 letters");
  CLI::Option* house_number =
      derive->add_option("--house-number", flags->house_number,
                         "house number with optional suffix (\"12 A\", \"12-2\")");
  derive->add_flag("--json", flags->json, "print JSON: {\"keys\":[{type, canonical, oprf_input}]}");
  derive->footer(StrCat(kDeriveExample, "\n\n", kExitCodesHelp));

  // Names and date of birth make one key; postcode and house number another.
  for (CLI::Option* o : {given, surname, birth_date}) {
    for (CLI::Option* other : {given, surname, birth_date}) {
      if (o != other) o->needs(other);
    }
  }
  postcode->needs(house_number);
  house_number->needs(postcode);

  const std::vector<CLI::Option*> identifiers = {bsn,        given,    surname,
                                                 birth_date, postcode, house_number};
  derive->callback([flags, identifiers, &context] {
    bool any = false;
    for (const CLI::Option* o : identifiers) {
      if (o->count() == 0) continue;
      any = true;
      if (IsBlank(o->as<std::string>())) {
        context.Fail(ExitCode::kUsageError, StrCat(o->get_name(), " is given but empty"),
                     "give a value or leave the flag out");
        return;
      }
    }
    if (!any) {
      context.Fail(ExitCode::kUsageError,
                   "no identifiers given: use --bsn, or --surname with --given-names and "
                   "--birth-date, or --postcode with --house-number",
                   "run 'schakel keys derive --help' for an example");
      return;
    }
    KeysDeriveRequest request;
    auto take = [](const CLI::Option* o, const std::string& value) {
      return o->count() > 0 ? std::optional<std::string>(value) : std::nullopt;
    };
    request.subject.bsn = take(identifiers[0], flags->bsn);
    request.subject.given_names = take(identifiers[1], flags->given_names);
    request.subject.surname = take(identifiers[2], flags->surname);
    request.subject.birth_date = take(identifiers[3], flags->birth_date);
    request.subject.postcode = take(identifiers[4], flags->postcode);
    request.subject.house_number = take(identifiers[5], flags->house_number);
    request.json = flags->json;
    RunKeysDerive(request, context);
  });
}

}  // namespace schakel::cli
