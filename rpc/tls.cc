#include "rpc/tls.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"
#include "crypto/checked_file.h"

namespace schakel::rpc {
namespace {

namespace fs = std::filesystem;

// The largest PEM file accepted: a CA bundle of a few hundred certificates.
constexpr size_t kMaxFileSize = size_t{1} << 20;

enum class Role { kCaCertificates, kCertificateChain, kPrivateKey };

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kCaCertificates: return "CA certificates file";
    case Role::kCertificateChain: return "certificate chain file";
    case Role::kPrivateKey: return "private key file";
  }
  return "file";
}

// "<role> <path>", the way every message names a file.
std::string Named(Role role, const fs::path& path) {
  return StrCat(RoleName(role), " ", path.string());
}

// The text of a PEM file. Wiped on destruction, since one of them holds a
// private key. Move-only.
class PemText {
 public:
  PemText() = default;
  explicit PemText(std::string text) : text_(std::move(text)) {}
  PemText(PemText&& other) noexcept : text_(std::exchange(other.text_, {})) {}
  PemText& operator=(PemText&& other) noexcept {
    if (this != &other) {
      Wipe(text_);
      text_ = std::exchange(other.text_, {});
    }
    return *this;
  }
  PemText(const PemText&) = delete;
  PemText& operator=(const PemText&) = delete;
  ~PemText() { Wipe(text_); }

  const std::string& text() const { return text_; }
  std::string& mutable_text() { return text_; }

  static void Wipe(std::string& s) {
    if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
    s.clear();
  }

 private:
  std::string text_;
};

// Reads a whole PEM file after checking what it is. The private key file is
// opened without following a final symbolic link and must not be accessible
// to group or others; the checks are made on the opened file, so nothing can
// be swapped in between.
absl::StatusOr<PemText> ReadPemFile(const fs::path& path, Role role) {
  const std::string named = Named(role, path);
  if (path.empty()) {
    return absl::InvalidArgumentError(StrCat(RoleName(role), ": no path given"));
  }
  auto content = crypto::ReadCheckedFile(path, {.named = named,
                                                .max_size = kMaxFileSize,
                                                .secret = role == Role::kPrivateKey,
                                                .size_note = ", the most a PEM file may have here"});
  if (!content.ok()) return content.status();
  if (content->empty()) return absl::InvalidArgumentError(StrCat(named, " is empty"));
  return PemText(std::string(reinterpret_cast<const char*>(content->data()), content->size()));
}

// The labels of the PEM blocks in `text` ("CERTIFICATE", "PRIVATE KEY",
// ...), in order. A label is not secret, but it comes from a file: only
// printable ASCII up to 40 characters counts as one.
std::vector<std::string> PemLabels(std::string_view text) {
  static constexpr std::string_view kBegin = "-----BEGIN ";
  static constexpr std::string_view kDashes = "-----";
  std::vector<std::string> labels;
  for (size_t at = text.find(kBegin); at != std::string_view::npos;
       at = text.find(kBegin, at + 1)) {
    const size_t start = at + kBegin.size();
    const size_t end = text.find(kDashes, start);
    if (end == std::string_view::npos || end - start > 40) continue;
    std::string label(text.substr(start, end - start));
    bool printable = !label.empty();
    for (char c : label) printable = printable && c >= 0x20 && c < 0x7f;
    if (printable) labels.push_back(std::move(label));
  }
  return labels;
}

bool IsPrivateKeyLabel(std::string_view label) {
  return label.size() >= 11 && label.substr(label.size() - 11) == "PRIVATE KEY";
}

// Clears OpenSSL's thread-local error queue when it goes out of scope, so
// that failures here never leave errors behind for gRPC's own TLS calls on
// this thread.
struct OpenSslErrorsCleared {
  OpenSslErrorsCleared() = default;
  OpenSslErrorsCleared(const OpenSslErrorsCleared&) = delete;
  OpenSslErrorsCleared& operator=(const OpenSslErrorsCleared&) = delete;
  ~OpenSslErrorsCleared() { ERR_clear_error(); }
};

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct EvpPkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using UniqueBio = std::unique_ptr<BIO, BioFree>;
using UniqueX509 = std::unique_ptr<X509, X509Free>;
using UniqueEvpPkey = std::unique_ptr<EVP_PKEY, EvpPkeyFree>;

