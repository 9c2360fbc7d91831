#include "common/json_checker.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "common/org_id.h"
#include "common/strings.h"

namespace schakel {

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
  } catch (const Json::exception&) {
    // out_of_range.406: a number beyond a double ("1e400"); its message
    // quotes the number, so it is not passed on.
    Problem("(json)", "not valid JSON: a number is out of range");
    return std::nullopt;
  }
}

std::optional<JsonChecker::Json> JsonChecker::ParseObject(std::string_view text) {
  std::optional<Json> parsed = Parse(text);
  if (parsed.has_value() && !parsed->is_object()) {
    Problem("(top level)", "must be a JSON object");
    return std::nullopt;
  }
  return parsed;
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
    if (!IsValidOrgId(*s)) {
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
  // nlohmann keeps a positive number as unsigned: compare it as one (it may
  // be above INT64_MAX) and name the value as written.
  if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(std::max<int64_t>(max, 0))) {
    Problem(path, StrCat(it->get<uint64_t>(), " is out of range; allowed: ", min, " to ", max));
    return;
  }
  const int64_t v = it->get<int64_t>();
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

void JsonChecker::TlsSection(const Json& doc, const std::filesystem::path& base,
                             std::filesystem::path& ca, std::filesystem::path& cert,
                             std::filesystem::path& key) {
  if (const auto tls = doc.find("tls"); tls == doc.end()) {
    Problem("tls", "missing; this field is required ({\"ca\", \"cert\", \"key\"})");
  } else if (!tls->is_object()) {
    Problem("tls", StrCat("must be an object, not ", tls->type_name()));
  } else {
    NoUnknown(*tls, "tls.", {"ca", "cert", "key"});
    Path(*tls, "tls.", "ca", base, ca);
    Path(*tls, "tls.", "cert", base, cert);
    Path(*tls, "tls.", "key", base, key);
  }
}

absl::Status JsonChecker::Refusal(std::string_view source_name, std::string_view what) const {
  std::string message = StrCat(source_name, ": ", what, " refused, ", problems_.size(),
                               problems_.size() == 1 ? " problem:" : " problems:");
  for (const std::string& p : problems_) message += StrCat("\n", p);
  return absl::InvalidArgumentError(message);
}

void JsonChecker::HostPort(std::string_view path, const std::string& value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == value.size()) {
    Problem(path, "must be host:port, e.g. \"0.0.0.0:8443\" or \"127.0.0.1:0\"");
    return;
  }
  const std::string port = value.substr(colon + 1);
  bool digits = port.size() <= 5;
  for (char ch : port) digits = digits && ch >= '0' && ch <= '9';
  if (!digits || std::stoi(port) > 65535) {
    Problem(path, StrCat("port \"", QuoteForMessage(port), "\" is not a number from 0 to 65535"));
  }
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
  if (ec || size > kMaxConfigBytes) {
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

}  // namespace schakel
