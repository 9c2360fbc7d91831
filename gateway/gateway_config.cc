#include "gateway/gateway_config.h"

#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "rpc/identity.h"

namespace schakel::gateway {
namespace {

using Json = nlohmann::json;

void CheckListen(JsonChecker& c, const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) {
    c.Problem("listen", "must be host:port, e.g. \"0.0.0.0:8443\" or \"127.0.0.1:0\"");
    return;
  }
  const std::string port = listen.substr(colon + 1);
  bool digits = port.size() <= 5;
  for (char ch : port) digits = digits && ch >= '0' && ch <= '9';
  if (!digits || std::stoi(port) > 65535) {
    c.Problem("listen", StrCat("port \"", QuoteForMessage(port), "\" is not a number from 0 to 65535"));
  }
}

}  // namespace

std::string QuoteForMessage(std::string_view s) {
  std::string out;
  for (char ch : s.substr(0, 80)) out += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
  return out;
}

void JsonChecker::Problem(std::string_view path, std::string_view what) {
  problems_.push_back(StrCat(path, ": ", what));
}

std::optional<JsonChecker::Json> JsonChecker::Parse(std::string_view text) {
  try {
    return Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/true,
                       /*ignore_comments=*/true);
  } catch (const Json::parse_error& e) {
    // The byte offset, turned into line and column for people.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    Problem("(json)", StrCat("not valid JSON at line ", line, ", column ", column));
    return std::nullopt;
  }
}

void JsonChecker::NoUnknown(const Json& object, std::string_view prefix,
                            const std::set<std::string>& allowed) {
  for (const auto& [key, value] : object.items()) {
    if (allowed.count(key) == 0) {
      std::string list;
      for (const std::string& a : allowed) list += list.empty() ? a : StrCat(", ", a);
      Problem(StrCat(prefix, QuoteForMessage(key)), StrCat("unknown field; allowed: ", list));
    }
  }
}

const std::string* JsonChecker::String(const Json& object, std::string_view prefix,
                                       const std::string& key, bool required) {
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

void JsonChecker::Path(const Json& object, std::string_view prefix, const std::string& key,
                       const std::filesystem::path& base, std::filesystem::path& out) {
  if (const std::string* s = String(object, prefix, key)) {
    const std::filesystem::path p(*s);
    out = p.is_absolute() ? p : base / p;
  }
}

void JsonChecker::OrgId(const Json& object, std::string_view prefix, const std::string& key,
                        std::string& out, bool required) {
  if (const std::string* s = String(object, prefix, key, required)) {
    if (!rpc::IsValidOrgId(*s)) {
      Problem(StrCat(prefix, key),
              StrCat("\"", QuoteForMessage(*s),
                     "\" is not an organisation id (2 to 63 characters of a-z, 0-9 and -, "
                     "starting with a letter)"));
    } else {
      out = *s;
    }
  }
}

void JsonChecker::Integer(const Json& object, std::string_view prefix, const std::string& key,
                          int64_t min, int64_t max, int64_t& out) {
  const auto it = object.find(key);
  if (it == object.end()) return;
  const std::string path = StrCat(prefix, key);
  if (!it->is_number_integer()) {
    Problem(path, StrCat("must be a whole number, not ", it->type_name()));
    return;
  }
  const int64_t v = it->is_number_unsigned()
                        ? static_cast<int64_t>(std::min<uint64_t>(
                              it->get<uint64_t>(), static_cast<uint64_t>(max) + 1))
                        : it->get<int64_t>();
  if (v < min || v > max) {
    Problem(path, StrCat(v, " is out of range; allowed: ", min, " to ", max));
    return;
  }
  out = v;
}

void JsonChecker::Unsigned(const Json& object, std::string_view prefix, const std::string& key,
                           uint64_t min, uint64_t max, uint64_t& out) {
  const auto it = object.find(key);
  if (it == object.end()) return;
  const std::string path = StrCat(prefix, key);
  if (!it->is_number_unsigned()) {
    Problem(path, it->is_number_integer()
                      ? StrCat(it->get<int64_t>(), " is out of range; allowed: ", min, " to ", max)
                      : StrCat("must be a whole number, not ", it->type_name()));
    return;
  }
  const uint64_t v = it->get<uint64_t>();
  if (v < min || v > max) {
    Problem(path, StrCat(v, " is out of range; allowed: ", min, " to ", max));
    return;
  }
  out = v;
}

void JsonChecker::Bool(const Json& object, std::string_view prefix, const std::string& key,
                       bool& out) {
  const auto it = object.find(key);
  if (it == object.end()) return;
  if (!it->is_boolean()) {
    Problem(StrCat(prefix, key), StrCat("must be true or false, not ", it->type_name()));
    return;
  }
  out = it->get<bool>();
}

absl::Status JsonChecker::Refusal(std::string_view source_name, std::string_view what) const {
  std::string message = StrCat(source_name, ": ", what, " refused, ", problems_.size(),
                               problems_.size() == 1 ? " problem:" : " problems:");
  for (const std::string& p : problems_) message += StrCat("\n", p);
  return absl::InvalidArgumentError(message);
}

absl::StatusOr<GatewayConfig> ParseGatewayConfig(std::string_view text,
                                                 const std::filesystem::path& base_dir,
                                                 std::string_view source_name) {
  constexpr std::string_view kWhat = "gateway configuration";
  JsonChecker c;
  GatewayConfig config;
  const std::optional<Json> parsed = c.Parse(text);
  if (!parsed.has_value()) return c.Refusal(source_name, kWhat);
  const Json& doc = *parsed;
  if (!doc.is_object()) {
    c.Problem("(top level)", "must be a JSON object");
    return c.Refusal(source_name, kWhat);
  }
  c.NoUnknown(doc, "",
              {"org_id", "listen", "data_dir", "tls", "signing_key_file", "policy", "directory",
               "partner_deadline_ms", "resolve_window_seconds", "authorisation_lifetime_ms",
               "max_message_bytes", "max_tags_per_set", "checkpoint", "timezone"});
  c.OrgId(doc, "", "org_id", config.org_id);
  if (const std::string* listen = c.String(doc, "", "listen")) {
    config.listen = *listen;
    CheckListen(c, *listen);
  }
  c.Path(doc, "", "data_dir", base_dir, config.data_dir);
  c.Path(doc, "", "signing_key_file", base_dir, config.signing_key_file);
  c.Path(doc, "", "policy", base_dir, config.policy_file);

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

absl::StatusOr<std::string> ReadConfigText(const std::filesystem::path& path,
                                           std::string_view what) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return absl::NotFoundError(StrCat(what, " file ", path.string(), " does not exist"));
  }
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::FailedPreconditionError(
        StrCat(what, " file ", path.string(), " is not a regular file"));
  }
  const auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxGatewayConfigBytes) {
    return absl::FailedPreconditionError(
        StrCat(what, " file ", path.string(), " cannot be read or is larger than 1 MiB"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::FailedPreconditionError(StrCat(what, " file ", path.string(), " cannot be read"));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

absl::StatusOr<GatewayConfig> LoadGatewayConfig(const std::filesystem::path& path) {
  auto text = ReadConfigText(path, "gateway configuration");
  if (!text.ok()) return text.status();
  const std::filesystem::path base =
      path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  return ParseGatewayConfig(*text, base, path.string());
}

}  // namespace schakel::gateway
