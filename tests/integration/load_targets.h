// The load library's two targets (load/load_client.h) on a test Federation,
// for the tests that put load on it (load_smoke_test.cc, faults_test.cc).
// Header only; the programs link schakel_load.
#ifndef SCHAKEL_TESTS_INTEGRATION_LOAD_TARGETS_H_
#define SCHAKEL_TESTS_INTEGRATION_LOAD_TARGETS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "load/load_client.h"
#include "tests/integration/federation.h"

namespace schakel::integration {

// `user` of `org` through the org's node (the user path); the user must have
// been added with Federation::AddUser, which writes <root>/<org>/cli-<user>.json.
inline absl::StatusOr<std::unique_ptr<load::MatchTarget>> UserLoadTarget(const Federation& fed,
                                                                         const std::string& org,
                                                                         const std::string& user) {
  return load::NodeTarget({.config_file = (fed.root() / org / ("cli-" + user + ".json")).string(),
                           .endpoint = "",
                           .ca = "",
                           .server_name = "",
                           .credential_file = "",
                           .role = ""});
}

// `org` straight at the gateway (OpenExchange), acting for its analyst `user`.
inline absl::StatusOr<std::unique_ptr<load::MatchTarget>> GatewayLoadTarget(
    const Federation& fed, const std::string& org, const std::string& user) {
  return load::GatewayTarget({.endpoint = fed.gateway_address(),
                              .server_name = "localhost",
                              .tls = {.ca_certificates = fed.ca_file(),
                                      .certificate_chain = fed.cert_file(org),
                                      .private_key = fed.key_file(org)},
                              .user_id = user,
                              .role = v1::ROLE_ANALYST});
}

}  // namespace schakel::integration

#endif  // SCHAKEL_TESTS_INTEGRATION_LOAD_TARGETS_H_
