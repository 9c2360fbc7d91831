// The identity rule (rpc/identity.h) on an in-memory auth context: which
// property names the organisation, and every way a certificate can fail to
// name one. tls_test.cc shows the same rule on real certificates.
#include "rpc/identity.h"

#include <gmock/gmock.h>
#include <grpc/grpc_security_constants.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace schakel::rpc {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// An AuthPropertyIterator that iterates over nothing (its constructor is
// protected). FakeAuthContext does not support iteration; the code under test
// does not iterate.
class EmptyPropertyIterator : public grpc::AuthPropertyIterator {
 public:
  EmptyPropertyIterator() = default;
};

// An auth context as gRPC fills it after a verified TLS handshake, with
// properties set by the test.
class FakeAuthContext : public grpc::AuthContext {
 public:
  FakeAuthContext() { Add(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, "ssl"); }

  FakeAuthContext& Add(const std::string& name, const std::string& value) {
    properties_.emplace(name, value);
    return *this;
  }
  FakeAuthContext& Replace(const std::string& name, const std::string& value) {
    properties_.erase(name);
    return Add(name, value);
  }
  void set_authenticated(bool authenticated) { authenticated_ = authenticated; }

  bool IsPeerAuthenticated() const override { return authenticated_; }
  std::vector<grpc::string_ref> GetPeerIdentity() const override { return {}; }
  std::string GetPeerIdentityPropertyName() const override { return ""; }
  std::vector<grpc::string_ref> FindPropertyValues(const std::string& name) const override {
    std::vector<grpc::string_ref> out;
    auto [first, last] = properties_.equal_range(name);
    for (auto it = first; it != last; ++it) out.emplace_back(it->second);
    return out;
  }
  grpc::AuthPropertyIterator begin() const override { return EmptyPropertyIterator(); }
  grpc::AuthPropertyIterator end() const override { return EmptyPropertyIterator(); }
  void AddProperty(const std::string& key, const grpc::string_ref& value) override {
    properties_.emplace(key, std::string(value.data(), value.size()));
  }
  bool SetPeerIdentityPropertyName(const std::string&) override { return false; }

 private:
  std::multimap<std::string, std::string> properties_;
  bool authenticated_ = true;
};

constexpr char kUri[] = GRPC_PEER_URI_PROPERTY_NAME;
constexpr char kSan[] = GRPC_X509_SAN_PROPERTY_NAME;
constexpr char kCn[] = GRPC_X509_CN_PROPERTY_NAME;

TEST(IdentityTest, OrganisationFromTheSchakelUriSan) {
  FakeAuthContext context;
  context.Add(kCn, "politie-oost-nl.schakel.example")
      .Add(kUri, "spiffe://schakel.example/node")
      .Add(kUri, "schakel://org/politie-oost-nl");
  const auto identity = PeerIdentityFromAuthContext(&context);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->org_id, "politie-oost-nl");
  EXPECT_EQ(identity->source, PeerIdentity::Source::kUriSan);
  EXPECT_EQ(identity->common_name, "politie-oost-nl.schakel.example");
}

TEST(IdentityTest, TheUriSanWinsOverADifferentCommonName) {
  FakeAuthContext context;
  context.Add(kCn, "gemeente-tilburg").Add(kUri, "schakel://org/politie-oost-nl");
  const auto identity = PeerIdentityFromAuthContext(&context);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->org_id, "politie-oost-nl");
  EXPECT_EQ(identity->common_name, "gemeente-tilburg");
}

TEST(IdentityTest, RepeatedUriSanOfTheSameOrganisationIsFine) {
  FakeAuthContext context;
  context.Add(kUri, "schakel://org/riec-zuid").Add(kUri, "schakel://org/riec-zuid");
  const auto identity = PeerIdentityFromAuthContext(&context);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->org_id, "riec-zuid");
}

TEST(IdentityTest, CommonNameWhenThereIsNoSchakelUriSan) {
  FakeAuthContext context;
  context.Add(kCn, "gemeente-tilburg").Add(kUri, "https://gemeente-tilburg.example/");
  const auto identity = PeerIdentityFromAuthContext(&context);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->org_id, "gemeente-tilburg");
  EXPECT_EQ(identity->source, PeerIdentity::Source::kCommonName);
  EXPECT_EQ(identity->common_name, "gemeente-tilburg");
}

TEST(IdentityTest, AMisspelledSchakelUriSanIsRefusedNotSkipped) {
  // Otherwise a certificate with "SCHAKEL://org/politie" and CN riec would
  // quietly be taken for riec.
  for (const char* uri : {"SCHAKEL://org/politie-oost-nl", "schakel:org/politie-oost-nl",
                          "Schakel://ORG/politie-oost-nl"}) {
    SCOPED_TRACE(uri);
    FakeAuthContext context;
    context.Add(kCn, "gemeente-tilburg").Add(kUri, uri);
    const auto identity = PeerIdentityFromAuthContext(&context);
    ASSERT_FALSE(identity.ok());
    EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(identity.status().message()), HasSubstr("is not of the form schakel://org/"));
  }
}

