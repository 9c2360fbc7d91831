// Mutual TLS (rpc/tls.h) with real certificates from deploy/pki.sh and a real
// gRPC server on 127.0.0.1: who gets in and as whom, and every way the
// credential files can be wrong, each with its code and message.
#include "rpc/tls.h"

#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "rpc/channel.h"
#include "rpc/deadline.h"
#include "rpc/status.h"
#include "rpc_test_support.h"
#include "schakel/v1/diagnostics.grpc.pb.h"

namespace schakel::rpc {
namespace {

namespace fs = std::filesystem;
using ::schakel::rpc::testing::kOrg;
using ::schakel::rpc::testing::kServerOrg;
using ::schakel::rpc::testing::TestPki;
using ::schakel::rpc::testing::TestServer;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteFile(const fs::path& path, const std::string& content, fs::perms perms) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << content;
  fs::permissions(path, perms);
}

// The base64 body lines of a PEM file: what must never appear in a message.
std::vector<std::string> BodyLines(const std::string& pem) {
  std::vector<std::string> lines;
  std::istringstream in(pem);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line.find("-----") == std::string::npos) lines.push_back(line);
  }
  return lines;
}

// ------------------------------------------------------------ handshakes

class MutualTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki();
    ASSERT_TRUE(pki_->ok()) << "deploy/pki.sh failed; run it by hand: " << testing::PkiScript();
    auto credentials = ServerCredentialsFromFiles(pki_->Files(kServerOrg));
    ASSERT_TRUE(credentials.ok()) << credentials.status();
    server_ = new TestServer(*credentials);
    ASSERT_NE(server_->port(), 0);
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (pki_ == nullptr || !pki_->ok() || server_ == nullptr || server_->port() == 0) {
      GTEST_SKIP() << "set-up failed (see above)";
    }
  }

  // Calls the server's GetHealth with `credentials`, sending metadata that
  // claims another organisation (which must not count). On success,
  // response->org_id() and server_kind() are the server's view of the caller.
  static grpc::Status Call(std::shared_ptr<grpc::ChannelCredentials> credentials,
                           schakel::v1::GetHealthResponse* response,
                           const std::string& target_name_override = "") {
    testing::CallOptions options;
    options.target_name_override = target_name_override;
    options.metadata = {{"x509_common_name", "gemeente-tilburg"},
                        {"peer_uri", "schakel://org/gemeente-tilburg"}};
    return testing::CallGetHealth(server_->endpoint(), std::move(credentials), response, options);
  }

  static std::shared_ptr<grpc::ChannelCredentials> Client(const std::string& stem) {
    auto credentials = ClientCredentialsFromFiles(pki_->Files(stem));
    EXPECT_TRUE(credentials.ok()) << credentials.status();
    return credentials.ok() ? *credentials : nullptr;
  }

  static TestPki* pki_;
  static TestServer* server_;
};

TestPki* MutualTlsTest::pki_ = nullptr;
TestServer* MutualTlsTest::server_ = nullptr;

TEST_F(MutualTlsTest, AValidOrganisationCertificateIsIdentifiedAsThatOrganisation) {
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(Client(kOrg), &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.org_id(), kOrg) << "from the certificate, not the metadata sent";
  EXPECT_EQ(response.server_kind(), "uri-san");
}

TEST_F(MutualTlsTest, ServerIsVerifiedByDnsNameThroughTheTargetNameOverride) {
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(Client(kOrg), &response, "localhost");
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.org_id(), kOrg);
}

TEST_F(MutualTlsTest, AServerNotNamedByItsCertificateIsRefusedByTheClient) {
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(Client(kOrg), &response, "gemeente-tilburg.example");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.org_id(), "");
}

TEST_F(MutualTlsTest, AClientWithoutCertificateDoesNotGetIn) {
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = ReadAll(pki_->Ca());  // trusts the server, presents nothing
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(grpc::SslCredentials(options), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.org_id(), "");
}

