// The real `schakel-node` process: a PKI from deploy/pki.sh, keys from
// `schakel keys generate`, a local policy and a config in a temporary
// directory; then Evaluate over mutual TLS as the gateway (proof verified
// and tags compared with the node's key file), a replay refused (also after
// SIGKILL and a restart), a caller that is not the gateway refused,
// graceful exit on SIGTERM, and a bad configuration with every problem named.
// The local API over TLS with bearer credentials: the bootstrap admin, users
// and roles, signals added, read, listed, changed, deleted and imported, and
// the node's own log.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <future>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "tests/support/health_check.h"
#include "tests/support/test_scale.h"
#include "tests/support/test_support.h"
#include "crypto/bytes.h"
#include "crypto/key_file.h"
#include "crypto/pseudonym.h"
#include "crypto/random.h"
#include "crypto/signing.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "rpc/tls.h"
#include "schakel/v1/local.grpc.pb.h"
#include "schakel/v1/node.grpc.pb.h"
#include "schakel/v1/node_admin.grpc.pb.h"
#include "schakel/v1/signals.grpc.pb.h"
#include "tests/integration/gateway_authorisation.h"
#include "tests/integration/subprocess.h"

namespace schakel::integration {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

constexpr char kPurpose[] = "riec-ondermijning";

using ::schakel::testing::EnvCount;
using ::schakel::testing::kSanitized;
using ::schakel::testing::WriteFile;

std::string Field(const std::string& out, const std::string& field) {
  return ::schakel::testing::OutputField(out, field);
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A running schakel-node: stdout through a pipe (for the "listening on"
// line), stderr to a file.
class NodeProcess {
 public:
  NodeProcess() = default;
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;
  ~NodeProcess() { Kill(); }

  // Starts the node and waits up to 10 s for its "listening on" line.
  // Returns the address ("127.0.0.1:PORT"), or "" on failure.
  std::string Start(const fs::path& config, const fs::path& stderr_file) {
    int pipe_fds[2];
    if (::pipe(pipe_fds) != 0) return "";
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(pipe_fds[1], 1);
      const int err = ::open(stderr_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
      if (err >= 0) ::dup2(err, 2);
      const int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, 0);
      ::close(pipe_fds[0]);
      ::execl(SCHAKEL_NODE_BINARY, SCHAKEL_NODE_BINARY, "--config", config.c_str(), nullptr);
      ::_exit(127);
    }
    ::close(pipe_fds[1]);
    out_fd_ = pipe_fds[0];
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      pollfd p{.fd = out_fd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_fd_, &c, 1) != 1) return "";  // the node exited
      if (c == '\n') break;
      line += c;
    }
    constexpr std::string_view kPrefix = "listening on ";
    if (line.rfind(kPrefix, 0) != 0) return "";
    return line.substr(kPrefix.size());
  }

  // The next stdout line (up to 10 s), or "" when none comes.
  std::string ReadLine() {
    std::string line;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (out_fd_ >= 0 && std::chrono::steady_clock::now() < deadline) {
      pollfd p{.fd = out_fd_, .events = POLLIN, .revents = 0};
      if (::poll(&p, 1, 100) <= 0) continue;
      char c;
      if (::read(out_fd_, &c, 1) != 1) return "";
      if (c == '\n') return line;
      line += c;
    }
    return "";
  }

  void Kill() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
    if (out_fd_ >= 0) {
      ::close(out_fd_);
      out_fd_ = -1;
    }
  }

  // Sends `sig` and waits up to `limit` for the exit; returns the exit code,
  // 128 + signal when killed by one, or -1 when it did not exit in time.
  int SignalAndWait(int sig, std::chrono::milliseconds limit) {
    if (pid_ <= 0) return -1;
    ::kill(pid_, sig);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
};

class NodeProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("schakel-node-process-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "pki");
    fs::create_directories(dir_ / "keys");
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{(dir_ / "pki").string(), "ca"},
                                               {(dir_ / "pki").string(), "org", "politie"},
                                               {(dir_ / "pki").string(), "org", "gateway"},
                                               {(dir_ / "pki").string(), "org", "riec"}}) {
      const ProcessResult r = RunProcess(SCHAKEL_PKI_SCRIPT, args);
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    node_oprf_public_ = Generate("oprf", dir_ / "keys" / "oprf.key");
    node_signing_public_ = Generate("ed25519", dir_ / "keys" / "signing.key");
    gateway_signing_public_ = Generate("ed25519", dir_ / "keys" / "gateway-signing.key");
    ASSERT_FALSE(HasFailure());

    WriteFile(dir_ / "local-policy.json", R"({
      "version": "test-1",
      "categories": [ { "category": "overlast", "domain": "housing" } ],
      "purposes": [
        { "purpose_id": "riec-ondermijning", "matchable_categories": ["overlast"] },
        { "purpose_id": "zvh-gezinsaanpak", "matchable_categories": ["overlast"],
          "refused_requester_org_ids": ["riec"] }
      ]
    })");
    WriteFile(dir_ / "node.json", StrConfig(gateway_signing_public_));
  }

  void TearDown() override {
    node_.Kill();
    fs::remove_all(dir_);
  }

  std::string StrConfig(const std::string& gateway_key) const {
    return R"({
      // relative paths: relative to this file's directory
      "org_id": "politie",
      "listen": "127.0.0.1:0",
      "data_dir": "data",
      "tls": { "ca": "pki/ca.pem", "cert": "pki/politie.pem", "key": "pki/politie.key" },
      "oprf_key_file": "keys/oprf.key",
      "signing_key_file": "keys/signing.key",
      "gateway": { "org_id": "gateway", "signing_public_key": ")" +
           gateway_key + R"(" },
      "local_policy": "local-policy.json",
      "threads": 2,
      "daily_subject_quota": 1000
    })";
  }

  // `schakel keys generate`; returns the printed public key (hex).
  std::string Generate(const std::string& kind, const fs::path& out) {
    const ProcessResult r =
        RunProcess(SCHAKEL_CLI_BINARY, {"keys", "generate", "--kind", kind, "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    const std::string hex = Field(r.out, "public");
    EXPECT_EQ(hex.size(), 64u) << r.out;
    EXPECT_EQ(Field(r.out, "key_id").size(), 16u) << r.out;
    return hex;
  }

  std::string StartNode() { return node_.Start(dir_ / "node.json", dir_ / "node.stderr"); }

  std::unique_ptr<v1::Node::Stub> StubAs(const std::string& org, const std::string& address) {
    auto creds = rpc::ClientCredentialsFromFiles({.ca_certificates = dir_ / "pki" / "ca.pem",
                                                  .certificate_chain = dir_ / "pki" / (org + ".pem"),
                                                  .private_key = dir_ / "pki" / (org + ".key")});
    EXPECT_TRUE(creds.ok()) << creds.status();
    auto channel = rpc::CreateChannel(address, *creds);
    EXPECT_TRUE(channel.ok()) << channel.status();
    return v1::Node::NewStub(*channel);
  }

  static grpc::Status Call(v1::Node::Stub& stub, const v1::EvaluateRequest& request,
                           v1::EvaluateResponse* response) {
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    return stub.Evaluate(&context, request, response);
  }

  // The gateway's authorisation for exactly these elements, signed with the
  // gateway key generated in SetUp.
  v1::EvaluateRequest Request(const std::vector<crypto::Bytes>& elements,
                              const std::string& purpose = kPurpose,
                              EvaluateAuthorisation fields = {}) const {
    fields.purpose_id = purpose;
    return SignedEvaluateRequest(GatewayKey(), elements, fields);
  }

  crypto::SigningKey GatewayKey() const {
    return crypto::LoadSigningKey(dir_ / "keys" / "gateway-signing.key").value();
  }

  fs::path dir_;
  std::string node_oprf_public_, node_signing_public_, gateway_signing_public_;
  NodeProcess node_;
};

std::vector<crypto::Bytes> Inputs() {
  std::vector<crypto::Bytes> in;
  for (std::string_view s : {"schakel:v1:bsn:111222333", "schakel:v1:name_dob:vries|j|1990-02-01",
                             "schakel:v1:address:3011AB|12"}) {
    in.emplace_back(s.begin(), s.end());
  }
  return in;
}

TEST_F(NodeProcessTest, EvaluatesForTheGatewayRefusesReplaysAlsoAfterARestart) {
  std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto gateway = StubAs("gateway", address);

  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  auto pending = requester.Blind(views).value();
  const v1::EvaluateRequest request = Request(pending.BlindedEncodings());

  v1::EvaluateResponse response;
  const grpc::Status status = Call(*gateway, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  ASSERT_EQ(response.evaluated_elements_size(), 3);

  // The node's signature over its answer, with the key `keys generate` printed.
  const auto node_verify =
      crypto::VerifyKey::FromBytes(crypto::FromHex(node_signing_public_).value()).value();
  v1::EvaluationStatement statement;
  const auto auth_digest =
      canonical::Digest(canonical::kAuthorisationContext, request.authorisation().payload())
          .value();
  statement.set_authorisation_digest(std::string(auth_digest.begin(), auth_digest.end()));
  statement.set_responder_org_id("politie");
  *statement.mutable_evaluated_elements() = response.evaluated_elements();
  statement.set_proof(response.proof());
  EXPECT_TRUE(canonical::Verify(node_verify, canonical::kEvaluationContext, statement,
                                response.signature())
                  .ok());

  // The proof, against the OPRF public key `keys generate` printed (which is
  // also what the key file holds), and the tags against the node's own key.
  const auto pk_bytes = crypto::FromHex(node_oprf_public_).value();
  const auto file_public = crypto::ReadKeyFilePublic(dir_ / "keys" / "oprf.key").value();
  EXPECT_EQ(file_public.public_key, pk_bytes);
  const auto node_pk = crypto::Element::FromBytes(pk_bytes, "node public key").value();
  std::vector<crypto::ByteView> evaluated;
  for (const auto& e : response.evaluated_elements()) evaluated.push_back(crypto::AsBytes(e));
  auto tags = requester.Finalize(pending, node_pk, evaluated, crypto::AsBytes(response.proof()));
  ASSERT_TRUE(tags.ok()) << tags.status();
  const crypto::oprf::PoprfServer node_server(
      crypto::LoadOprfKey(dir_ / "keys" / "oprf.key").value());
  const auto key = crypto::PurposeKey::Create(node_server, kPurpose).value();
  for (size_t i = 0; i < inputs.size(); ++i) {
    EXPECT_EQ((*tags)[i], key.TagFor(inputs[i]).value()) << i;
  }

  // The same authorisation again: a replay.
  v1::EvaluateResponse again;
  const grpc::Status replay = Call(*gateway, request, &again);
  EXPECT_EQ(replay.error_code(), grpc::StatusCode::ALREADY_EXISTS) << replay.error_message();

  // Killed hard and restarted: the nonce was stored durably.
  node_.Kill();
  address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto gateway2 = StubAs("gateway", address);
  const grpc::Status after_restart = Call(*gateway2, request, &again);
  EXPECT_EQ(after_restart.error_code(), grpc::StatusCode::ALREADY_EXISTS)
      << after_restart.error_message();
  // A fresh authorisation is answered after the restart.
  auto fresh = requester.Blind(views).value();
  EXPECT_TRUE(Call(*gateway2, Request(fresh.BlindedEncodings()), &again).ok());

  // Nothing the requester asked about reaches the node's log.
  const std::string log = ReadFile(dir_ / "node.stderr");
  EXPECT_THAT(log, HasSubstr("refused: ALREADY_EXISTS"));
  EXPECT_THAT(log, Not(HasSubstr("111222333")));
  EXPECT_THAT(log, Not(HasSubstr("vries")));
  EXPECT_THAT(log, Not(HasSubstr("3011AB")));

  // SIGTERM while the gateway still holds its connection open (as a real
  // gateway does): the node still stops in time, with exit 0.
  EXPECT_EQ(node_.SignalAndWait(SIGTERM, std::chrono::seconds(5)), 0);
}

// One gateway authorisation: answered once, then sent again after the node
// was killed (SIGKILL) and restarted, then 1,000 times at once, then altered
// for another purpose, then after its expiry: exactly one call is answered
// over all of it, and every other is refused with the code node.proto
// documents (ALREADY_EXISTS for a replay, PERMISSION_DENIED for a signature
// that does not cover the request, FAILED_PRECONDITION once expired; a
// replay that the node handles after the expiry may get the latter).
// SCHAKEL_REPLAYS sets the number sent at once (default 1,000; long form:
// ./tests/long.sh replays, 10,000).
TEST_F(NodeProcessTest, OneAuthorisationIsAcceptedExactlyOnceWhateverHappens) {
  // No clock skew allowance, so that "after its expiry" comes soon.
  std::string config = StrConfig(gateway_signing_public_);
  config.insert(config.rfind('}'), R"(, "max_clock_skew_ms": 0)");
  WriteFile(dir_ / "node.json", config);
  std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto gateway = StubAs("gateway", address);

  const int replays = EnvCount("SCHAKEL_REPLAYS", 1000);
  // Long enough for a restart before it expires (slower under the
  // sanitizers); the test waits out the rest.
  const int64_t lifetime_s = kSanitized ? 12 : 6;
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  const v1::EvaluateRequest request =
      Request(requester.Blind(views).value().BlindedEncodings(), kPurpose,
              {.lifetime_s = lifetime_s});
  const int64_t expires_ms = request.authorisation().payload().expires_at().seconds() * 1000;
  std::map<grpc::StatusCode, int> codes;
  // A refusal of a replay handled by `done_ms`: before the expiry it must
  // be ALREADY_EXISTS.
  const auto expect_replay_refused = [&](const grpc::Status& s, int64_t done_ms) {
    ++codes[s.error_code()];
    if (done_ms < expires_ms || s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS) << s.error_message();
    }
  };

  // 1. Answered.
  v1::EvaluateResponse response;
  grpc::Status status = Call(*gateway, request, &response);
  ++codes[status.error_code()];
  ASSERT_TRUE(status.ok()) << status.error_message();

  // 2. Killed hard and restarted: the nonce was stored with a synced write
  // before the answer.
  node_.Kill();
  address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  gateway = StubAs("gateway", address);
  status = Call(*gateway, request, &response);
  ASSERT_LT(NowMs(), expires_ms) << "the restart outlasted the authorisation; raise lifetime_s";
  expect_replay_refused(status, NowMs());

  // 3. All at once, over one channel (HTTP/2 streams in parallel).
  {
    struct Pending {
      grpc::ClientContext context;
      v1::EvaluateResponse response;
      grpc::Status status;
      int64_t done_ms = 0;
    };
    std::vector<std::unique_ptr<Pending>> calls;
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    for (int i = 0; i < replays; ++i) {
      calls.push_back(std::make_unique<Pending>());
      Pending* c = calls.back().get();
      c->context.set_wait_for_ready(true);
      c->context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
      gateway->async()->Evaluate(&c->context, &request, &c->response, [&, c](grpc::Status s) {
        c->status = std::move(s);
        c->done_ms = NowMs();
        std::lock_guard lock(mu);
        ++done;
        cv.notify_all();
      });
    }
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return done == replays; });
    for (const auto& c : calls) expect_replay_refused(c->status, c->done_ms);
  }

  // 4. Altered for another purpose (one the node answers): the signature no
  // longer covers it.
  {
    v1::EvaluateRequest altered = request;
    altered.mutable_authorisation()->mutable_payload()->set_purpose_id("zvh-gezinsaanpak");
    const grpc::Status s = Call(*gateway, altered, &response);
    ++codes[s.error_code()];
    EXPECT_EQ(s.error_code(), grpc::StatusCode::PERMISSION_DENIED) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("does not verify"));
  }

  // 5. After its expiry.
  while (NowMs() <= expires_ms) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    const grpc::Status s = Call(*gateway, request, &response);
    ++codes[s.error_code()];
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_THAT(s.error_message(), HasSubstr("expired"));
  }

  // Exactly one accepted over everything; a fresh authorisation still is.
  EXPECT_EQ(codes[grpc::StatusCode::OK], 1) << ::testing::PrintToString(codes);
  int total = 0;
  for (const auto& [code, n] : codes) total += n;
  EXPECT_EQ(total, replays + 4);
  EXPECT_TRUE(Call(*gateway, Request(requester.Blind(views).value().BlindedEncodings()), &response)
                  .ok());
  const std::string log = ReadFile(dir_ / "node.stderr");
  EXPECT_THAT(log, HasSubstr("refused: ALREADY_EXISTS"));
  EXPECT_THAT(log, Not(HasSubstr("111222333")));
}

