#include "fuzz/fake_partner.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "crypto/bytes.h"
#include "crypto/ristretto.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "schakel/v1/node.grpc.pb.h"

namespace schakel::fuzz {

namespace canonical = ::schakel::canonical;

Answer AnswerOf(uint8_t how) {
  static constexpr Answer kAnswers[16] = {
      Answer::kHonest,     Answer::kDelayed,          Answer::kLate,     Answer::kCountOff,
      Answer::kBadElement, Answer::kBadProof,         Answer::kFlippedSignature,
      Answer::kOtherKey,   Answer::kOtherStatement,   Answer::kFeedSignature,
      Answer::kError,      Answer::kEmpty,            Answer::kHonest,   Answer::kHonest,
      Answer::kHonest,     Answer::kError,
  };
  return kAnswers[how % 16];
}

void AnswerScript::Set(std::map<std::string, uint8_t, std::less<>> how, std::string feed) {
  std::lock_guard lock(mu_);
  how_ = std::move(how);
  feed_ = std::move(feed);
  sent_.clear();
}

std::pair<uint8_t, std::string> AnswerScript::For(std::string_view org_id) const {
  std::lock_guard lock(mu_);
  const auto it = how_.find(org_id);
  return {it == how_.end() ? uint8_t{0} : it->second, feed_};
}

void AnswerScript::Record(std::string_view org_id, std::string_view exchange_id, Sent sent) {
  std::lock_guard lock(mu_);
  sent_[{std::string(org_id), std::string(exchange_id)}] = std::move(sent);
}

std::optional<AnswerScript::Sent> AnswerScript::Find(std::string_view org_id,
                                                     std::string_view exchange_id) const {
  std::lock_guard lock(mu_);
  const auto it = sent_.find({std::string(org_id), std::string(exchange_id)});
  if (it == sent_.end()) return std::nullopt;
  return it->second;
}

class FakePartner::Service final : public v1::Node::Service {
 public:
  explicit Service(Options options) : o_(std::move(options)) {}

  grpc::Status Evaluate(grpc::ServerContext* context, const v1::EvaluateRequest* request,
                        v1::EvaluateResponse* response) override {
    const auto [how, feed] = o_.script->For(o_.org_id);
    const Answer answer = AnswerOf(how);
    const unsigned parameter = how / 16;
    const std::string& exchange_id = request->authorisation().payload().exchange_id();
    AnswerScript::Sent sent;
    if (answer == Answer::kError) {
      o_.script->Record(o_.org_id, exchange_id, sent);
      // Any bytes, as a misbehaving node might send: the gateway must keep
      // its log readable whatever the message (rpc::FromGrpcStatus).
      return grpc::Status(static_cast<grpc::StatusCode>(1 + parameter), feed);
    }
    const int n = request->blinded_elements_size();
    sent.acceptable = n == 0;
    if (answer != Answer::kEmpty) {
      sent.acceptable = true;
      *response->mutable_evaluated_elements() = request->blinded_elements();
      std::string proof = feed.substr(0, 64);
      proof.resize(64, '\0');
      if (answer == Answer::kCountOff) {
        if (parameter % 2 == 0) {
          *response->add_evaluated_elements() = n > 0 ? request->blinded_elements(0) : std::string(32, '\1');
        } else if (n > 0) {
          response->mutable_evaluated_elements()->RemoveLast();
        }
        sent.acceptable = response->evaluated_elements_size() == n;
      } else if (answer == Answer::kBadElement && n > 0) {
        const std::string element = feed.substr(0, 32);
        *response->mutable_evaluated_elements(static_cast<int>(parameter % static_cast<unsigned>(n))) = element;
        sent.acceptable = crypto::Element::FromBytes(crypto::AsBytes(element), "element").ok();
      } else if (answer == Answer::kBadProof) {
        proof = feed;
        sent.acceptable = proof.size() == 64;
      }
      response->set_proof(proof);

      v1::EvaluationStatement statement;
      auto digest = canonical::Digest(canonical::kAuthorisationContext, request->authorisation().payload());
      if (!digest.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "fake partner: no authorisation digest");
      statement.set_authorisation_digest(std::string(digest->begin(), digest->end()));
      statement.set_responder_org_id(answer == Answer::kOtherStatement ? o_.other_org_id : o_.org_id);
      *statement.mutable_evaluated_elements() = response->evaluated_elements();
      statement.set_proof(response->proof());
      auto signature =
          canonical::Sign(answer == Answer::kOtherKey ? *o_.other_key : *o_.key, canonical::kEvaluationContext, statement);
      if (!signature.ok()) return grpc::Status(grpc::StatusCode::INTERNAL, "fake partner: cannot sign");
      if (answer == Answer::kFlippedSignature) {
        std::string& bytes = *signature->mutable_signature();
        bytes[(parameter * 4 + 3) % bytes.size()] ^= 1;
      } else if (answer == Answer::kFeedSignature) {
        signature->set_key_id(feed.substr(0, 8));
        signature->set_signature(feed.size() > 8 ? feed.substr(8) : std::string());
      }
      *response->mutable_signature() = *std::move(signature);
      if (answer == Answer::kOtherKey || answer == Answer::kOtherStatement ||
          answer == Answer::kFlippedSignature || answer == Answer::kFeedSignature) {
        sent.acceptable = false;
      }
      sent.response = *response;
    }
    o_.script->Record(o_.org_id, exchange_id, sent);

    if (answer == Answer::kDelayed) {
      std::this_thread::sleep_for(std::chrono::milliseconds(parameter));
    } else if (answer == Answer::kLate) {
      // Just past the gateway's deadline (never more than a second away).
      const auto latest = std::chrono::system_clock::now() + std::chrono::seconds(1);
      std::this_thread::sleep_until(std::min(context->deadline(), latest) + std::chrono::milliseconds(5));
    }
    return grpc::Status::OK;
  }

 private:
  const Options o_;
};

absl::StatusOr<std::unique_ptr<FakePartner>> FakePartner::Start(Options options) {
  auto credentials = rpc::ServerCredentialsFromFiles(options.tls);
  if (!credentials.ok()) return credentials.status();
  std::unique_ptr<FakePartner> partner(new FakePartner());
  partner->service_ = std::make_unique<Service>(std::move(options));
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", *credentials, &port);
  builder.RegisterService(partner->service_.get());
  partner->server_ = builder.BuildAndStart();
  if (partner->server_ == nullptr || port == 0) {
    return absl::UnavailableError("fake partner: cannot listen on 127.0.0.1");
  }
  partner->address_ = "127.0.0.1:" + std::to_string(port);
  return partner;
}

FakePartner::~FakePartner() {
  if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

}  // namespace schakel::fuzz
