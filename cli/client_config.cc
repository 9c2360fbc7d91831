#include "cli/client_config.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "cli/proto_text.h"
#include "common/strings.h"
#include "crypto/checked_file.h"
#include "schakel/v1/common.pb.h"

namespace schakel::cli {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kKeys[] = {"endpoint", "ca", "server_name", "credential_file", "role"};

// Names of the keys, for messages: "endpoint, ca, ...".
std::string KnownKeys() {
  std::string list;
  for (std::string_view key : kKeys) list += StrCat(list.empty() ? "" : ", ", key);
  return list;
}

// A relative path from a config file is relative to that file's directory.
fs::path Anchored(const std::string& value, const fs::path& source) {
  fs::path path(value);
  if (path.is_relative() && !source.empty()) return source.parent_path() / path;
  return path;
}

bool IsUserIdChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsBase64UrlChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

std::string ErrnoText(int error) { return std::strerror(error); }

}  // namespace

fs::path ConfigPath(const ConfigOverrides& overrides, const Environment& environment) {
  if (!overrides.config_file.empty()) return overrides.config_file;
  if (auto env = environment.Get("SCHAKEL_CONFIG"); env.has_value() && !env->empty()) return *env;
  if (auto xdg = environment.Get("XDG_CONFIG_HOME"); xdg.has_value() && !xdg->empty()) {
    return fs::path(*xdg) / "schakel" / "cli.json";
  }
  if (auto home = environment.Get("HOME"); home.has_value() && !home->empty()) {
    return fs::path(*home) / ".config" / "schakel" / "cli.json";
  }
  return {};
}

absl::StatusOr<ClientConfig> ParseClientConfig(std::string_view json, const fs::path& source) {
  const std::string named = StrCat("config file ", source.string());
  nlohmann::json doc = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::InvalidArgumentError(
        StrCat(named, " is not valid JSON; it must be one object such as {\"endpoint\": "
                      "\"127.0.0.1:7443\", \"ca\": \"ca.pem\", \"credential_file\": "
                      "\"me.cred\"}"));
  }
  if (!doc.is_object()) {
    return absl::InvalidArgumentError(StrCat(named, " must hold one JSON object"));
  }
  std::vector<std::string> problems;
  ClientConfig config;
  config.source = source;
  for (const auto& [key, value] : doc.items()) {
    bool known = false;
    for (std::string_view k : kKeys) known = known || key == k;
    if (!known) {
      problems.push_back(StrCat("unknown key \"", key, "\" (known: ", KnownKeys(), ")"));
      continue;
    }
    if (!value.is_string()) {
      problems.push_back(StrCat("\"", key, "\" must be a string"));
      continue;
    }
    const std::string text = value.get<std::string>();
    if (key == "endpoint") config.endpoint = text;
    if (key == "ca") config.ca = text.empty() ? fs::path() : Anchored(text, source);
    if (key == "server_name") config.server_name = text;
    if (key == "credential_file") {
      config.credential_file = text.empty() ? fs::path() : Anchored(text, source);
    }
    if (key == "role") config.role = text;
  }
  if (!problems.empty()) {
    std::string message = named;
    for (size_t i = 0; i < problems.size(); ++i) {
      message += StrCat(i == 0 ? ": " : "; ", problems[i]);
    }
    return absl::InvalidArgumentError(message);
  }
  return config;
}

absl::StatusOr<ClientConfig> LoadClientConfig(const ConfigOverrides& overrides,
                                              const Environment& environment) {
  const fs::path path = ConfigPath(overrides, environment);
  // A file named explicitly (flag or $SCHAKEL_CONFIG) must exist; the
  // default one only when the flags leave something out.
  const bool named_explicitly =
      !overrides.config_file.empty() || environment.Get("SCHAKEL_CONFIG").value_or("") != "";
  const bool flags_suffice = !overrides.endpoint.empty() && !overrides.ca.empty() &&
                             !overrides.credential_file.empty();
  ClientConfig config;
  std::error_code ec;
  const bool exists = !path.empty() && fs::exists(path, ec);
  if (exists || named_explicitly || !flags_suffice) {
    if (path.empty()) {
      return absl::NotFoundError(
          "no config file: neither --config, $SCHAKEL_CONFIG nor $HOME is set");
    }
    if (!exists) {
      return absl::NotFoundError(StrCat("config file ", path.string(), " does not exist"));
    }
    auto text = crypto::ReadCheckedFile(path, {.named = StrCat("config file ", path.string()),
                                               .max_size = 64 * 1024,
                                               .secret = false,
                                               .size_note = ", the most a config file may have"});
    if (!text.ok()) return text.status();
    auto parsed = ParseClientConfig(
        std::string_view(reinterpret_cast<const char*>(text->data()), text->size()), path);
    if (!parsed.ok()) return parsed.status();
    config = *std::move(parsed);
  }
  if (!overrides.endpoint.empty()) config.endpoint = overrides.endpoint;
  if (!overrides.ca.empty()) config.ca = overrides.ca;
  if (!overrides.server_name.empty()) config.server_name = overrides.server_name;
  if (!overrides.credential_file.empty()) config.credential_file = overrides.credential_file;
  if (!overrides.role.empty()) config.role = overrides.role;

  std::vector<std::string> missing;
  if (config.endpoint.empty()) missing.emplace_back("\"endpoint\" (or --endpoint)");
  if (config.ca.empty()) missing.emplace_back("\"ca\" (or --ca)");
  if (config.credential_file.empty()) {
    missing.emplace_back("\"credential_file\" (or --credential-file)");
  }
  if (!missing.empty()) {
    std::string list;
    for (const std::string& m : missing) list += StrCat(list.empty() ? "" : ", ", m);
    return absl::InvalidArgumentError(
        StrCat(config.source.empty() ? std::string("the flags")
                                     : StrCat("config file ", config.source.string()),
               " lack", config.source.empty() ? "" : "s", " ", list));
  }
  if (!config.role.empty()) {
    auto role = ParseEnumName<schakel::v1::Role>(config.role, "role");
    if (!role.ok()) return role.status();
    config.role = EnumName(*role);
  }
  return config;
}

