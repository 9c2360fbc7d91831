#include "nodes/node_config.h"

#include <optional>

#include "common/json_checker.h"
#include "common/metrics_config.h"
#include "common/strings.h"
#include "crypto/signing.h"

namespace schakel::nodes {
namespace {

using Json = nlohmann::json;

// An optional object field: nullptr when absent, or (with a problem) when
// not an object.
const Json* OptionalObject(JsonChecker& c, const Json& doc, const std::string& key) {
  const auto it = doc.find(key);
  if (it == doc.end()) return nullptr;
  if (!it->is_object()) {
    c.Problem(key, StrCat("must be an object, not ", it->type_name()));
    return nullptr;
  }
  return &*it;
}

void GatewayKey(JsonChecker& c, const Json& value, const std::string& path,
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
  constexpr std::string_view kWhat = "node configuration";
  JsonChecker c;
  NodeConfig config;
  const std::optional<Json> parsed = c.ParseObject(text);
  if (!parsed.has_value()) return c.Refusal(source_name, kWhat);
  const Json& doc = *parsed;
  c.NoUnknown(
      doc, "",
      {"org_id", "listen", "data_dir", "tls", "oprf_key_file", "signing_key_file", "gateway",
       "local", "local_policy", "threads", "daily_subject_quota", "max_clock_skew_ms",
       "retention_interval_s", "publish", "node_secret_file", "bootstrap_admin_credential_file",
       "shutdown_grace_ms", "metrics", "box_key_file", "notification_poll_s"});
  c.OrgId(doc, "", "org_id", config.org_id);
  if (const std::string* listen = c.String(doc, "", "listen")) {
    config.listen = *listen;
    c.HostPort("listen", *listen);
  }
  c.Path(doc, "", "data_dir", base_dir, config.data_dir);
  c.Path(doc, "", "oprf_key_file", base_dir, config.oprf_key_file);
  c.Path(doc, "", "signing_key_file", base_dir, config.signing_key_file);
  c.Path(doc, "", "local_policy", base_dir, config.local_policy);

  c.TlsSection(doc, base_dir, config.tls_ca, config.tls_cert, config.tls_key);

  if (const auto gw = doc.find("gateway"); gw == doc.end()) {
    c.Problem("gateway", "missing; this field is required ({\"org_id\", \"signing_public_key\"})");
  } else if (!gw->is_object()) {
    c.Problem("gateway", StrCat("must be an object, not ", gw->type_name()));
  } else {
    c.NoUnknown(*gw, "gateway.", {"org_id", "signing_public_key", "endpoint", "server_name"});
    c.OrgId(*gw, "gateway.", "org_id", config.gateway_org_id);
    if (const std::string* endpoint = c.String(*gw, "gateway.", "endpoint", false)) {
      config.gateway_endpoint = *endpoint;
      c.HostPort("gateway.endpoint", *endpoint);
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
      c.HostPort("local.listen", *listen);
    }
  }
  if (const Json* publish = OptionalObject(c, doc, "publish")) {
    c.NoUnknown(*publish, "publish.", {"batch_max_changes", "retry_ms"});
    c.Integer(*publish, "publish.", "batch_max_changes", 1, 1'000'000,
              config.publish_batch_max_changes);
    c.Integer(*publish, "publish.", "retry_ms", 10, 600'000, config.publish_retry_ms);
  }
  if (doc.contains("node_secret_file")) {
    c.Path(doc, "", "node_secret_file", base_dir, config.node_secret_file);
  } else if (!config.data_dir.empty()) {
    config.node_secret_file = config.data_dir / "node-secret.key";
  }
  if (doc.contains("box_key_file")) {
    c.Path(doc, "", "box_key_file", base_dir, config.box_key_file);
  }
  c.Integer(doc, "", "notification_poll_s", 1, 24 * 3600, config.notification_poll_s);
  if (doc.contains("bootstrap_admin_credential_file")) {
    c.Path(doc, "", "bootstrap_admin_credential_file", base_dir,
           config.bootstrap_admin_credential_file);
  }
  c.Integer(doc, "", "retention_interval_s", 1, 7 * 24 * 3600, config.retention_interval_s);
  c.Integer(doc, "", "threads", 1, 64, config.threads);
  c.Integer(doc, "", "daily_subject_quota", 1, 100'000'000, config.daily_subject_quota);
  c.Integer(doc, "", "max_clock_skew_ms", 0, 60'000, config.max_clock_skew_ms);
  c.Integer(doc, "", "shutdown_grace_ms", 0, 300'000, config.shutdown_grace_ms);
  CheckMetricsSection(c, doc, config.metrics_listen);

  if (!c.ok()) return c.Refusal(source_name, kWhat);
  return config;
}

absl::StatusOr<NodeConfig> LoadNodeConfig(const std::filesystem::path& path) {
  auto text = ReadConfigText(path, "node configuration");
  if (!text.ok()) return text.status();
  const std::filesystem::path base =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return ParseNodeConfig(*text, base, path.string());
}

}  // namespace schakel::nodes