TEST(IdentityTest, ASchakelNameInANonUriSanIsNotTakenForOne) {
  // gRPC lists DNS, URI, e-mail and IP SANs alike under
  // x509_subject_alternative_name; only peer_uri holds URI SANs.
  FakeAuthContext context;
  context.Add(kCn, "gemeente-tilburg").Add(kSan, "schakel://org/politie-oost-nl");
  const auto identity = PeerIdentityFromAuthContext(&context);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->org_id, "gemeente-tilburg");
  EXPECT_EQ(identity->source, PeerIdentity::Source::kCommonName);
}

TEST(IdentityTest, NoAuthenticatedPeerIsUnauthenticated) {
  const auto none = PeerIdentityFromAuthContext(nullptr);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(none.status().message(), HasSubstr("no authenticated peer"));

  FakeAuthContext unverified;
  unverified.Add(kUri, "schakel://org/politie-oost-nl").Add(kCn, "politie-oost-nl");
  unverified.set_authenticated(false);
  const auto identity = PeerIdentityFromAuthContext(&unverified);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("no authenticated peer"));
}

TEST(IdentityTest, APeerAuthenticatedOtherwiseThanByTlsIsUnauthenticated) {
  FakeAuthContext local;
  local.Replace(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME, "local");
  local.Add(kCn, "politie-oost-nl");
  const auto identity = PeerIdentityFromAuthContext(&local);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("transport security: \"local\""));
}

TEST(IdentityTest, UriSansNamingTwoOrganisationsAreRefused) {
  FakeAuthContext context;
  context.Add(kUri, "schakel://org/politie-oost-nl").Add(kUri, "schakel://org/gemeente-tilburg");
  const auto identity = PeerIdentityFromAuthContext(&context);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("more than one organisation"));
}

TEST(IdentityTest, AnInvalidOrganisationInTheUriSanIsRefusedWithoutFallingBackToTheCn) {
  for (const std::string& bad :
       std::vector<std::string>{"", "x", "Politie-oost-nl", "politie/oost", "1politie",
                                "politie_oost", std::string(64, 'a')}) {
    FakeAuthContext context;
    context.Add(kCn, "politie-oost-nl").Add(kUri, "schakel://org/" + bad);
    const auto identity = PeerIdentityFromAuthContext(&context);
    EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated) << bad;
    EXPECT_THAT(identity.status().message(), HasSubstr("does not name a valid organisation"));
  }
}

TEST(IdentityTest, ACommonNameThatIsNotAnOrganisationIdIsRefused) {
  FakeAuthContext context;
  context.Add(kCn, "politie-oost-nl.schakel.example");
  const auto identity = PeerIdentityFromAuthContext(&context);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(),
              HasSubstr("common name \"politie-oost-nl.schakel.example\" is not a valid "
                        "organisation id"));
}

TEST(IdentityTest, ACertificateNamingNothingIsRefused) {
  FakeAuthContext context;
  context.Add(kSan, "localhost");
  const auto identity = PeerIdentityFromAuthContext(&context);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("names no organisation"));
}

TEST(IdentityTest, NonPrintableValuesAreNotQuoted) {
  FakeAuthContext context;
  context.Add(kCn, std::string("evil\n\x1b[31m", 10));
  const auto identity = PeerIdentityFromAuthContext(&context);
  EXPECT_EQ(identity.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(identity.status().message(), HasSubstr("non-printable characters, not shown"));
  EXPECT_THAT(identity.status().message(), Not(HasSubstr("evil")));
}

TEST(IdentityTest, OrgIdSyntaxIsCommonProtos) {
  EXPECT_TRUE(IsValidOrgId("politie-oost-nl"));
  EXPECT_TRUE(IsValidOrgId("ab"));
  EXPECT_TRUE(IsValidOrgId("a1-"));
  EXPECT_TRUE(IsValidOrgId(std::string(63, 'a')));
  EXPECT_FALSE(IsValidOrgId(""));
  EXPECT_FALSE(IsValidOrgId("a"));
  EXPECT_FALSE(IsValidOrgId(std::string(64, 'a')));
  EXPECT_FALSE(IsValidOrgId("-ab"));
  EXPECT_FALSE(IsValidOrgId("9ab"));
  EXPECT_FALSE(IsValidOrgId("Ab"));
  EXPECT_FALSE(IsValidOrgId("a.b"));
  EXPECT_FALSE(IsValidOrgId("a b"));
}

}  // namespace
}  // namespace schakel::rpc
