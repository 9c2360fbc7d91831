#include "cli/admin_command.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/files.h"
#include "cli/keys_command.h"
#include "cli/table.h"
#include "common/json_checker.h"
#include "common/org_id.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "gateway/directory.h"
#include "gateway/gateway_config.h"
#include "gateway/policy.h"
#include "nodes/local_policy.h"
#include "nodes/node_config.h"

namespace schakel::cli {
namespace {

namespace fs = std::filesystem;

// A JSON string literal of `s` (quotes and escapes), for the templates.
std::string Q(std::string_view s) { return nlohmann::json(std::string(s)).dump(); }

// A path as the config writes it: relative paths as given (relative to the
// config's folder), a path the user gave made absolute (it was relative to
// where the command ran).
std::string GivenPath(const fs::path& given, std::string_view fallback) {
  if (given.empty()) return std::string(fallback);
  return fs::absolute(given).lexically_normal().string();
}

// "0.0.0.0:8443" and "[::]:8443" name no host another machine can call.
bool IsWildcardHost(std::string_view host_port) {
  const size_t colon = host_port.rfind(':');
  if (colon == std::string_view::npos) return false;  // not host:port: the parsers say so
  const std::string_view host = host_port.substr(0, colon);
  return host.empty() || host == "0.0.0.0" || host == "[::]" || host == "::";
}

std::string LoopbackFor(std::string_view host_port) {
  if (!IsWildcardHost(host_port)) return std::string(host_port);
  const size_t colon = host_port.rfind(':');
  return StrCat("127.0.0.1", host_port.substr(colon));
}

// What an init command writes: texts and new secret keys, by path relative
// to the target folder.
struct Plan {
  std::vector<std::pair<std::string, std::string>> texts;       // path, content
  std::vector<std::pair<std::string, crypto::KeyKind>> keys;    // path, kind
  std::vector<std::string> AllPaths() const {
    std::vector<std::string> all;
    for (const auto& [path, kind] : keys) all.push_back(path);
    for (const auto& [path, text] : texts) all.push_back(path);
    return all;
  }
};

// The staging folder inside the target: removed with what is in it unless
// released.
class Staging {
 public:
  static absl::StatusOr<Staging> Create(const fs::path& dir) {
    std::string pattern = (dir / ".schakel-init.XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
      return absl::FailedPreconditionError(
          StrCat("cannot create a folder in ", dir.string(), ": ", std::strerror(errno)));
    }
    return Staging(fs::path(pattern));
  }
  Staging(Staging&& other) noexcept : path_(std::exchange(other.path_, fs::path())) {}
  Staging& operator=(Staging&&) = delete;
  ~Staging() {
    if (path_.empty()) return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  explicit Staging(fs::path path) : path_(std::move(path)) {}
  fs::path path_;
};

// Paths of `plan` that exist in `dir` already.
std::vector<std::string> Existing(const fs::path& dir, const Plan& plan) {
  std::vector<std::string> found;
  for (const std::string& path : plan.AllPaths()) {
    std::error_code ec;
    if (fs::exists(fs::symlink_status(dir / path, ec))) found.push_back((dir / path).string());
  }
  return found;
}

// Generates the keys of `plan` in the staging folder; their public keys, by
// path.
absl::StatusOr<std::vector<std::pair<std::string, crypto::Bytes>>> GenerateKeys(
    const Plan& plan, const fs::path& staging) {
  std::vector<std::pair<std::string, crypto::Bytes>> public_keys;
  for (const auto& [path, kind] : plan.keys) {
    std::error_code ec;
    fs::create_directories((staging / path).parent_path(), ec);
    if (ec) {
      return absl::FailedPreconditionError(
          StrCat("cannot create ", (staging / path).parent_path().string(), ": ", ec.message()));
    }
    auto key = GenerateKeyFile(kind, staging / path, crypto::Overwrite::kRefuse);
    if (!key.ok()) return key.status();
    public_keys.emplace_back(path, *std::move(key));
  }
  return public_keys;
}

// Writes the texts into the staging folder, then moves every staged file to
// its place in `dir`. On a failure the files already moved are removed
// again, so `dir` has all of them or none.
absl::Status Install(const fs::path& dir, const Plan& plan, const fs::path& staging) {
  for (const auto& [path, text] : plan.texts) {
    std::error_code ec;
    fs::create_directories((staging / path).parent_path(), ec);
    if (absl::Status written = WriteFileWhole((staging / path).string(), text); !written.ok()) {
      return written;
    }
  }
  std::vector<fs::path> installed;
  auto undo = [&installed] {
    for (const fs::path& p : installed) ::unlink(p.c_str());
  };
  for (const std::string& path : plan.AllPaths()) {
    const fs::path target = dir / path;
    std::error_code ec;
    if (!fs::exists(target.parent_path(), ec)) {
      if (::mkdir(target.parent_path().c_str(), 0700) != 0 && errno != EEXIST) {
        const std::string reason = std::strerror(errno);
        undo();
        return absl::FailedPreconditionError(
            StrCat("cannot create ", target.parent_path().string(), ": ", reason));
      }
    }
    // link() refuses an existing target, so a file made meanwhile is kept.
    if (::link((staging / path).c_str(), target.c_str()) != 0) {
      const std::string reason = std::strerror(errno);
      undo();
      return absl::FailedPreconditionError(StrCat("cannot write ", target.string(), ": ", reason));
    }
    installed.push_back(target);
  }
  return absl::OkStatus();
}

// Checks `text` with a server's parser; a refusal is the user's input.
bool Checked(const absl::Status& parsed, std::string_view what, CommandContext& context) {
  if (parsed.ok()) return true;
  context.Fail(ExitCode::kInvalidInput,
               StrCat("the ", what, " this would write is refused (nothing was written):\n",
                      parsed.message()),
               "correct the flag behind the setting named above");
  return false;
}

// Refuses when files of the plan exist; creates `dir`. False: failed.
bool Prepare(const fs::path& dir, const Plan& plan, CommandContext& context) {
  const std::vector<std::string> existing = Existing(dir, plan);
  if (!existing.empty()) {
    context.Fail(ExitCode::kConflict,
                 StrCat("already set up here: ", JoinList(existing), "; nothing was written"),
                 "choose an empty --dir, or move those files away first (keys cannot be "
                 "recovered once replaced)");
    return false;
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    context.Fail(ExitCode::kInvalidInput, StrCat("cannot create ", dir.string(), ": ", ec.message()),
                 "--dir must be a folder you may write to");
    return false;
  }
  return true;
}

using PublicKeys = std::vector<std::pair<std::string, crypto::Bytes>>;

// Carries out `plan` in `dir`: refuses when any of its files exists,
// generates its keys in a staging folder, lets `complete` fill in texts that
// need the public keys (false: it failed the context), and installs it all.
// The public keys by path, or nullopt when the context was failed.
std::optional<PublicKeys> Carry(
    const fs::path& dir, Plan& plan, CommandContext& context,
    const std::function<bool(const PublicKeys&, Plan&)>& complete = {}) {
  if (!Prepare(dir, plan, context)) return std::nullopt;
  auto staging = Staging::Create(dir);
  if (!staging.ok()) {
    context.Fail(staging.status(), "nothing was written");
    return std::nullopt;
  }
  auto keys = GenerateKeys(plan, staging->path());
  if (keys.ok() && complete && !complete(*keys, plan)) return std::nullopt;
  const absl::Status installed = keys.ok() ? Install(dir, plan, staging->path()) : keys.status();
  if (!installed.ok()) {
    context.Fail(ExitCode::kInternalError, std::string(installed.message()), "nothing was written");
    return std::nullopt;
  }
  return *std::move(keys);
}

std::string Hex(const PublicKeys& keys,
                std::string_view path) {
  for (const auto& [p, key] : keys) {
    if (p == path) return crypto::ToHex(key);
  }
  return {};
}

std::string TlsBlock(const InitGatewayRequest& r, std::string_view org) {
  return StrCat("{ \"ca\": ", Q(GivenPath(r.ca, "pki/ca.pem")),
                ",\n           \"cert\": ", Q(GivenPath(r.cert, StrCat("pki/", org, ".pem"))),
                ",\n           \"key\": ", Q(GivenPath(r.key, StrCat("pki/", org, ".key"))), " }");
}

std::string TlsBlock(const InitNodeRequest& r) {
  InitGatewayRequest paths;
  paths.ca = r.ca;
  paths.cert = r.cert;
  paths.key = r.key;
  return TlsBlock(paths, r.org_id);
}

constexpr std::string_view kStarterLocalPolicy = R"json(// This organisation's own policy (docs/node-policy.md): which categories of
// signals it keeps, for how long, and which are matchable under which
// purpose. Written by `schakel init node` with one example category and no
// purposes: nothing of this node is matchable until you add them.
{
  "version": "1",
  "categories": [
    { "category": "voorbeeld", "domain": "DOMAIN", "retention": "365d" }
  ],
  "purposes": []
}
)json";

// ---- init gateway

void RunInitGatewayChecked(const InitGatewayRequest& r, CommandContext& context) {
  Plan plan;
  plan.keys = {{"keys/signing.key", crypto::KeyKind::kEd25519}};
  const std::string config = StrCat(
      "// schakel-gateway of this federation (docs/gateway-config.md). Written by\n"
      "// `schakel init gateway`. Relative paths are relative to this file's folder.\n"
      "{\n"
      "  // The gateway's own id: its TLS certificate names it (URI SAN\n"
      "  // schakel://org/", r.org_id, "); every node's config names it as gateway.org_id.\n"
      "  \"org_id\": ", Q(r.org_id), ",\n"
      "  // Where nodes call the gateway (mutual TLS).\n"
      "  \"listen\": ", Q(r.listen), ",\n"
      "  // RocksDB: the exchange log, checkpoints, cases, tag sets, quotas.\n"
      "  \"data_dir\": ", Q(GivenPath(r.data_dir, "data")), ",\n"
      "  // The federation's CA, the gateway's certificate and key (docs/pki.md).\n"
      "  \"tls\": ", TlsBlock(r, r.org_id), ",\n"
      "  // Signs checkpoints, receipts and authorisations (docs/key-files.md).\n"
      "  \"signing_key_file\": \"keys/signing.key\",\n"
      "  // The convenant (docs/policy.md).\n"
      "  \"policy\": \"policy.json\",\n"
      "  // The partner organisations: `schakel partners register` adds them.\n"
      "  \"directory\": \"directory.json\",\n"
      "  // Optional settings, shown with their defaults (docs/gateway-config.md):\n"
      "  // longest wait for one partner's evaluation of one element, and the\n"
      "  // microseconds added to it for each element;\n"
      "  \"partner_deadline_ms\": 5000,\n"
      "  \"partner_deadline_per_element_us\": 500,\n"
      "  // how long after opening an exchange its matches may be resolved;\n"
      "  \"resolve_window_seconds\": 300,\n"
      "  // lifetime of an authorisation sent to a node (at most 60000);\n"
      "  \"authorisation_lifetime_ms\": 30000,\n"
      "  // largest gRPC message either way;\n"
      "  \"max_message_bytes\": 67108864,\n"
      "  // largest tag set per organisation and purpose;\n"
      "  \"max_tags_per_set\": 50000000,\n"
      "  // a signed checkpoint of the log every N entries or after S seconds;\n"
      "  \"checkpoint\": { \"every_entries\": 1000, \"every_seconds\": 600 },\n"
      "  // the zone of the quota day and of the policy's dates;\n"
      "  \"timezone\": \"Europe/Amsterdam\",\n"
      "  // GET /metrics in Prometheus text format, plain HTTP (absent: off):\n"
      "  // \"metrics\": { \"listen\": \"127.0.0.1:9464\" },\n"
      "  // on SIGTERM, how long calls in progress may take to finish.\n"
      "  \"shutdown_grace_ms\": 10000\n"
      "}\n");
  const std::string directory =
      "// The partner organisations (docs/gateway-config.md, \"The directory\").\n"
      "// Add one with: schakel partners register partner.json --directory directory.json\n"
      "{ \"organisations\": [] }\n";
  if (!Checked(gateway::ParseGatewayConfig(config, r.dir, "gateway.json").status(),
               "gateway config", context) ||
      !Checked(gateway::Directory::Parse(directory, "directory.json").status(), "directory",
               context)) {
    return;
  }
  plan.texts = {{"gateway.json", config}, {"directory.json", directory}};
  if (!r.policy.empty()) {
    // The convenant as given, checked with the gateway's own rules.
    auto text = ReadConfigText(r.policy, "policy");
    if (!text.ok()) {
      context.Fail(ExitCode::kInvalidInput, std::string(text.status().message()),
                   "--policy must name a readable convenant file (docs/policy.md)");
      return;
    }
    if (auto parsed = gateway::ParsePolicy(*text, r.policy.string()); !parsed.ok()) {
      context.Fail(ExitCode::kInvalidInput, std::string(parsed.status().message()),
                   "nothing was written; correct the convenant as named above");
      return;
    }
    plan.texts.emplace_back("policy.json", *std::move(text));
  }
  auto keys = Carry(r.dir, plan, context);
  if (!keys.has_value()) return;
  const std::string signing = Hex(*keys, "keys/signing.key");
  std::ostream& out = context.out();
  out << "Gateway " << r.org_id << " set up in " << r.dir.string() << ":\n"
      << "  gateway.json, directory.json (no partners yet), "
      << (r.policy.empty() ? "" : "policy.json, ") << "keys/signing.key (mode 0600)\n"
      << "signing_public_key: " << signing << "\n"
      << "\nNext:\n"
      << "  1. Give every node operator the signing_public_key above and this gateway's\n"
      << "     address; they pass it to 'schakel init node --gateway-signing-key'.\n"
      << "  2. Put the CA and the gateway's certificate and key where gateway.json says\n"
      << "     (docs/pki.md; the certificate names schakel://org/" << r.org_id << ").\n"
      << "  3. Register each partner: schakel partners register partner.json --directory "
      << (r.dir / "directory.json").string() << "\n"
      << (r.policy.empty()
              ? "  4. Write the convenant in policy.json: its parties, purposes and lawful bases\n"
                "     (docs/policy.md). The gateway does not start without one it accepts.\n"
              : "  4. Name the registered partners in policy.json's purposes (docs/policy.md).\n")
      << "  5. Start: schakel-gateway --config " << (r.dir / "gateway.json").string() << "\n";
}

// ---- init node

void RunInitNodeChecked(const InitNodeRequest& r, CommandContext& context) {
  std::string advertise = r.advertise.empty() ? r.listen : r.advertise;
  if (!r.ask_only && IsWildcardHost(advertise)) {
    context.Fail(ExitCode::kUsageError,
                 StrCat(r.advertise.empty() ? "--listen " : "--advertise ", advertise,
                        " does not say where the gateway can reach this node"),
                 "add --advertise HOST:PORT (the address the gateway calls), or --ask-only when "
                 "this organisation only asks");
    return;
  }
  Plan plan;
  plan.keys = {{"keys/oprf.key", crypto::KeyKind::kOprfRistretto255Sha512},
               {"keys/signing.key", crypto::KeyKind::kEd25519},
               {"keys/box.key", crypto::KeyKind::kX25519}};
  // Beside the store by default: the folder the node may write to (its
  // systemd unit makes the rest of the file system read-only).
  const std::string credential =
      !r.admin_credential.empty() ? GivenPath(r.admin_credential, "")
      : r.data_dir.empty()        ? std::string("admin.credential")
                                  : GivenPath(r.data_dir / "admin.credential", "");
  const std::string server_name =
      r.gateway_server_name.empty()
          ? std::string()
          : StrCat(",\n    // The name in the gateway's certificate (it is not the endpoint's host).\n"
                   "    \"server_name\": ",
                   Q(r.gateway_server_name));
  const std::string config = StrCat(
      "// schakel-node of ", r.org_id, " (docs/node-config.md). Written by `schakel init node`.\n"
      "// Relative paths are relative to this file's folder.\n"
      "{\n"
      "  // This organisation's id: its TLS certificate names it (URI SAN\n"
      "  // schakel://org/", r.org_id, ") and the gateway's directory lists it.\n"
      "  \"org_id\": ", Q(r.org_id), ",\n"
      "  // Where the gateway calls this node (mutual TLS).\n"
      "  \"listen\": ", Q(r.listen), ",\n"
      "  // RocksDB: signals, tags, users, approvals and the local log.\n"
      "  \"data_dir\": ", Q(GivenPath(r.data_dir, "data")), ",\n"
      "  // The federation's CA, this node's certificate and key (docs/pki.md).\n"
      "  \"tls\": ", TlsBlock(r), ",\n"
      "  // Secret keys (mode 0600, docs/key-files.md); partner.json has their public keys.\n"
      "  \"oprf_key_file\": \"keys/oprf.key\",\n"
      "  \"signing_key_file\": \"keys/signing.key\",\n"
      "  \"box_key_file\": \"keys/box.key\",\n"
      "  \"gateway\": {\n"
      "    \"org_id\": ", Q(r.gateway_org_id), ",\n"
      "    // What `schakel init gateway` printed as signing_public_key (a list during a rotation).\n"
      "    \"signing_public_key\": ", Q(r.gateway_signing_key), ",\n"
      "    // Where this node calls the gateway: to publish its index and to ask.\n"
      "    \"endpoint\": ", Q(r.gateway_endpoint), server_name, "\n"
      "  },\n"
      "  // The local API for this organisation's own users (TLS, bearer credentials).\n"
      "  // Keep it on loopback or an internal network.\n"
      "  \"local\": { \"listen\": ", Q(r.local_listen), " },\n"
      "  // Categories, retention and what is matchable per purpose (docs/node-policy.md).\n"
      "  \"local_policy\": \"local-policy.json\",\n"
      "  // First start: creates user \"admin\" and writes its credential here (mode 0600).\n"
      "  \"bootstrap_admin_credential_file\": ", Q(credential), ",\n"
      "  // Optional settings, shown with their defaults (docs/node-config.md):\n"
      "  // worker threads of the gRPC servers;\n"
      "  \"threads\": 2,\n"
      "  // subjects per day this node evaluates for the federation;\n"
      "  \"daily_subject_quota\": 10000,\n"
      "  // clock difference tolerated on the gateway's authorisations;\n"
      "  \"max_clock_skew_ms\": 5000,\n"
      "  // seconds between retention runs (expired signals removed);\n"
      "  \"retention_interval_s\": 3600,\n"
      "  // tag changes per batch sent to the gateway, and the wait before a retry;\n"
      "  \"publish\": { \"batch_max_changes\": 10000, \"retry_ms\": 1000 },\n"
      "  // seconds between catch-ups with the gateway's notifications;\n"
      "  \"notification_poll_s\": 30,\n"
      "  // GET /metrics in Prometheus text format, plain HTTP (absent: off):\n"
      "  // \"metrics\": { \"listen\": \"127.0.0.1:9465\" },\n"
      "  // the node's own secret (default: in data_dir, made on first start):\n"
      "  // \"node_secret_file\": \"/var/lib/schakel-node/node-secret.key\",\n"
      "  // on SIGTERM, how long calls in progress may take to finish.\n"
      "  \"shutdown_grace_ms\": 10000\n"
      "}\n");
  std::string local_policy(kStarterLocalPolicy);
  local_policy.replace(local_policy.find("DOMAIN"), 6, r.domain);
  const std::string cli_config = StrCat(
      "{ \"endpoint\": ", Q(LoopbackFor(r.local_listen)), ", \"ca\": ", Q(GivenPath(r.ca, "pki/ca.pem")),
      ",\n  \"credential_file\": ", Q(credential), " }\n");
  if (!Checked(nodes::ParseNodeConfig(config, r.dir, "node.json").status(), "node config",
               context) ||
      !Checked(nodes::ParseLocalPolicy(local_policy, "local-policy.json").status(),
               "local policy", context)) {
    return;
  }
  plan.texts = {{"node.json", config},
                {"local-policy.json", local_policy},
                {"cli-admin.json", cli_config}};
  // partner.json comes last: it needs the public keys.
  plan.texts.emplace_back("partner.json", "");
  auto keys = Carry(r.dir, plan, context, [&](const PublicKeys& made, Plan& p) {
    nlohmann::ordered_json entry;
    entry["org_id"] = r.org_id;
    entry["display_name"] = r.display_name.empty() ? r.org_id : r.display_name;
    entry["domain"] = r.domain;
    if (!r.ask_only) {
      entry["endpoint"] = advertise;
      entry["oprf_public_key"] = Hex(made, "keys/oprf.key");
    }
    entry["signing_public_key"] = Hex(made, "keys/signing.key");
    entry["box_public_key"] = Hex(made, "keys/box.key");
    const std::string partner = entry.dump(2) + "\n";
    if (!Checked(gateway::Directory::Parse(StrCat("{\"organisations\": [", partner, "]}"),
                                           "partner.json")
                     .status(),
                 "directory entry", context)) {
      return false;
    }
    p.texts.back().second = partner;
    return true;
  });
  if (!keys.has_value()) return;
  std::ostream& out = context.out();
  out << "Node " << r.org_id << " set up in " << r.dir.string() << ":\n"
      << "  node.json, local-policy.json (nothing matchable yet), cli-admin.json,\n"
      << "  keys/oprf.key, keys/signing.key, keys/box.key (mode 0600),\n"
      << "  partner.json (this organisation's directory entry: public keys only)\n";
  if (!r.ask_only) out << "oprf_public_key: " << Hex(*keys, "keys/oprf.key") << "\n";
  out << "signing_public_key: " << Hex(*keys, "keys/signing.key") << "\n"
      << "box_public_key: " << Hex(*keys, "keys/box.key") << "\n"
      << "\nNext:\n"
      << "  1. Send partner.json to the gateway's operator, who runs:\n"
      << "       schakel partners register partner.json --directory /etc/schakel/directory.json\n"
      << "     and adds " << r.org_id << " to the convenant's purposes (docs/policy.md).\n"
      << "  2. Put the CA and this organisation's certificate and key where node.json says\n"
      << "     (docs/pki.md; the certificate names schakel://org/" << r.org_id << ").\n"
      << "  3. Write the categories and matchable purposes in local-policy.json.\n"
      << "  4. Start: schakel-node --config " << (r.dir / "node.json").string() << "\n"
      << "  5. Create users: SCHAKEL_CONFIG=" << (r.dir / "cli-admin.json").string()
      << " schakel users create ...\n";
}

// ---- partners

// The directory file as JSON (comments dropped), and its text.
struct DirectoryFile {
  std::string text;
  nlohmann::ordered_json doc;
};

absl::StatusOr<DirectoryFile> ReadDirectoryFile(const fs::path& path) {
  auto text = ReadConfigText(path, "directory");
  if (!text.ok()) return text.status();
  // Checked whole with the gateway's rules first: a broken file is named as such.
  if (auto parsed = gateway::Directory::Parse(*text, path.string()); !parsed.ok()) {
    return parsed.status();
  }
  DirectoryFile file{.text = *text, .doc = nlohmann::ordered_json::parse(
                                        *text, nullptr, /*allow_exceptions=*/false,
                                        /*ignore_comments=*/true)};
  if (file.doc.is_array()) file.doc = nlohmann::ordered_json{{"organisations", file.doc}};
  if (!file.doc.is_object() || !file.doc.contains("organisations")) {
    return absl::InvalidArgumentError(StrCat(path.string(), ": not a directory file"));
  }
  return file;
}

// Checks the new directory with the gateway's rules and replaces the file,
// keeping the old one as FILE.previous.
absl::Status WriteDirectory(const fs::path& path, const DirectoryFile& old,
                            const nlohmann::ordered_json& doc) {
  const std::string text = doc.dump(2) + "\n";
  if (auto parsed = gateway::Directory::Parse(text, path.string()); !parsed.ok()) {
    return parsed.status();
  }
  // The gateway's user must still read the new file: it gets the old one's
  // owner and mode (files are written with mode 0600 first, so the moment
  // between is only stricter).
  struct stat before {};
  if (::stat(path.c_str(), &before) != 0) {
    return absl::FailedPreconditionError(
        StrCat("cannot read the owner and mode of ", path.string(), ": ", std::strerror(errno)));
  }
  if (absl::Status kept = WriteFileWhole(path.string() + ".previous", old.text); !kept.ok()) {
    return kept;
  }
  if (absl::Status written = WriteFileWhole(path.string(), text); !written.ok()) return written;
  for (const std::string& file : {path.string(), path.string() + ".previous"}) {
    if (::chown(file.c_str(), before.st_uid, before.st_gid) != 0 ||
        ::chmod(file.c_str(), before.st_mode & 07777) != 0) {
      return absl::FailedPreconditionError(
          StrCat(file, " was written, but its owner and mode could not be set to the old file's (",
                 std::strerror(errno), "); set them by hand before the gateway reloads"));
    }
  }
  return absl::OkStatus();
}

void FailDirectory(const absl::Status& status, CommandContext& context) {
  if (status.code() == absl::StatusCode::kInvalidArgument) {
    context.Fail(ExitCode::kInvalidInput, std::string(status.message()),
                 "nothing was changed; correct the entry (or the directory file) as named above");
  } else {
    context.Fail(ExitCode::kConfigError, std::string(status.message()), "nothing was changed");
  }
}

bool CheckOrgId(std::string_view flag, std::string_view org_id, CommandContext& context) {
  if (IsValidOrgId(org_id)) return true;
  context.Fail(ExitCode::kUsageError,
               StrCat(flag, " \"", QuoteForMessage(org_id), "\" is not an organisation id"),
               "use 2 to 63 characters of a-z, 0-9 and -, starting with a letter");
  return false;
}

constexpr std::string_view kReloadNote =
    "The gateway reads its directory at start and on a reload: reload it for this to take\n"
    "effect (systemctl reload schakel-gateway, or SIGHUP). The previous file is kept as ";

}  // namespace

void RunInitGateway(const InitGatewayRequest& request, CommandContext& context) {
  if (!CheckOrgId("--org-id", request.org_id, context)) return;
  RunInitGatewayChecked(request, context);
}

void RunInitNode(const InitNodeRequest& request, CommandContext& context) {
  if (!CheckOrgId("--org", request.org_id, context)) return;
  if (!gateway::ParseDomain(request.domain).has_value()) {
    context.Fail(ExitCode::kUsageError,
                 StrCat("--domain \"", QuoteForMessage(request.domain), "\" is not a domain"),
                 "use --domain safety, care, social or housing");
    return;
  }
  RunInitNodeChecked(request, context);
}

void RunPartnersRegister(const PartnersRegisterRequest& request, CommandContext& context) {
  auto file = ReadDirectoryFile(request.directory);
  if (!file.ok()) {
    FailDirectory(file.status(), context);
    return;
  }
  auto entry_text = ReadConfigText(request.entry, "directory entry");
  if (!entry_text.ok()) {
    context.Fail(ExitCode::kInvalidInput, std::string(entry_text.status().message()),
                 "give the partner.json that 'schakel init node' wrote");
    return;
  }
  nlohmann::ordered_json entry = nlohmann::ordered_json::parse(
      *entry_text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (!entry.is_object() || !entry.contains("org_id") || !entry["org_id"].is_string()) {
    context.Fail(ExitCode::kInvalidInput,
                 StrCat(request.entry.string(),
                        ": not a directory entry (a JSON object with \"org_id\")"),
                 "give the partner.json that 'schakel init node' wrote");
    return;
  }
  const std::string org_id = entry["org_id"].get<std::string>();
  nlohmann::ordered_json& orgs = file->doc["organisations"];
  bool replaced = false;
  for (auto& org : orgs) {
    if (org.value("org_id", std::string()) != org_id) continue;
    if (!request.replace) {
      context.Fail(ExitCode::kConflict,
                   StrCat(org_id, " is in ", request.directory.string(),
                          " already; nothing was changed"),
                   "add --replace to replace its entry (e.g. after a key rotation), or "
                   "'schakel partners list' to see it");
      return;
    }
    org = entry;
    replaced = true;
  }
  if (!replaced) orgs.push_back(entry);
  if (absl::Status written = WriteDirectory(request.directory, *file, file->doc); !written.ok()) {
    FailDirectory(written, context);
    return;
  }
  context.out() << (replaced ? "replaced " : "registered ") << org_id << " in "
                << request.directory.string() << " (" << orgs.size() << " organisation(s))\n"
                << kReloadNote << request.directory.string() << ".previous.\n"
                << "To let " << org_id
                << " ask or answer, name it in the convenant's purposes (docs/policy.md).\n";
}

void RunPartnersList(const fs::path& directory, bool json, CommandContext& context) {
  auto loaded = gateway::Directory::Load(directory);
  if (!loaded.ok()) {
    FailDirectory(loaded.status(), context);
    return;
  }
  auto key_ids = [](const std::vector<gateway::DirectoryKey>& keys) {
    std::vector<std::string> ids;
    for (const gateway::DirectoryKey& k : keys) ids.push_back(crypto::ToHex(k.key_id));
    return ids;
  };
  if (json) {
    nlohmann::ordered_json list = nlohmann::ordered_json::array();
    for (const gateway::DirectoryOrg& org : (*loaded)->organisations()) {
      list.push_back({{"org_id", org.org_id},
                      {"display_name", org.display_name},
                      {"domain", std::string(gateway::DomainName(org.domain))},
                      {"endpoint", org.endpoint},
                      {"active", org.active},
                      {"answers", !org.endpoint.empty() && !org.oprf_keys.empty()},
                      {"signing_key_ids", key_ids(org.signing_keys)},
                      {"oprf_key_ids", key_ids(org.oprf_keys)},
                      {"box_key_ids", key_ids(org.box_keys)}});
    }
    context.out() << nlohmann::ordered_json{{"organisations", list}}.dump(2) << "\n";
    return;
  }
  Table table({"org_id", "name", "domain", "endpoint", "active", "signing key"});
  for (const gateway::DirectoryOrg& org : (*loaded)->organisations()) {
    table.AddRow({org.org_id, org.display_name, std::string(gateway::DomainName(org.domain)),
                  org.endpoint.empty() ? "- (asks only)" : org.endpoint,
                  org.active ? "yes" : "no", JoinList(key_ids(org.signing_keys))});
  }
  if (table.rows() == 0) {
    context.out() << "no organisations in " << directory.string()
                  << "; add one with 'schakel partners register'\n";
    return;
  }
  table.Print(context.out());
}

void RunPartnersDeactivate(const fs::path& directory, const std::string& org_id,
                           CommandContext& context) {
  auto file = ReadDirectoryFile(directory);
  if (!file.ok()) {
    FailDirectory(file.status(), context);
    return;
  }
  bool found = false;
  for (auto& org : file->doc["organisations"]) {
    if (org.value("org_id", std::string()) == org_id) {
      org["active"] = false;
      found = true;
    }
  }
  if (!found) {
    context.Fail(ExitCode::kConflict,
                 StrCat("no organisation \"", QuoteForMessage(org_id), "\" in ", directory.string()),
                 "'schakel partners list --directory FILE' shows the organisations");
    return;
  }
  if (absl::Status written = WriteDirectory(directory, *file, file->doc); !written.ok()) {
    FailDirectory(written, context);
    return;
  }
  context.out() << "deactivated " << org_id << " in " << directory.string()
                << ": once the gateway reloads, its certificate is refused and it is not asked.\n"
                << kReloadNote << directory.string() << ".previous.\n";
}

void RegisterAdminCommands(CLI::App& app, CommandContext& context) {
  CLI::App* init = app.add_subcommand(
      "init", "Set up a gateway or a node on this host: keys, configs and the next steps");
  init->require_subcommand(1);
  init->footer(std::string(kExitCodesHelp));

  CLI::App* gw = init->add_subcommand(
      "gateway", "Write the gateway's signing key, gateway.json, directory.json and policy.json");
  auto g = std::make_shared<InitGatewayRequest>();
  gw->add_option("--dir", g->dir, "the folder to write to (made if missing)")->required();
  gw->add_option("--org-id", g->org_id, "the gateway's organisation id")->capture_default_str();
  gw->add_option("--listen", g->listen, "where nodes call the gateway")->capture_default_str();
  gw->add_option("--data-dir", g->data_dir, "the gateway's store (default: DIR/data)");
  gw->add_option("--ca", g->ca, "the federation's CA certificate (default: DIR/pki/ca.pem)");
  gw->add_option("--cert", g->cert, "the gateway's certificate (default: DIR/pki/ORG.pem)");
  gw->add_option("--key", g->key, "the gateway's TLS key (default: DIR/pki/ORG.key)");
  gw->add_option("--policy", g->policy,
                 "a convenant to check and copy to DIR/policy.json (docs/policy.md)");
  gw->footer(HelpFooter(
      "Example:\n"
      "  schakel init gateway --dir /etc/schakel --data-dir /var/lib/schakel-gateway\n"
      "\n"
      "Prints the gateway's signing public key: every node operator needs it.\n"
      "Files that exist are never replaced; then nothing is written."));
  gw->callback([g, &context] { RunInitGateway(*g, context); });

  CLI::App* node = init->add_subcommand(
      "node", "Write a node's keys, node.json, local-policy.json and its directory entry");
  auto n = std::make_shared<InitNodeRequest>();
  node->add_option("--dir", n->dir, "the folder to write to (made if missing)")->required();
  node->add_option("--org", n->org_id, "this organisation's id, e.g. politie-zwb")->required();
  node->add_option("--domain", n->domain, "safety, care, social or housing")->required();
  node->add_option("--display-name", n->display_name, "the organisation's name in the directory");
  node->add_option("--gateway-endpoint", n->gateway_endpoint, "HOST:PORT of the gateway")
      ->required();
  node->add_option("--gateway-signing-key", n->gateway_signing_key,
                   "the gateway's signing public key (64 hex, from 'schakel init gateway')")
      ->required();
  node->add_option("--gateway-org-id", n->gateway_org_id, "the gateway's organisation id")
      ->capture_default_str();
  node->add_option("--gateway-server-name", n->gateway_server_name,
                   "the name in the gateway's certificate, when not the endpoint's host");
  node->add_option("--listen", n->listen, "where the gateway calls this node")
      ->capture_default_str();
  node->add_option("--advertise", n->advertise,
                   "HOST:PORT the gateway calls (default: --listen, unless that is 0.0.0.0)");
  node->add_option("--local-listen", n->local_listen, "the local API for this organisation's users")
      ->capture_default_str();
  node->add_option("--data-dir", n->data_dir, "the node's store (default: DIR/data)");
  node->add_option("--admin-credential", n->admin_credential,
                   "where the first start writes admin's credential (default: in --data-dir, "
                   "else DIR/admin.credential)");
  node->add_option("--ca", n->ca, "the federation's CA certificate (default: DIR/pki/ca.pem)");
  node->add_option("--cert", n->cert, "this node's certificate (default: DIR/pki/ORG.pem)");
  node->add_option("--key", n->key, "this node's TLS key (default: DIR/pki/ORG.key)");
  node->add_flag("--ask-only", n->ask_only,
                 "this organisation only asks (like an RIEC): no endpoint in its directory entry");
  node->footer(HelpFooter(
      "Example:\n"
      "  schakel init node --org politie-zwb --domain safety --dir /etc/schakel \\\n"
      "      --display-name \"Politie, eenheid Zeeland-West-Brabant\" \\\n"
      "      --advertise politie-node.example:8443 --gateway-endpoint gateway.example:8443 \\\n"
      "      --gateway-signing-key 3d40...660c --data-dir /var/lib/schakel-node\n"
      "\n"
      "Writes partner.json, this organisation's directory entry, for the gateway's operator.\n"
      "Files that exist are never replaced; then nothing is written."));
  node->callback([n, &context] { RunInitNode(*n, context); });

  CLI::App* partners = app.add_subcommand(
      "partners", "The gateway's directory of partner organisations (on the gateway's host)");
  partners->require_subcommand(1);
  partners->footer(std::string(kExitCodesHelp));

  CLI::App* reg = partners->add_subcommand(
      "register", "Add an organisation's directory entry (its partner.json) to the directory");
  auto rr = std::make_shared<PartnersRegisterRequest>();
  reg->add_option("entry", rr->entry, "the partner.json that 'schakel init node' wrote")
      ->required();
  reg->add_option("--directory", rr->directory, "the gateway's directory.json")->required();
  reg->add_flag("--replace", rr->replace, "replace the organisation's entry if it is there");
  reg->footer(HelpFooter(
      "Example:\n"
      "  schakel partners register politie-zwb.json --directory /etc/schakel/directory.json\n"
      "\n"
      "The new directory is checked with the gateway's own rules first; a refused entry\n"
      "changes nothing. Then reload the gateway: systemctl reload schakel-gateway."));
  reg->callback([rr, &context] { RunPartnersRegister(*rr, context); });

  CLI::App* list = partners->add_subcommand("list", "Show the directory's organisations");
  auto list_dir = std::make_shared<fs::path>();
  auto list_json = std::make_shared<bool>(false);
  list->add_option("--directory", *list_dir, "the gateway's directory.json")->required();
  list->add_flag("--json", *list_json, "print JSON");
  list->footer(HelpFooter("Example:\n  schakel partners list --directory /etc/schakel/directory.json"));
  list->callback([list_dir, list_json, &context] { RunPartnersList(*list_dir, *list_json, context); });

  CLI::App* deactivate = partners->add_subcommand(
      "deactivate", "Mark an organisation inactive: it is no longer accepted or asked");
  auto d_dir = std::make_shared<fs::path>();
  auto d_org = std::make_shared<std::string>();
  deactivate->add_option("org", *d_org, "the organisation id")->required();
  deactivate->add_option("--directory", *d_dir, "the gateway's directory.json")->required();
  deactivate->footer(HelpFooter(
      "Example:\n  schakel partners deactivate woningcorporatie-x --directory /etc/schakel/directory.json"));
  deactivate->callback([d_dir, d_org, &context] { RunPartnersDeactivate(*d_dir, *d_org, context); });
}

}  // namespace schakel::cli