// The node's own daily quota (here 2 subjects per requester and purpose)
// holds across a SIGKILL and a restart: the counts are in its store.
TEST_F(NodeProcessTest, ItsOwnQuotaSurvivesAKillAndARestart) {
  std::string config = StrConfig(gateway_signing_public_);
  config.replace(config.find("\"daily_subject_quota\": 1000"), 27, "\"daily_subject_quota\": 2");
  WriteFile(dir_ / "node.json", config);
  std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto gateway = StubAs("gateway", address);
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  const auto fresh = [&] { return Request(requester.Blind(views).value().BlindedEncodings()); };
  v1::EvaluateResponse response;
  for (int i = 0; i < 2; ++i) {
    const grpc::Status s = Call(*gateway, fresh(), &response);
    EXPECT_TRUE(s.ok()) << i << ": " << s.error_message();
  }
  grpc::Status s = Call(*gateway, fresh(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();

  node_.Kill();
  address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  gateway = StubAs("gateway", address);
  s = Call(*gateway, fresh(), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("(2 used, 1 asked)"));
  // Another purpose is counted apart.
  auto other = crypto::MatchRequester::Create("zvh-gezinsaanpak").value();
  s = Call(*gateway,
           Request(other.Blind(views).value().BlindedEncodings(), "zvh-gezinsaanpak",
                   {.requester_org_id = "gemeente"}),
           &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
}

TEST_F(NodeProcessTest, RefusesACallerThatIsNotTheGateway) {
  const std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto riec = StubAs("riec", address);
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  v1::EvaluateResponse response;
  // Even with a valid gateway authorisation: the certificate decides.
  const grpc::Status status =
      Call(*riec, Request(requester.Blind(views).value().BlindedEncodings()), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(status.error_message(), HasSubstr("the caller is not the gateway"));

  // The standard health service reports the Node service as SERVING
  // (grpc.health.v1: HealthCheckRequest{service = 1}, HealthCheckResponse{status = 1},
  // SERVING = 1), called without generated stubs.
  {
    auto creds = rpc::ClientCredentialsFromFiles({.ca_certificates = dir_ / "pki" / "ca.pem",
                                                  .certificate_chain = dir_ / "pki" / "riec.pem",
                                                  .private_key = dir_ / "pki" / "riec.key"});
    ASSERT_TRUE(creds.ok());
    EXPECT_EQ(::schakel::testing::HealthCheck(*rpc::CreateChannel(address, *creds), "schakel.v1.Node"),
              ::schakel::testing::kHealthServing);
  }

  // The gateway itself gets past the caller check: an empty Disclose is
  // then refused for its content.
  auto gateway = StubAs("gateway", address);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::DiscloseResponse disclose;
  EXPECT_EQ(gateway->Disclose(&context, v1::DiscloseRequest(), &disclose).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(NodeProcessTest, RefusesARequesterItsLocalPolicyRefuses) {
  const std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  auto gateway = StubAs("gateway", address);
  auto requester = crypto::MatchRequester::Create("zvh-gezinsaanpak").value();
  const auto inputs = Inputs();
  std::vector<crypto::ByteView> views(inputs.begin(), inputs.end());
  v1::EvaluateResponse response;
  const grpc::Status status = Call(
      *gateway, Request(requester.Blind(views).value().BlindedEncodings(), "zvh-gezinsaanpak"),
      &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << status.error_message();
}

TEST_F(NodeProcessTest, SigtermStopsWithinFiveSecondsWithExitZero) {
  const std::string address = StartNode();
  ASSERT_FALSE(address.empty()) << ReadFile(dir_ / "node.stderr");
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(node_.SignalAndWait(SIGTERM, std::chrono::seconds(5)), 0);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  EXPECT_THAT(ReadFile(dir_ / "node.stderr"), HasSubstr("SIGTERM"));
}

TEST_F(NodeProcessTest, BadConfigurationNamesEveryProblem) {
  WriteFile(dir_ / "bad.json", R"({
    "org_id": "Politie",
    "listen": "127.0.0.1",
    "tls": { "ca": "pki/ca.pem", "cert": "pki/politie.pem" },
    "oprf_key_file": "keys/oprf.key",
    "signing_key_file": "keys/signing.key",
    "gateway": { "org_id": "gateway", "signing_public_key": "abcd" },
    "local_policy": "local-policy.json",
    "threads": 0,
    "colour": "blue"
  })");
  const ProcessResult r = RunProcess(SCHAKEL_NODE_BINARY, {"--config", (dir_ / "bad.json").string()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("7 problems"));
  for (const char* problem :
       {"org_id: \"Politie\" is not an organisation id", "listen: must be host:port",
        "data_dir: missing", "tls.key: missing", "gateway.signing_public_key: is not an Ed25519",
        "threads: 0 is out of range", "colour: unknown field"}) {
    EXPECT_THAT(r.err, HasSubstr(problem));
  }

  // Files that the config names but that are wrong are named too, all at once.
  std::string config = StrConfig(gateway_signing_public_);
  config.replace(config.find("keys/oprf.key"), 13, "keys/signing.key");  // wrong kind
  WriteFile(dir_ / "wrong-files.json", config);
  fs::permissions(dir_ / "pki" / "politie.key", fs::perms::group_read, fs::perm_options::add);
  const ProcessResult files =
      RunProcess(SCHAKEL_NODE_BINARY, {"--config", (dir_ / "wrong-files.json").string()});
  EXPECT_EQ(files.exit_code, 1);
  EXPECT_THAT(files.err, HasSubstr("2 problems"));
  EXPECT_THAT(files.err, HasSubstr("oprf_key_file: "));
  EXPECT_THAT(files.err, HasSubstr("tls: "));
  EXPECT_THAT(files.err, HasSubstr("chmod 600"));

  const ProcessResult usage = RunProcess(SCHAKEL_NODE_BINARY, {});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_THAT(usage.err, HasSubstr("--config"));
}

// ---- the local API

class LocalApiTest : public NodeProcessTest {
 protected:
  void SetUp() override {
    NodeProcessTest::SetUp();
    std::string config = StrConfig(gateway_signing_public_);
    config.insert(config.rfind('}'), R"(,
      "local": { "listen": "127.0.0.1:0" },
      "bootstrap_admin_credential_file": "admin.credential")");
    WriteFile(dir_ / "node.json", config);
  }

  // Starts the node; returns the local API's address.
  std::string StartWithLocalApi() {
    if (StartNode().empty()) return "";
    const std::string line = node_.ReadLine();
    constexpr std::string_view kPrefix = "local API on ";
    if (line.rfind(kPrefix, 0) != 0) return "";
    const std::string address = line.substr(kPrefix.size());
    // TLS with the node's certificate; the client shows none.
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = ReadFile(dir_ / "pki" / "ca.pem");
    channel_ = grpc::CreateChannel(address, grpc::SslCredentials(tls));
    return address;
  }

  // A context carrying `credential` (none when empty) and optionally a role.
  static std::unique_ptr<grpc::ClientContext> As(const std::string& credential,
                                                 const std::string& role = "") {
    auto context = std::make_unique<grpc::ClientContext>();
    context->set_wait_for_ready(true);
    context->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    if (!credential.empty()) context->AddMetadata("authorization", "Bearer " + credential);
    if (!role.empty()) context->AddMetadata("x-schakel-role", role);
    return context;
  }

  std::string CreateUser(const std::string& admin, const std::string& id, v1::Role role) {
    auto users = v1::Users::NewStub(channel_);
    v1::CreateUserRequest request;
    request.set_user_id(id);
    request.add_roles(role);
    v1::CreateUserResponse response;
    const grpc::Status status = users->CreateUser(As(admin).get(), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.credential();
  }

  static v1::Signal Signal(const std::string& id, const std::string& bsn) {
    v1::Signal s;
    s.set_signal_id(id);
    s.set_category("overlast");
    s.mutable_subject()->set_bsn(bsn);
    s.set_free_text("geluidsoverlast");
    return s;
  }

  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(LocalApiTest, BootstrapAdminUsersAndRolesOverTls) {
  ASSERT_FALSE(StartWithLocalApi().empty()) << ReadFile(dir_ / "node.stderr");
  const fs::path credential_file = dir_ / "admin.credential";
  struct stat st {};
  ASSERT_EQ(::stat(credential_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  std::string admin = ReadFile(credential_file);
  ASSERT_FALSE(admin.empty());
  if (admin.back() == '\n') admin.pop_back();
  ASSERT_EQ(admin.size(), std::string("admin.").size() + 43) << admin;
  const std::string stderr_text = ReadFile(dir_ / "node.stderr");
  EXPECT_THAT(stderr_text, HasSubstr("admin.credential"));
  EXPECT_THAT(stderr_text, Not(HasSubstr(admin.substr(6))));

  auto users = v1::Users::NewStub(channel_);
  v1::WhoAmIResponse me;
  grpc::Status status = users->WhoAmI(As(admin).get(), {}, &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.user().user_id(), "admin");
  EXPECT_EQ(me.acting_role(), v1::ROLE_ADMIN);
  EXPECT_EQ(me.org_id(), "politie");

  // Missing and wrong credentials.
  EXPECT_EQ(users->WhoAmI(As("").get(), {}, &me).error_code(), grpc::UNAUTHENTICATED);
  std::string wrong = admin;
  wrong.back() = wrong.back() == 'A' ? 'B' : 'A';
  EXPECT_EQ(users->WhoAmI(As(wrong).get(), {}, &me).error_code(), grpc::UNAUTHENTICATED);

  // An analyst may not add signals, nor create users.
  const std::string analyst = CreateUser(admin, "analist", v1::ROLE_ANALYST);
  ASSERT_FALSE(analyst.empty());
  auto signals = v1::Signals::NewStub(channel_);
  v1::AddSignalRequest add;
  *add.mutable_signal() = Signal("s1", "111222333");
  v1::AddSignalResponse added;
  EXPECT_EQ(signals->AddSignal(As(analyst).get(), add, &added).error_code(),
            grpc::PERMISSION_DENIED);
  v1::CreateUserRequest create;
  create.set_user_id("x");
  create.add_roles(v1::ROLE_ADMIN);
  v1::CreateUserResponse created;
  EXPECT_EQ(users->CreateUser(As(analyst).get(), create, &created).error_code(),
            grpc::PERMISSION_DENIED);
  EXPECT_EQ(users->WhoAmI(As(analyst, "admin").get(), {}, &me).error_code(),
            grpc::PERMISSION_DENIED);

  // A restart keeps the users (the node secret persists) and does not
  // bootstrap again.
  fs::remove(credential_file);
  ASSERT_EQ(node_.SignalAndWait(SIGTERM, std::chrono::seconds(5)), 0);
  ASSERT_FALSE(StartWithLocalApi().empty()) << ReadFile(dir_ / "node.stderr");
  users = v1::Users::NewStub(channel_);
  status = users->WhoAmI(As(analyst).get(), {}, &me);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(me.acting_role(), v1::ROLE_ANALYST);
  EXPECT_FALSE(fs::exists(credential_file));
}

TEST_F(LocalApiTest, SignalsAddGetListUpdateDeleteImportAndTheLog) {
  ASSERT_FALSE(StartWithLocalApi().empty()) << ReadFile(dir_ / "node.stderr");
  std::string admin = ReadFile(dir_ / "admin.credential");
  admin.pop_back();
  const std::string pro = CreateUser(admin, "pro", v1::ROLE_PROFESSIONAL);
  auto signals = v1::Signals::NewStub(channel_);

  v1::AddSignalRequest add;
  *add.mutable_signal() = Signal("s1", "111222333");
  v1::AddSignalResponse added;
  grpc::Status status = signals->AddSignal(As(pro).get(), add, &added);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(added.signal().owner_user_id(), "pro");
  EXPECT_THAT(added.signal().tagged_purpose_ids(),
              ::testing::UnorderedElementsAre("riec-ondermijning", "zvh-gezinsaanpak"));

  // A bad BSN: every problem named in the ErrorDetail, the value nowhere.
  *add.mutable_signal() = Signal("s2", "123456789");
  add.mutable_signal()->set_category("onbekend");
  status = signals->AddSignal(As(pro).get(), add, &added);
  ASSERT_EQ(status.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), Not(HasSubstr("123456789")));
  auto detail = rpc::ErrorDetailOf(rpc::FromGrpcStatus(status));
  ASSERT_TRUE(detail.has_value());
  std::vector<std::string> fields;
  for (const auto& p : detail->problems()) fields.push_back(p.field());
  EXPECT_THAT(fields, ::testing::UnorderedElementsAre("signal.category", "signal.subject.bsn"));

  v1::GetSignalRequest get;
  get.set_signal_id("s1");
  v1::GetSignalResponse got;
  ASSERT_TRUE(signals->GetSignal(As(pro).get(), get, &got).ok());
  EXPECT_EQ(got.signal().subject().bsn(), "111222333");

  v1::UpdateSignalRequest update;
  update.mutable_signal()->set_signal_id("s1");
  update.mutable_signal()->set_free_text("bijgewerkt");
  update.mutable_update_mask()->add_paths("free_text");
  update.set_reason("aanvulling");
  v1::UpdateSignalResponse updated;
  status = signals->UpdateSignal(As(pro).get(), update, &updated);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(updated.signal().version(), 2u);
  EXPECT_EQ(updated.signal().free_text(), "bijgewerkt");
  EXPECT_EQ(updated.signal().subject().bsn(), "111222333");
  update.mutable_update_mask()->set_paths(0, "owner_user_id");
  EXPECT_EQ(signals->UpdateSignal(As(pro).get(), update, &updated).error_code(),
            grpc::INVALID_ARGUMENT);

  // Import: three rows stored; then a file with a bad row stores nothing.
  const auto import = [&](const std::vector<std::string>& bsns) {
    auto context = As(pro);
    auto stream = signals->ImportSignals(context.get());
    v1::ImportSignalsRequest message;
    message.mutable_header()->set_source_name("signalen.csv");
    message.mutable_header()->set_format(v1::IMPORT_FORMAT_CSV);
    EXPECT_TRUE(stream->Write(message));
    message.Clear();
    for (size_t i = 0; i < bsns.size(); ++i) {
      v1::ImportRow* row = message.mutable_rows()->add_rows();
      row->set_line(i + 2);
      *row->mutable_signal() = Signal("", bsns[i]);
    }
    EXPECT_TRUE(stream->Write(message));
    message.Clear();
    message.mutable_end()->set_commit(true);
    EXPECT_TRUE(stream->Write(message));
    stream->WritesDone();
    v1::ImportSignalsResponse response;
    v1::ImportResult result;
    while (stream->Read(&response)) {
      if (response.has_result()) result = response.result();
    }
    const grpc::Status finished = stream->Finish();
    EXPECT_TRUE(finished.ok()) << finished.error_message();
    return result;
  };
  v1::ImportResult result = import({"123456782", "100000010", "111222333"});
  EXPECT_TRUE(result.committed());
  EXPECT_EQ(result.signals_stored(), 3u);
  result = import({"100000010", "999999999", "123456782"});
  EXPECT_FALSE(result.committed());
  ASSERT_EQ(result.problems_size(), 1);
  EXPECT_EQ(result.problems(0).line(), 3u);
  EXPECT_EQ(result.problems(0).problem().field(), "subject.bsn");

  v1::ListSignalsRequest list;
  auto list_context = As(pro);
  auto reader = signals->ListSignals(list_context.get(), list);
  v1::ListSignalsResponse page;
  size_t listed = 0;
  while (reader->Read(&page)) listed += static_cast<size_t>(page.signals_size());
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(listed, 4u);
  list.mutable_subject()->set_bsn("111222333");
  auto subject_context = As(pro);
  reader = signals->ListSignals(subject_context.get(), list);
  listed = 0;
  while (reader->Read(&page)) listed += static_cast<size_t>(page.signals_size());
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_EQ(listed, 2u);  // s1 and the imported row with the same BSN

  v1::DeleteSignalRequest remove;
  remove.set_signal_id("s1");
  v1::DeleteSignalResponse removed;
  EXPECT_EQ(signals->DeleteSignal(As(pro).get(), remove, &removed).error_code(),
            grpc::INVALID_ARGUMENT);  // a reason is required
  remove.set_reason("correctie");
  status = signals->DeleteSignal(As(pro).get(), remove, &removed);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(signals->GetSignal(As(pro).get(), get, &got).error_code(), grpc::NOT_FOUND);

  // The node's own log: every change with user and role, no identifier;
  // for auditors and admins only.
  auto log = v1::LocalLog::NewStub(channel_);
  v1::ListLocalLogRequest query;
  auto denied_context = As(pro);
  auto denied = log->ListLocalLog(denied_context.get(), query);
  v1::ListLocalLogResponse entries;
  while (denied->Read(&entries)) {
  }
  EXPECT_EQ(denied->Finish().error_code(), grpc::PERMISSION_DENIED);
  auto admin_context = As(admin);
  auto entries_reader = log->ListLocalLog(admin_context.get(), query);
  std::vector<v1::LocalEventKind> kinds;
  std::string all;
  while (entries_reader->Read(&entries)) {
    for (const auto& e : entries.entries()) {
      kinds.push_back(e.record().kind());
      all += e.SerializeAsString();
      if (e.record().kind() == v1::LOCAL_EVENT_KIND_SIGNAL_ADDED) {
        EXPECT_EQ(e.record().user_id(), "pro");
        EXPECT_EQ(e.record().role(), v1::ROLE_PROFESSIONAL);
      }
    }
  }
  ASSERT_TRUE(entries_reader->Finish().ok());
  EXPECT_THAT(kinds, ::testing::IsSupersetOf({v1::LOCAL_EVENT_KIND_USER_CHANGED,
                                              v1::LOCAL_EVENT_KIND_SIGNAL_ADDED,
                                              v1::LOCAL_EVENT_KIND_SIGNAL_UPDATED,
                                              v1::LOCAL_EVENT_KIND_SIGNALS_IMPORTED,
                                              v1::LOCAL_EVENT_KIND_SIGNAL_DELETED,
                                              v1::LOCAL_EVENT_KIND_AUDIT_QUERY}));
  EXPECT_THAT(all, Not(HasSubstr("111222333")));
  EXPECT_THAT(all, Not(HasSubstr("123456782")));
  EXPECT_THAT(all, Not(HasSubstr(pro.substr(4))));
}

}  // namespace
}  // namespace schakel::integration