TEST_F(MutualTlsTest, TheExpiredCertificateIsGoodInEveryOtherWay) {
  // So that the next test shows expiry alone keeps it out: our CA signed it.
  EXPECT_EQ(std::system(StrCat("openssl verify -no_check_time -CAfile '", pki_->Ca().string(),
                               "' '", pki_->Cert("expired").string(), "' >/dev/null 2>&1")
                            .c_str()),
            0);
}

// Client certificates of the organisation that the server must refuse in the
// handshake: signed by another CA, expired, self-signed (pki.sh --name).
class RejectedCertificateTest : public MutualTlsTest,
                                public ::testing::WithParamInterface<std::string> {};

TEST_P(RejectedCertificateTest, DoesNotGetIn) {
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(Client(GetParam()), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
  EXPECT_EQ(response.org_id(), "");
}

INSTANTIATE_TEST_SUITE_P(MutualTls, RejectedCertificateTest,
                         ::testing::Values("foreign", "expired", "self-signed"),
                         [](const auto& param_info) {
                           std::string name = param_info.param;
                           std::erase(name, '-');
                           return name;
                         });

TEST_F(MutualTlsTest, AClientThatTrustsAnotherCaRefusesTheServer) {
  TlsFiles files = pki_->Files(kOrg);
  files.ca_certificates = pki_->other_ca_dir() / "ca.pem";
  auto credentials = ClientCredentialsFromFiles(files);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  schakel::v1::GetHealthResponse response;
  const grpc::Status status = Call(*credentials, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << status.error_message();
}

TEST_F(MutualTlsTest, MessagesLargerThanGrpcsDefaultLimitPass) {
  const int bytes = 6 * 1024 * 1024;  // gRPC's default receive limit is 4 MiB
  testing::CallOptions options;
  options.metadata = {{"test-response-bytes", std::to_string(bytes)}};
  schakel::v1::GetHealthResponse response;
  const grpc::Status status =
      testing::CallGetHealth(server_->endpoint(), Client(kOrg), &response, options);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": " << status.error_message();
  EXPECT_EQ(response.software_version().size(), static_cast<size_t>(bytes));
}

TEST(PlaintextTest, AServerWithoutTlsHasNoPeerIdentityAndSaysSoWithDetails) {
  TestServer server(grpc::InsecureServerCredentials());
  ASSERT_NE(server.port(), 0);
  testing::CallOptions options;
  options.metadata = {{"x509_common_name", kOrg}};  // metadata is no identity
  schakel::v1::GetHealthResponse response;
  const absl::Status status = FromGrpcStatus(testing::CallGetHealth(
      server.endpoint(), grpc::InsecureChannelCredentials(), &response, options));
  EXPECT_EQ(status.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(status.message(), HasSubstr("no authenticated peer"));
  const auto detail = ErrorDetailOf(status);
  ASSERT_TRUE(detail.has_value()) << "ErrorDetail travels in grpc-status-details-bin";
  EXPECT_EQ(detail->reason(), schakel::v1::DENIAL_REASON_UNAUTHENTICATED);
}

// ------------------------------------------------------------ files

class TlsFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki();
    ASSERT_TRUE(pki_->ok()) << "deploy/pki.sh failed; run it by hand: " << testing::PkiScript();
  }
  static void TearDownTestSuite() {
    delete pki_;
    pki_ = nullptr;
  }
  void SetUp() override {
    if (pki_ == nullptr || !pki_->ok()) GTEST_SKIP() << "set-up failed (see above)";
    scratch_ = std::make_unique<testing::TempDir>();
  }

  // `name` in a scratch directory with `content` and mode `perms`.
  fs::path Scratch(const std::string& name, const std::string& content,
                   fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
    const fs::path path = scratch_->path() / name;
    WriteFile(path, content, perms);
    return path;
  }

  // Both loaders give the same answer for the same files; returns it.
  static absl::Status Load(const TlsFiles& files) {
    const absl::Status server = ServerCredentialsFromFiles(files).status();
    const absl::Status client = ClientCredentialsFromFiles(files).status();
    EXPECT_EQ(server, client);
    return server;
  }

  // No message may contain a line of the key's PEM body.
  static void ExpectNoKeyMaterial(const absl::Status& status, const fs::path& key) {
    for (const std::string& line : BodyLines(ReadAll(key))) {
      EXPECT_THAT(status.message(), Not(HasSubstr(line.substr(0, 16))));
    }
  }

  static TestPki* pki_;
  std::unique_ptr<testing::TempDir> scratch_;
};

TestPki* TlsFilesTest::pki_ = nullptr;

TEST_F(TlsFilesTest, ValidFilesGiveCredentials) {
  auto server = ServerCredentialsFromFiles(pki_->Files(kServerOrg));
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_NE(*server, nullptr);
  auto client = ClientCredentialsFromFiles(pki_->Files(kOrg));
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_NE(*client, nullptr);
}

TEST_F(TlsFilesTest, KeyFileWithModeOpenToOthersIsRefusedWithTheFix) {
  TlsFiles files = pki_->Files(kOrg);
  files.private_key = Scratch("open.key", ReadAll(pki_->Key(kOrg)),
                              fs::perms::owner_read | fs::perms::owner_write |
                                  fs::perms::group_read | fs::perms::others_read);
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(
      status.message(),
      AllOf(HasSubstr(StrCat("private key file ", files.private_key.string(), " has mode 0644")),
            HasSubstr(StrCat("chmod 600 ", files.private_key.string()))));
  ExpectNoKeyMaterial(status, pki_->Key(kOrg));

  fs::permissions(files.private_key, fs::perms::owner_read);  // 0400 is fine
  EXPECT_TRUE(Load(files).ok());
}

TEST_F(TlsFilesTest, MissingFilesAreNamedWithTheirRole) {
  const fs::path missing = scratch_->path() / "missing.pem";
  TlsFiles files = pki_->Files(kOrg);
  files.ca_certificates = missing;
  absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(),
              HasSubstr(StrCat("cannot open CA certificates file ", missing.string())));

  files = pki_->Files(kOrg);
  files.certificate_chain = missing;
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(StrCat("certificate chain file ", missing.string())));

  files = pki_->Files(kOrg);
  files.private_key = missing;
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(StrCat("private key file ", missing.string())));

  files.private_key.clear();
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("private key file: no path given"));
}