UniqueBio MemoryBio(const std::string& text) {
  return UniqueBio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

// Never asks for a pass phrase (OpenSSL's default would prompt on a
// terminal).
int NoPassphrase(char*, int, int, void*) { return -1; }

// Checks that `pem` holds only certificates, at least one, all parseable;
// returns the first.
absl::StatusOr<UniqueX509> CheckCertificates(const PemText& pem, const fs::path& path, Role role) {
  const std::string named = Named(role, path);
  const std::vector<std::string> labels = PemLabels(pem.text());
  for (const std::string& label : labels) {
    if (IsPrivateKeyLabel(label)) {
      return absl::InvalidArgumentError(
          StrCat(named,
                 " holds a private key; it must hold only certificates (are the key and "
                 "certificate files swapped? A key in this file is exposed: replace the key)"));
    }
    if (label != "CERTIFICATE") {
      return absl::InvalidArgumentError(StrCat(named, " holds a PEM block \"", label,
                                               "\"; it must hold only \"CERTIFICATE\" blocks"));
    }
  }
  if (labels.empty()) {
    const bool der = static_cast<unsigned char>(pem.text()[0]) == 0x30;
    return absl::InvalidArgumentError(
        StrCat(named, " is not a PEM certificate file (no \"-----BEGIN CERTIFICATE-----\" line)",
               der ? StrCat("; it looks like DER: convert it with openssl x509 -inform der -in ",
                            path.string(), " -out <file>.pem")
                   : std::string()));
  }
  OpenSslErrorsCleared cleared;
  UniqueBio bio = MemoryBio(pem.text());
  if (bio == nullptr)
    return absl::ResourceExhaustedError(StrCat("cannot read ", named, ": out of memory"));
  UniqueX509 first;
  for (size_t i = 0; i < labels.size(); ++i) {
    UniqueX509 cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr));
    if (cert == nullptr) {
      return absl::InvalidArgumentError(StrCat(named, ": certificate ", i + 1, " of ",
                                               labels.size(),
                                               " is not a valid PEM X.509 certificate"));
    }
    if (i == 0) first = std::move(cert);
  }
  return first;
}

// Checks that `pem` holds exactly one unencrypted private key that belongs
// to `certificate`.
absl::Status CheckPrivateKey(const PemText& pem, const fs::path& path, X509* certificate,
                             const fs::path& chain_path) {
  const std::string named = Named(Role::kPrivateKey, path);
  int keys = 0;
  for (const std::string& label : PemLabels(pem.text())) {
    if (label == "ENCRYPTED PRIVATE KEY") {
      return absl::InvalidArgumentError(
          StrCat(named,
                 " is encrypted; Schakel reads an unencrypted key protected by mode 0600 "
                 "(decrypt it with openssl pkey -in <encrypted> -out <file>)"));
    }
    if (label == "CERTIFICATE") {
      return absl::InvalidArgumentError(
          StrCat(named,
                 " holds a certificate; it must hold only the private key (are the key and "
                 "certificate files swapped?)"));
    }
    if (IsPrivateKeyLabel(label)) {
      ++keys;
    } else if (label != "EC PARAMETERS") {
      return absl::InvalidArgumentError(
          StrCat(named, " holds a PEM block \"", label, "\"; it must hold only a private key"));
    }
  }
  if (keys == 0) {
    return absl::InvalidArgumentError(
        StrCat(named, " is not a PEM private key file (no \"-----BEGIN PRIVATE KEY-----\" line)"));
  }
  if (keys > 1) {
    return absl::InvalidArgumentError(
        StrCat(named, " holds ", keys, " private keys; it must hold exactly one"));
  }
  if (pem.text().find("Proc-Type: 4,ENCRYPTED") != std::string::npos) {
    return absl::InvalidArgumentError(
        StrCat(named,
               " is encrypted; Schakel reads an unencrypted key protected by mode 0600 "
               "(decrypt it with openssl pkey -in <encrypted> -out <file>)"));
  }
  OpenSslErrorsCleared cleared;
  UniqueBio bio = MemoryBio(pem.text());
  if (bio == nullptr)
    return absl::ResourceExhaustedError(StrCat("cannot read ", named, ": out of memory"));
  UniqueEvpPkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(StrCat(named, " does not hold a valid PEM private key"));
  }
  if (X509_check_private_key(certificate, key.get()) != 1) {
    return absl::InvalidArgumentError(StrCat(named, " does not belong to the first certificate in ",
                                             Named(Role::kCertificateChain, chain_path),
                                             " (the key and the certificate must be a pair)"));
  }
  return absl::OkStatus();
}