std::string Credential::AuthorizationValue() const {
  return std::string(reinterpret_cast<const char*>(bearer_.data()), bearer_.size());
}

absl::StatusOr<Credential> Credential::Parse(std::string_view text, std::string_view named) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ' ||
                           text.back() == '\t')) {
    text.remove_suffix(1);
  }
  const std::string_view format =
      " must hold one line \"<user_id>.<secret>\" as 'schakel users create' wrote it";
  if (text.empty()) return absl::InvalidArgumentError(StrCat(named, " is empty;", format));
  const size_t dot = text.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) {
    return absl::InvalidArgumentError(StrCat(named, format));
  }
  const std::string_view user = text.substr(0, dot);
  const std::string_view secret = text.substr(dot + 1);
  bool user_ok = user.size() <= 64;
  for (char c : user) user_ok = user_ok && IsUserIdChar(c);
  if (!user_ok) {
    return absl::InvalidArgumentError(
        StrCat(named, ": the user id before the last '.' must be 1 to 64 of [a-z0-9._-];",
               format));
  }
  bool secret_ok = secret.size() <= 256;
  for (char c : secret) secret_ok = secret_ok && IsBase64UrlChar(c);
  if (!secret_ok) {
    return absl::InvalidArgumentError(
        StrCat(named, ": the secret after the last '.' must be base64url ([A-Za-z0-9_-]);",
               format));
  }
  constexpr std::string_view kBearer = "Bearer ";
  crypto::SecretBuffer bearer(kBearer.size() + text.size());
  std::memcpy(bearer.data(), kBearer.data(), kBearer.size());
  std::memcpy(bearer.data() + kBearer.size(), text.data(), text.size());
  return Credential(std::string(user), std::move(bearer));
}

absl::StatusOr<Credential> LoadCredential(const fs::path& path) {
  const std::string named = StrCat("credential file ", path.string());
  auto content = crypto::ReadCheckedFile(
      path, {.named = named, .max_size = 1024, .secret = true,
             .size_note = ", the most a credential file may have"});
  if (!content.ok()) return content.status();
  return Credential::Parse(
      std::string_view(reinterpret_cast<const char*>(content->data()), content->size()), named);
}

absl::StatusOr<NewCredentialFile> NewCredentialFile::Create(const fs::path& path) {
  const std::string named = StrCat("credential file ", path.string());
  const int fd =
      ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    const int error = errno;
    if (error == EEXIST) {
      return absl::AlreadyExistsError(
          StrCat(named, " already exists; a credential file is never overwritten"));
    }
    return absl::ErrnoToStatus(error, StrCat("cannot create ", named, ": ", ErrnoText(error)));
  }
  // The umask may have narrowed 0600 further; it cannot have widened it.
  return NewCredentialFile(path, fd);
}

NewCredentialFile::NewCredentialFile(NewCredentialFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      written_(std::exchange(other.written_, true)) {}

NewCredentialFile::~NewCredentialFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!written_ && !path_.empty()) {
    std::error_code ignored;
    fs::remove(path_, ignored);
  }
}

absl::Status NewCredentialFile::Write(std::string_view credential) {
  const std::string named = StrCat("credential file ", path_.string());
  auto fail = [&](int error, std::string_view what) {
    ::close(fd_);
    fd_ = -1;
    std::error_code ignored;
    fs::remove(path_, ignored);
    written_ = true;  // nothing left to clean up
    return absl::ErrnoToStatus(error, StrCat(what, " ", named, ": ", ErrnoText(error)));
  };
  if (fd_ < 0) return absl::FailedPreconditionError(StrCat(named, " was already written"));
  for (std::string_view part : {credential, std::string_view("\n")}) {
    size_t done = 0;
    while (done < part.size()) {
      const ssize_t n = ::write(fd_, part.data() + done, part.size() - done);
      if (n < 0) {
        if (errno == EINTR) continue;
        return fail(errno, "cannot write");
      }
      done += static_cast<size_t>(n);
    }
  }
  if (::fsync(fd_) != 0) return fail(errno, "cannot sync");
  if (::close(fd_) != 0) {
    fd_ = -1;
    return fail(errno, "cannot close");
  }
  fd_ = -1;
  written_ = true;
  return absl::OkStatus();
}

}  // namespace schakel::cli