TEST_F(TlsFilesTest, KeyFileBehindASymbolicLinkOrNotAFileIsRefused) {
  TlsFiles files = pki_->Files(kOrg);
  files.private_key = scratch_->path() / "link.key";
  fs::create_symlink(pki_->Key(kOrg), files.private_key);
  absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("is a symbolic link"));

  files.private_key = scratch_->path();
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("is not a regular file (it is a directory)"));

  // Certificates are public: a link to one is followed.
  files = pki_->Files(kOrg);
  files.ca_certificates = scratch_->path() / "ca-link.pem";
  fs::create_symlink(pki_->Ca(), files.ca_certificates);
  EXPECT_TRUE(Load(files).ok());
}

TEST_F(TlsFilesTest, FilesThatAreNotPemOfTheRightKindAreNamed) {
  TlsFiles files = pki_->Files(kOrg);
  files.ca_certificates = Scratch("ca.txt", "this is not a certificate\n");
  absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(StrCat("CA certificates file ", files.ca_certificates.string(),
                               " is not a PEM certificate file")));

  files = pki_->Files(kOrg);
  files.certificate_chain = Scratch("empty.pem", "");
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(StrCat(files.certificate_chain.string(), " is empty")));

  files = pki_->Files(kOrg);
  files.certificate_chain = Scratch(
      "garbled.pem", "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n");
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr("certificate 1 of 1 is not a valid PEM X.509 certificate"));

  files = pki_->Files(kOrg);
  files.private_key = Scratch("not-a-key.key", "hello\n");
  status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr(StrCat("private key file ", files.private_key.string(),
                                                 " is not a PEM private key file")));
}

