#include "gateway/gateway_config.h"

#include "common/metrics_config.h"
#include "common/strings.h"

namespace schakel::gateway {
namespace {

using Json = nlohmann::json;

}  // namespace

absl::StatusOr<GatewayConfig> ParseGatewayConfig(std::string_view text,
                                                 const std::filesystem::path& base_dir,
                                                 std::string_view source_name) {
  constexpr std::string_view kWhat = "gateway configuration";
  JsonChecker c;
  GatewayConfig config;
  const std::optional<Json> parsed = c.ParseObject(text);
  if (!parsed.has_value()) return c.Refusal(source_name, kWhat);
  const Json& doc = *parsed;
  c.NoUnknown(doc, "",
              {"org_id", "listen", "data_dir", "tls", "signing_key_file", "policy", "directory",
               "partner_deadline_ms", "partner_deadline_per_element_us", "resolve_window_seconds",
               "authorisation_lifetime_ms", "max_message_bytes", "max_tags_per_set", "checkpoint", "timezone",
               "shutdown_grace_ms", "metrics"});
  c.OrgId(doc, "", "org_id", config.org_id);
  if (const std::string* listen = c.String(doc, "", "listen")) {
    config.listen = *listen;
    c.HostPort("listen", *listen);
  }
  c.Path(doc, "", "data_dir", base_dir, config.data_dir);
  c.Path(doc, "", "signing_key_file", base_dir, config.signing_key_file);
  c.Path(doc, "", "policy", base_dir, config.policy_file);

  c.TlsSection(doc, base_dir, config.tls_ca, config.tls_cert, config.tls_key);

  if (const auto dir = doc.find("directory"); dir == doc.end()) {
    c.Problem("directory",
              "missing; this field is required (a directory file, or {\"organisations\": [...]})");
  } else if (dir->is_string()) {
    c.Path(doc, "", "directory", base_dir, config.directory_file);
  } else if (dir->is_object() || dir->is_array()) {
    config.directory_inline = dir->dump();
    config.directory_source = StrCat(source_name, " (directory)");
  } else {
    c.Problem("directory", StrCat("must be a file name, an object or a list, not ", dir->type_name()));
  }

  c.Integer(doc, "", "partner_deadline_ms", 100, 60'000, config.partner_deadline_ms);
  c.Integer(doc, "", "partner_deadline_per_element_us", 0, 10'000, config.partner_deadline_per_element_us);
  c.Integer(doc, "", "resolve_window_seconds", 10, 24 * 3600, config.resolve_window_seconds);
  c.Integer(doc, "", "authorisation_lifetime_ms", 1000, 60'000, config.authorisation_lifetime_ms);
  c.Integer(doc, "", "max_message_bytes", 4 << 20, 1 << 30, config.max_message_bytes);
  c.Unsigned(doc, "", "max_tags_per_set", 1, 1'000'000'000, config.max_tags_per_set);
  if (const auto cp = doc.find("checkpoint"); cp != doc.end()) {
    if (!cp->is_object()) {
      c.Problem("checkpoint", StrCat("must be an object, not ", cp->type_name()));
    } else {
      c.NoUnknown(*cp, "checkpoint.", {"every_entries", "every_seconds"});
      c.Unsigned(*cp, "checkpoint.", "every_entries", 0, 100'000'000, config.checkpoint_every_entries);
      c.Integer(*cp, "checkpoint.", "every_seconds", 0, 7 * 24 * 3600,
                config.checkpoint_every_seconds);
    }
  }
  c.Integer(doc, "", "shutdown_grace_ms", 0, 300'000, config.shutdown_grace_ms);
  CheckMetricsSection(c, doc, config.metrics_listen);
  if (const std::string* zone = c.String(doc, "", "timezone", /*required=*/false)) {
    config.timezone = *zone;
  }
  if (!absl::LoadTimeZone(config.timezone, &config.zone)) {
    c.Problem("timezone", StrCat("\"", QuoteForMessage(config.timezone),
                                 "\" cannot be loaded (an IANA zone such as Europe/Amsterdam; "
                                 "is the tzdata package installed?)"));
  }

  if (!c.ok()) return c.Refusal(source_name, kWhat);
  return config;
}

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::filesystem::path& path) {
  auto text = ReadConfigText(path, "gateway configuration");
  if (!text.ok()) return text.status();
  const std::filesystem::path base =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return ParseGatewayConfig(*text, base, path.string());
}

}  // namespace schakel::gateway
