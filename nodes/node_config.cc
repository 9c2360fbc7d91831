#include "nodes/node_config.h"

#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "crypto/signing.h"

namespace schakel::nodes {
namespace {

using Json = nlohmann::json;

// Same rule as rpc::IsValidOrgId (common.proto): 2 to 63 characters of
// [a-z0-9-], starting with a letter. Repeated here so that nodes/ does not
// depend on the gRPC library.
bool ValidOrgId(std::string_view id) {
  if (id.size() < 2 || id.size() > 63) return false;
  if (id[0] < 'a' || id[0] > 'z') return false;
  for (char c : id) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

class Checker {
 public:
  void Problem(std::string_view path, std::string_view what) {
    problems_.push_back(StrCat(path, ": ", what));
  }
  const std::vector<std::string>& problems() const { return problems_; }

  // Names fields of `object` not in `allowed`.
  void NoUnknown(const Json& object, std::string_view prefix,
                 const std::set<std::string>& allowed) {
    for (const auto& [key, value] : object.items()) {
      if (allowed.count(key) == 0) {
        std::string list;
        for (const std::string& a : allowed) list += list.empty() ? a : StrCat(", ", a);
        Problem(StrCat(prefix, key), StrCat("unknown field; allowed: ", list));
      }
    }
  }

  // A required non-empty string; nullptr when missing or wrong.
  const std::string* String(const Json& object, std::string_view prefix, const std::string& key,
                            bool required = true) {
    const auto it = object.find(key);
    const std::string path = StrCat(prefix, key);
    if (it == object.end()) {
      if (required) Problem(path, "missing; this field is required");
      return nullptr;
    }
    if (!it->is_string()) {
      Problem(path, StrCat("must be a string, not ", it->type_name()));
      return nullptr;
    }
    const std::string& s = it->get_ref<const std::string&>();
    if (s.empty()) {
      Problem(path, "is empty");
      return nullptr;
    }
    return &s;
  }

  void Path(const Json& object, std::string_view prefix, const std::string& key,
            const std::filesystem::path& base, std::filesystem::path& out) {
    if (const std::string* s = String(object, prefix, key)) {
      const std::filesystem::path p(*s);
      out = p.is_absolute() ? p : base / p;
    }
  }

  void OrgId(const Json& object, std::string_view prefix, const std::string& key,
             std::string& out) {
    if (const std::string* s = String(object, prefix, key)) {
      if (!ValidOrgId(*s)) {
        Problem(StrCat(prefix, key),
                StrCat("\"", s->size() <= 80 ? *s : s->substr(0, 80),
                       "\" is not an organisation id (2 to 63 characters of a-z, 0-9 and -, "
                       "starting with a letter)"));
      } else {
        out = *s;
      }
    }
  }

  template <typename T>
  void Integer(const Json& object, const std::string& key, int64_t min, int64_t max, T& out,
               std::string_view prefix = "") {
    const auto it = object.find(key);
    if (it == object.end()) return;  // optional: the default stays
    const std::string path = StrCat(prefix, key);
    if (!it->is_number_integer()) {
      Problem(path, StrCat("must be a whole number, not ", it->type_name()));
      return;
    }
    const int64_t v = it->is_number_unsigned()
                          ? static_cast<int64_t>(std::min<uint64_t>(it->get<uint64_t>(),
                                                                    static_cast<uint64_t>(max) + 1))
                          : it->get<int64_t>();
    if (v < min || v > max) {
      Problem(path, StrCat(v, " is out of range; allowed: ", min, " to ", max));
      return;
    }
    out = static_cast<T>(v);
  }

 private:
  std::vector<std::string> problems_;
};

void CheckListen(Checker& c, const std::string& listen, std::string_view path = "listen") {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    c.Problem(path, "must be host:port, e.g. \"0.0.0.0:8443\" or \"127.0.0.1:0\"");
    return;
  }
  const std::string port = listen.substr(colon + 1);
  bool digits = port.size() <= 5;
  for (char ch : port) digits = digits && ch >= '0' && ch <= '9';
  if (!digits || std::stoi(port) > 65535) {
    c.Problem(path, StrCat("port \"", port.substr(0, 10), "\" is not a number from 0 to 65535"));
  }
}

// An optional object field: nullptr when absent, or (with a problem) when
// not an object.
const Json* OptionalObject(Checker& c, const Json& doc, const std::string& key) {
  const auto it = doc.find(key);
  if (it == doc.end()) return nullptr;
  if (!it->is_object()) {
    c.Problem(key, StrCat("must be an object, not ", it->type_name()));
    return nullptr;
  }
  return &*it;
}

void GatewayKey(Checker& c, const Json& value, const std::string& path,
                std::vector<crypto::Bytes>& out) {
  if (!value.is_string()) {
    c.Problem(path, StrCat("must be a hex string, not ", value.type_name()));
    return;
  }
  auto bytes = crypto::FromHex(value.get_ref<const std::string&>(), path);
  if (!bytes.ok()) {
    c.Problem(path, "is not hex");
    return;
  }
  auto key = crypto::VerifyKey::FromBytes(*bytes);
  if (!key.ok()) {
    c.Problem(path,
              "is not an Ed25519 public key (64 hex digits; 'schakel keys generate "
              "--kind ed25519' prints one as \"public\")");
    return;
  }
  out.push_back(*std::move(bytes));
}

}  // namespace

absl::StatusOr<NodeConfig> ParseNodeConfig(std::string_view text,
                                           const std::filesystem::path& base_dir,
                                           std::string_view source_name) {
  Checker c;
  NodeConfig config;
  Json doc;
  try {
    doc = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                      /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    return absl::InvalidArgumentError(StrCat(
        source_name, ": node configuration refused, 1 problem:\n(json): not valid JSON at byte ",
        e.byte));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(
        StrCat(source_name,
               ": node configuration refused, 1 problem:\n(top level): must be a JSON object"));
  }
  c.NoUnknown(
      doc, "",
      {"org_id", "listen", "data_dir", "tls", "oprf_key_file", "signing_key_file", "gateway",
       "local", "local_policy", "threads", "daily_subject_quota", "max_clock_skew_ms",
       "retention_interval_s", "publish", "node_secret_file", "bootstrap_admin_credential_file"});
  c.OrgId(doc, "", "org_id", config.org_id);
  if (const std::string* listen = c.String(doc, "", "listen")) {
    config.listen = *listen;
    CheckListen(c, *listen);
  }
  c.Path(doc, "", "data_dir", base_dir, config.data_dir);
  c.Path(doc, "", "oprf_key_file", base_dir, config.oprf_key_file);
  c.Path(doc, "", "signing_key_file", base_dir, config.signing_key_file);
  c.Path(doc, "", "local_policy", base_dir, config.local_policy);

  if (const auto tls = doc.find("tls"); tls == doc.end()) {
    c.Problem("tls", "missing; this field is required ({\"ca\", \"cert\", \"key\"})");
  } else if (!tls->is_object()) {
    c.Problem("tls", StrCat("must be an object, not ", tls->type_name()));
  } else {
    c.NoUnknown(*tls, "tls.", {"ca", "cert", "key"});
    c.Path(*tls, "tls.", "ca", base_dir, config.tls_ca);
    c.Path(*tls, "tls.", "cert", base_dir, config.tls_cert);
    c.Path(*tls, "tls.", "key", base_dir, config.tls_key);
  }

  if (const auto gw = doc.find("gateway"); gw == doc.end()) {
    c.Problem("gateway", "missing; this field is required ({\"org_id\", \"signing_public_key\"})");
  } else if (!gw->is_object()) {
    c.Problem("gateway", StrCat("must be an object, not ", gw->type_name()));
  } else {
    c.NoUnknown(*gw, "gateway.", {"org_id", "signing_public_key", "endpoint", "server_name"});
    c.OrgId(*gw, "gateway.", "org_id", config.gateway_org_id);
    if (const std::string* endpoint = c.String(*gw, "gateway.", "endpoint", false)) {
      config.gateway_endpoint = *endpoint;
      CheckListen(c, *endpoint, "gateway.endpoint");
    }
    if (const std::string* name = c.String(*gw, "gateway.", "server_name", false)) {
      config.gateway_server_name = *name;
    }
    const auto key = gw->find("signing_public_key");
    if (key == gw->end()) {
      c.Problem("gateway.signing_public_key", "missing; this field is required");
    } else if (key->is_array()) {
      if (key->empty()) c.Problem("gateway.signing_public_key", "is an empty list");
      for (size_t i = 0; i < key->size(); ++i) {
        GatewayKey(c, (*key)[i], StrCat("gateway.signing_public_key[", i, "]"),
                   config.gateway_signing_public_keys);
      }
    } else {
      GatewayKey(c, *key, "gateway.signing_public_key", config.gateway_signing_public_keys);
    }
  }

  if (const Json* local = OptionalObject(c, doc, "local")) {
    c.NoUnknown(*local, "local.", {"listen"});
    if (const std::string* listen = c.String(*local, "local.", "listen")) {
      config.local_listen = *listen;
      CheckListen(c, *listen, "local.listen");
    }
  }
  if (const Json* publish = OptionalObject(c, doc, "publish")) {
    c.NoUnknown(*publish, "publish.", {"batch_max_changes", "retry_ms"});
    c.Integer(*publish, "batch_max_changes", 1, 1'000'000, config.publish_batch_max_changes,
              "publish.");
    c.Integer(*publish, "retry_ms", 10, 600'000, config.publish_retry_ms, "publish.");
  }
  if (doc.contains("node_secret_file")) {
    c.Path(doc, "", "node_secret_file", base_dir, config.node_secret_file);
  } else if (!config.data_dir.empty()) {
    config.node_secret_file = config.data_dir / "node-secret.key";
  }
  if (doc.contains("bootstrap_admin_credential_file")) {
    c.Path(doc, "", "bootstrap_admin_credential_file", base_dir,
           config.bootstrap_admin_credential_file);
  }
  c.Integer(doc, "retention_interval_s", 1, 7 * 24 * 3600, config.retention_interval_s);
  c.Integer(doc, "threads", 1, 64, config.threads);
  c.Integer(doc, "daily_subject_quota", 1, 100'000'000, config.daily_subject_quota);
  c.Integer(doc, "max_clock_skew_ms", 0, 60'000, config.max_clock_skew_ms);

  if (!c.problems().empty()) {
    std::string message = StrCat(source_name, ": node configuration refused, ", c.problems().size(),
                                 c.problems().size() == 1 ? " problem:" : " problems:");
    for (const std::string& p : c.problems()) message += StrCat("\n", p);
    return absl::InvalidArgumentError(message);
  }
  return config;
}

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(
        StrCat("node configuration file ", path.string(), " does not exist"));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::FailedPreconditionError(
        StrCat("node configuration file ", path.string(), " is not a regular file"));
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxNodeConfigBytes) {
    return absl::FailedPreconditionError(StrCat("node configuration file ", path.string(),
                                                " cannot be read or is larger than 1 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(
        StrCat("node configuration file ", path.string(), " cannot be read"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  const std::filesystem::path base =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return ParseNodeConfig(ss.str(), base, path.string());
}

}  // namespace schakel::nodes