TEST_F(TlsFilesTest, DerCertificatesAreRecognisedAndTheConversionNamed) {
  const fs::path der = scratch_->path() / "org.der";
  ASSERT_EQ(std::system(StrCat("openssl x509 -in '", pki_->Cert(kOrg).string(),
                               "' -outform der -out '", der.string(), "'")
                            .c_str()),
            0);
  TlsFiles files = pki_->Files(kOrg);
  files.certificate_chain = der;
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("it looks like DER: convert it with openssl x509"));
}

TEST_F(TlsFilesTest, SwappedKeyAndCertificateFilesAreSaidToBeSwapped) {
  TlsFiles files = pki_->Files(kOrg);
  files.certificate_chain = pki_->Key(kOrg);
  files.private_key = Scratch("cert-as-key.key", ReadAll(pki_->Cert(kOrg)));
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(StrCat("certificate chain file ", pki_->Key(kOrg).string(),
                                     " holds a private key")),
                    HasSubstr("swapped")));
  ExpectNoKeyMaterial(status, pki_->Key(kOrg));

  files = pki_->Files(kOrg);
  files.private_key = Scratch("cert-as-key.key", ReadAll(pki_->Cert(kOrg)));
  const absl::Status key_status = Load(files);
  EXPECT_EQ(key_status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key_status.message(), AllOf(HasSubstr("holds a certificate"), HasSubstr("swapped")));
}

TEST_F(TlsFilesTest, AKeyThatDoesNotBelongToTheCertificateIsRefused) {
  TlsFiles files = pki_->Files(kOrg);
  files.private_key = pki_->Key(kServerOrg);
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(
      status.message(),
      HasSubstr(StrCat("private key file ", pki_->Key(kServerOrg).string(),
                       " does not belong to the first certificate in certificate chain file ",
                       pki_->Cert(kOrg).string())));
  ExpectNoKeyMaterial(status, pki_->Key(kServerOrg));
}

TEST_F(TlsFilesTest, AnEncryptedKeyIsRefusedWithoutAskingForAPassphrase) {
  const fs::path encrypted = scratch_->path() / "encrypted.key";
  ASSERT_EQ(std::system(StrCat("openssl pkey -in '", pki_->Key(kOrg).string(),
                               "' -aes256 -passout pass:secret -out '", encrypted.string(), "'")
                            .c_str()),
            0);
  fs::permissions(encrypted, fs::perms::owner_read | fs::perms::owner_write);
  TlsFiles files = pki_->Files(kOrg);
  files.private_key = encrypted;
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              HasSubstr(StrCat("private key file ", encrypted.string(), " is encrypted")));
}

TEST_F(TlsFilesTest, AKeyFileWithTwoKeysIsRefused) {
  TlsFiles files = pki_->Files(kOrg);
  files.private_key = Scratch("two.key", ReadAll(pki_->Key(kOrg)) + ReadAll(pki_->Key(kServerOrg)));
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("holds 2 private keys; it must hold exactly one"));
  ExpectNoKeyMaterial(status, pki_->Key(kOrg));
}

TEST_F(TlsFilesTest, ATooLargeFileIsRefused) {
  TlsFiles files = pki_->Files(kOrg);
  files.ca_certificates = Scratch("huge.pem", std::string((1 << 20) + 1, 'a'));
  const absl::Status status = Load(files);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("is larger than 1048576 bytes"));
}

TEST_F(TlsFilesTest, ACaBundleWithSeveralCertificatesIsAccepted) {
  TlsFiles files = pki_->Files(kOrg);
  files.ca_certificates =
      Scratch("bundle.pem", ReadAll(pki_->Ca()) + ReadAll(pki_->other_ca_dir() / "ca.pem"),
              fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                  fs::perms::others_read);
  EXPECT_TRUE(Load(files).ok());
}

}  // namespace
}  // namespace schakel::rpc