struct CheckedFiles {
  PemText ca_certificates;
  PemText certificate_chain;
  PemText private_key;
};

absl::StatusOr<CheckedFiles> ReadAndCheck(const TlsFiles& files) {
  CheckedFiles out;
  {
    auto ca = ReadPemFile(files.ca_certificates, Role::kCaCertificates);
    if (!ca.ok()) return ca.status();
    auto first = CheckCertificates(*ca, files.ca_certificates, Role::kCaCertificates);
    if (!first.ok()) return first.status();
    out.ca_certificates = *std::move(ca);
  }
  auto chain = ReadPemFile(files.certificate_chain, Role::kCertificateChain);
  if (!chain.ok()) return chain.status();
  auto leaf = CheckCertificates(*chain, files.certificate_chain, Role::kCertificateChain);
  if (!leaf.ok()) return leaf.status();
  out.certificate_chain = *std::move(chain);

  auto key = ReadPemFile(files.private_key, Role::kPrivateKey);
  if (!key.ok()) return key.status();
  if (absl::Status s =
          CheckPrivateKey(*key, files.private_key, leaf->get(), files.certificate_chain);
      !s.ok()) {
    return s;
  }
  out.private_key = *std::move(key);
  return out;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsFromFiles(
    const TlsFiles& files) {
  auto checked = ReadAndCheck(files);
  if (!checked.ok()) return checked.status();
  grpc::SslServerCredentialsOptions options(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  options.pem_root_certs = checked->ca_certificates.text();
  options.pem_key_cert_pairs.push_back(
      {checked->private_key.text(), checked->certificate_chain.text()});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  for (auto& pair : options.pem_key_cert_pairs) PemText::Wipe(pair.private_key);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC could not create TLS server credentials");
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerCredentialsWithoutClientCertificate(
    const TlsFiles& files) {
  auto checked = ReadAndCheck(files);
  if (!checked.ok()) return checked.status();
  grpc::SslServerCredentialsOptions options(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  options.pem_key_cert_pairs.push_back(
      {checked->private_key.text(), checked->certificate_chain.text()});
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::SslServerCredentials(options);
  for (auto& pair : options.pem_key_cert_pairs) PemText::Wipe(pair.private_key);
  if (credentials == nullptr) {
    return absl::InternalError(
        "gRPC could not create TLS server credentials (without client certificate)");
  }
  return credentials;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ClientCredentialsFromFiles(
    const TlsFiles& files) {
  auto checked = ReadAndCheck(files);
  if (!checked.ok()) return checked.status();
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = checked->ca_certificates.text();
  options.pem_private_key = checked->private_key.text();
  options.pem_cert_chain = checked->certificate_chain.text();
  std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::SslCredentials(options);
  PemText::Wipe(options.pem_private_key);
  if (credentials == nullptr) {
    return absl::InternalError("gRPC could not create TLS channel credentials");
  }
  return credentials;
}

}  // namespace schakel::rpc
