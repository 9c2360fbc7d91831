#include "nodes/matching_service.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/strings.h"
#include "crypto/match_keys.h"
#include "crypto/random.h"
#include "nodes/authorisation_check.h"
#include "nodes/evaluator.h"
#include "nodes/outgoing_disclosures.h"
#include "nodes/users.h"
#include "proto/canonical.h"
#include "rpc/channel.h"
#include "rpc/status.h"
#include "store/faulty_store.h"
#include "store/memory_store.h"

namespace schakel::nodes {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kPurpose[] = "riec.ondermijning";
constexpr char kOwnOrg[] = "riec-zuid";

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

std::string AsString(crypto::ByteView b) { return std::string(b.begin(), b.end()); }

void SetMs(int64_t ms, google::protobuf::Timestamp* t) {
  t->set_seconds(ms / 1000);
  t->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

v1::PublicKey Key(crypto::ByteView raw) {
  v1::PublicKey k;
  k.set_key(AsString(raw));
  const auto digest = crypto::Blake2b256Hash(raw);
  k.set_key_id(std::string(reinterpret_cast<const char*>(digest.data()), canonical::kKeyIdSize));
  return k;
}

// One answering partner: a real Evaluator behind the fake gateway, and the
// tags its signals publish.
struct Partner {
  Partner(std::string id, v1::Domain d, const crypto::VerifyKey& gateway_key)
      : org_id(std::move(id)), domain(d),
        check({gateway_key}, {.own_org_id = org_id}, &nonces, NowMs) {
    directory_oprf = oprf.public_key().ToBytes();
    directory_signing = signing.verify_key().ToBytes();
    Evaluator::Options options;
    options.own_org_id = org_id;
    options.threads = 1;
    evaluator = Evaluator::Create(crypto::oprf::PrivateKey::FromBytes(oprf.scalar().bytes()).value(),
                                  crypto::SigningKey::FromSeed(signing.seed()), {kPurpose}, &check,
                                  options)
                    .value();
  }

  // The partner registers a signal yielding this key: its tag is published.
  void Knows(crypto::MatchKeyType type, const std::string& canonical) {
    crypto::oprf::PoprfServer server(crypto::oprf::PrivateKey::FromBytes(oprf.scalar().bytes()).value());
    auto key = crypto::PurposeKey::Create(server, kPurpose).value();
    const crypto::MatchKey match_key{type, canonical};
    const crypto::Tag tag = key.TagFor(crypto::AsBytes(match_key.OprfInput())).value();
    tags.insert(std::string(reinterpret_cast<const char*>(tag.data()), tag.size()));
  }

  v1::Organisation Directory() const {
    v1::Organisation org;
    org.set_org_id(org_id);
    org.set_display_name(org_id);
    org.set_domain(domain);
    org.set_active(true);
    *org.add_oprf_keys() = Key(directory_oprf);
    *org.add_signing_keys() = Key(directory_signing);
    return org;
  }

  std::string org_id;
  v1::Domain domain;
  crypto::SigningKey signing = crypto::SigningKey::Generate();
  crypto::oprf::PrivateKey oprf = crypto::oprf::PrivateKey::Generate();
  store::MemoryStore nonces;
  AuthorisationCheck check;
  std::unique_ptr<Evaluator> evaluator;
  std::set<std::string> tags;
  bool down = false;
  // Changes the partner's answer after it is signed (a node misbehaving on
  // the wire).
  std::function<void(v1::PartnerEvaluation&)> tamper;
  // What the directory shows (a misbehaving node answers with other keys).
  crypto::Bytes directory_oprf;
  crypto::Bytes directory_signing;
};

// The gateway as far as Matching needs it: directory, purposes, OpenExchange
// (forwarding to the partners' real evaluators) and ResolveMatches (looking
// the tags up in the partners' tag sets).
class FakeGateway final : public v1::Gateway::Service {
 public:
  FakeGateway() {
    v1::Purpose* p = view_.mutable_purpose();
    p->set_purpose_id(kPurpose);
    p->mutable_lawful_basis()->set_reference("Wgs");
    p->add_key_types(v1::MATCH_KEY_TYPE_BSN);
    p->add_key_types(v1::MATCH_KEY_TYPE_NAME_DOB);
    p->add_key_types(v1::MATCH_KEY_TYPE_ADDRESS);
    p->set_max_subjects_per_exchange(50);
    p->set_max_keys_per_subject(8);
    view_.add_roles_that_may_ask(v1::ROLE_ANALYST);
    partners_.push_back(std::make_unique<Partner>("politie", v1::DOMAIN_SAFETY, gateway_key_.verify_key()));
    partners_.push_back(std::make_unique<Partner>("woonstad", v1::DOMAIN_HOUSING, gateway_key_.verify_key()));
    partners_.push_back(std::make_unique<Partner>("zorgpunt", v1::DOMAIN_CARE, gateway_key_.verify_key()));
  }

  Partner& partner(const std::string& org) {
    for (auto& p : partners_) {
      if (p->org_id == org) return *p;
    }
    std::abort();
  }

  grpc::Status GetDirectory(grpc::ServerContext*, const v1::GetDirectoryRequest*,
                            v1::GetDirectoryResponse* response) override {
    std::lock_guard lock(mu_);
    ++directory_calls;
    v1::Organisation own;
    own.set_org_id(kOwnOrg);
    own.set_domain(v1::DOMAIN_SAFETY);
    own.set_active(true);
    *response->add_organisations() = own;
    for (const auto& p : partners_) *response->add_organisations() = p->Directory();
    v1::Organisation gone;
    gone.set_org_id("opgeheven");
    gone.set_active(false);
    *response->add_organisations() = gone;
    response->set_directory_version(1);
    return grpc::Status::OK;
  }

  grpc::Status ListPurposes(grpc::ServerContext*, const v1::ListPurposesRequest*,
                            v1::ListPurposesResponse* response) override {
    std::lock_guard lock(mu_);
    response->set_policy_version("2025-03");
    *response->add_purposes() = view_;
    return grpc::Status::OK;
  }

  grpc::Status OpenExchange(grpc::ServerContext*, const v1::OpenExchangeRequest* request,
                            v1::OpenExchangeResponse* response) override {
    std::lock_guard lock(mu_);
    opens.push_back(*request);
    if (unavailable_opens > 0) {
      --unavailable_opens;
      v1::ErrorDetail detail;
      return rpc::ToGrpcStatus(rpc::WithErrorDetail(
          absl::UnavailableError("exchange log: the entry could not be written"), detail));
    }
    if (!open_error.ok()) return open_error;
    if (auto it = stored_.find(request->request_id()); it != stored_.end()) {
      *response = it->second;
      return grpc::Status::OK;
    }
    std::string exchange_id(16, '\0');
    crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(exchange_id.data()), 16));
    response->set_exchange_id(exchange_id);
    response->set_policy_version("2025-03");
    response->mutable_lawful_basis()->set_reference("Wgs");
    *response->add_receipts() = Receipt(1, exchange_id);
    v1::ElementBatch batch;
    for (const auto& s : request->subjects()) {
      for (const auto& k : s.keys()) batch.add_elements(k.blinded_element());
    }
    const auto digest = canonical::Digest(canonical::kElementBatchContext, batch).value();
    for (const auto& p : partners_) {
      if (!request->target_org_ids().empty() &&
          std::find(request->target_org_ids().begin(), request->target_org_ids().end(),
                    p->org_id) == request->target_org_ids().end()) {
        continue;
      }
      v1::PartnerEvaluation* e = response->add_evaluations();
      e->mutable_outcome()->set_org_id(p->org_id);
      e->mutable_outcome()->set_domain(p->domain);
      if (p->down) {
        e->mutable_outcome()->set_status(v1::PARTNER_STATUS_UNAVAILABLE);
        e->mutable_outcome()->set_detail("partner unreachable");
        continue;
      }
      v1::EvaluateRequest evaluate;
      *evaluate.mutable_blinded_elements() = batch.elements();
      v1::AuthorisationPayload* a = evaluate.mutable_authorisation()->mutable_payload();
      a->set_operation(v1::AUTHORISED_OPERATION_EVALUATE);
      a->set_exchange_id(exchange_id);
      a->set_requester_org_id(kOwnOrg);
      a->set_responder_org_id(p->org_id);
      a->set_purpose_id(request->purpose_id());
      a->set_case_id(request->case_id());
      a->set_policy_version("2025-03");
      a->set_subject_count(static_cast<uint32_t>(request->subjects_size()));
      a->set_element_count(static_cast<uint32_t>(batch.elements_size()));
      a->set_request_digest(std::string(digest.begin(), digest.end()));
      const int64_t now = NowMs();
      SetMs(now, a->mutable_issued_at());
      SetMs(now + 30'000, a->mutable_expires_at());
      std::string nonce(16, '\0');
      crypto::RandomBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(nonce.data()), 16));
      a->set_nonce(nonce);
      *evaluate.mutable_authorisation()->mutable_signature() =
          canonical::Sign(gateway_key_, canonical::kAuthorisationContext, *a).value();
      auto answer = p->evaluator->Evaluate(evaluate, now);
      *e->mutable_authorisation() = evaluate.authorisation();
      if (!answer.ok()) {
        e->mutable_outcome()->set_status(v1::PARTNER_STATUS_REFUSED_BY_NODE);
        continue;
      }
      e->mutable_outcome()->set_status(v1::PARTNER_STATUS_OK);
      *e->mutable_evaluated_elements() = answer->evaluated_elements();
      e->set_proof(answer->proof());
      *e->mutable_node_signature() = answer->signature();
      if (p->tamper) p->tamper(*e);
    }
    stored_[request->request_id()] = *response;
    exchanges_[exchange_id] = {*request, *response};
    return grpc::Status::OK;
  }

  grpc::Status ResolveMatches(grpc::ServerContext*, const v1::ResolveMatchesRequest* request,
                              v1::ResolveMatchesResponse* response) override {
    std::lock_guard lock(mu_);
    resolves.push_back(*request);
    if (!resolve_error.ok()) return resolve_error;
    auto it = exchanges_.find(request->exchange_id());
    if (it == exchanges_.end()) return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such exchange");
    const auto& [open, opened] = it->second;
    std::map<std::string, const v1::PartnerTags*> verified;
    std::set<std::string> rejected;
    for (const auto& t : request->partners()) {
      if (t.check() == v1::EVALUATION_CHECK_VERIFIED) {
        verified[t.org_id()] = &t;
      } else {
        rejected.insert(t.org_id());
      }
    }
    v1::MatchResult* result = response->mutable_result();
    result->set_exchange_id(request->exchange_id());
    for (const auto& e : opened.evaluations()) {
      v1::PartnerOutcome* o = result->add_partners();
      *o = e.outcome();
      if (rejected.count(o->org_id()) > 0) {
        o->set_status(v1::PARTNER_STATUS_INVALID_RESPONSE);
        o->set_reason(v1::DENIAL_REASON_INVALID_PROOF);
      }
    }
    std::map<uint32_t, std::pair<uint32_t, std::set<uint32_t>>> family_members;  // family -> members, hit members
    std::map<uint32_t, std::map<v1::Domain, std::pair<std::set<std::string>, std::set<uint32_t>>>> family_domains;
    uint32_t element = 0;
    uint32_t subjects_hit = 0;
    uint32_t pair_hits = 0;
    for (int i = 0; i < open.subjects_size(); ++i) {
      const v1::BlindedSubject& s = open.subjects(i);
      v1::SubjectMatch* m = result->add_subjects();
      m->set_subject_index(static_cast<uint32_t>(i));
      m->set_family(s.family());
      m->set_relation(s.relation());
      bool any = false;
      for (const auto& e : opened.evaluations()) {
        auto v = verified.find(e.outcome().org_id());
        if (v == verified.end()) continue;
        const Partner& p = partner(e.outcome().org_id());
        v1::PartnerMatch* pm = m->add_partners();
        pm->set_org_id(p.org_id);
        pm->set_domain(p.domain);
        std::map<v1::MatchKeyType, std::pair<uint32_t, uint32_t>> per_type;
        for (int k = 0; k < s.keys_size(); ++k) {
          auto& [sent, hit] = per_type[s.keys(k).key_type()];
          ++sent;
          if (p.tags.count(v->second->tags(static_cast<int>(element) + k)) > 0) ++hit;
        }
        for (const auto& [type, counts] : per_type) {
          v1::KeyTypeMatch* km = pm->add_key_types();
          km->set_key_type(type);
          km->set_keys_sent(counts.first);
          km->set_keys_hit(counts.second);
          km->set_hit(counts.second > 0);
          if (counts.second > 0) pm->set_hit(true);
        }
        if (pm->hit()) {
          any = true;
          ++pair_hits;
          if (s.family() != 0) {
            auto& [orgs, members] = family_domains[s.family()][p.domain];
            orgs.insert(p.org_id);
            members.insert(static_cast<uint32_t>(i));
          }
        }
      }
      if (any) ++subjects_hit;
      if (s.family() != 0) {
        ++family_members[s.family()].first;
        if (any) family_members[s.family()].second.insert(static_cast<uint32_t>(i));
      }
      element += static_cast<uint32_t>(s.keys_size());
    }
    for (const auto& [family, members] : family_members) {
      v1::FamilySummary* f = result->add_families();
      f->set_family(family);
      f->set_member_count(members.first);
      f->set_members_with_hit(static_cast<uint32_t>(members.second.size()));
      for (const auto& [domain, known] : family_domains[family]) {
        v1::DomainKnowledge* d = f->add_domains();
        d->set_domain(domain);
        for (const auto& o : known.first) d->add_org_ids(o);
        for (uint32_t i : known.second) d->add_subject_indices(i);
      }
    }
    result->mutable_counts()->set_subjects(static_cast<uint32_t>(open.subjects_size()));
    result->mutable_counts()->set_elements(element);
    result->mutable_counts()->set_subjects_hit(subjects_hit);
    result->mutable_counts()->set_subject_partner_hits(pair_hits);
    *response->add_receipts() = Receipt(3, request->exchange_id());
    return grpc::Status::OK;
  }

  static v1::Receipt Receipt(uint64_t sequence, const std::string& exchange_id) {
    v1::Receipt r;
    r.mutable_payload()->set_sequence(sequence);
    r.mutable_payload()->set_exchange_id(exchange_id);
    r.mutable_payload()->set_recipient_org_id(kOwnOrg);
    return r;
  }

  std::mutex mu_;
  crypto::SigningKey gateway_key_ = crypto::SigningKey::Generate();
  v1::PurposeView view_;
  std::vector<std::unique_ptr<Partner>> partners_;
  std::map<std::string, v1::OpenExchangeResponse> stored_;  // by request_id
  std::map<std::string, std::pair<v1::OpenExchangeRequest, v1::OpenExchangeResponse>> exchanges_;
  // Observed and injected.
  std::vector<v1::OpenExchangeRequest> opens;
  std::vector<v1::ResolveMatchesRequest> resolves;
  int directory_calls = 0;
  int unavailable_opens = 0;
  grpc::Status open_error = grpc::Status::OK;
  grpc::Status resolve_error = grpc::Status::OK;
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int* port) {
  grpc::ServerBuilder builder;
  rpc::ConfigureServer(builder);
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), port);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

class MatchingServiceTest : public ::testing::Test {
 protected:
  MatchingServiceTest() {
    gateway_server_ = Serve(&gateway_, &gateway_port_);
    log_ = LocalLog::Open(&kv_).value();
    crypto::SecretBytes<32> key;
    crypto::RandomBytes(key.mutable_bytes());
    users_ = UserStore::Create(&kv_, log_.get(), std::move(key)).value();
    analyst_ = Credential("anna", {v1::ROLE_ANALYST});
    professional_ = Credential("piet", {v1::ROLE_PROFESSIONAL});
    authenticator_ = std::make_unique<LocalAuthenticator>(users_.get(), log_.get());
    Connect(StrCat("127.0.0.1:", gateway_port_));
  }

  void Connect(const std::string& gateway_endpoint) {
    server_.reset();
    service_.reset();
    client_ = std::make_unique<GatewayClient>(
        rpc::CreateChannel(gateway_endpoint, grpc::InsecureChannelCredentials()).value(),
        GatewayClient::Options{});
    MatchingService::Options options;
    options.threads = 2;
    options.retry_wait = std::chrono::milliseconds(1);
    service_ = std::make_unique<MatchingService>(client_.get(), authenticator_.get(), log_.get(),
                                                 options);
    int port = 0;
    server_ = Serve(service_.get(), &port);
    stub_ = v1::Matching::NewStub(
        rpc::CreateChannel(StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()).value());
  }

  std::string Credential(const std::string& user, std::vector<v1::Role> roles) {
    auto issued = users_->CreateUser({}, user, user, std::move(roles));
    EXPECT_TRUE(issued.ok()) << issued.status();
    return std::string(issued->credential_view());
  }

  absl::Status Match(const v1::MatchRequest& request, v1::MatchResponse* response,
                     const std::string* credential = nullptr) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    const std::string& c = credential != nullptr ? *credential : analyst_;
    if (!c.empty()) context.AddMetadata("authorization", StrCat("Bearer ", c));
    return rpc::FromGrpcStatus(stub_->Match(&context, request, response));
  }

  static v1::MatchSubject* Add(v1::MatchRequest& request, const std::string& label,
                               const std::string& bsn, const std::string& family = "",
                               v1::Relation relation = v1::RELATION_UNSPECIFIED) {
    v1::MatchSubject* s = request.add_subjects();
    s->set_label(label);
    if (!bsn.empty()) s->mutable_subject()->set_bsn(bsn);
    s->mutable_subject()->set_family_id(family);
    s->mutable_subject()->set_relation(relation);
    return s;
  }

  static v1::MatchRequest Request() {
    v1::MatchRequest r;
    r.set_purpose_id(kPurpose);
    r.set_case_id("2025-0042");
    return r;
  }

  std::vector<v1::LocalLogRecord> MatchRecords() {
    std::vector<v1::LocalLogRecord> out;
    auto entries = log_->Read(1, 0);
    if (!entries.ok()) return out;
    for (const v1::LocalLogEntry& e : *entries) {
      if (e.record().kind() == v1::LOCAL_EVENT_KIND_MATCH_RUN) out.push_back(e.record());
    }
    return out;
  }

  // What a ResolveMatches sent, and what a match answered, per partner.
  static std::map<std::string, v1::PartnerTags> SentTags(const v1::ResolveMatchesRequest& r) {
    std::map<std::string, v1::PartnerTags> sent;
    for (const auto& t : r.partners()) sent[t.org_id()] = t;
    return sent;
  }
  static std::map<std::string, v1::PartnerOutcome> Outcomes(const v1::MatchResponse& r) {
    std::map<std::string, v1::PartnerOutcome> outcomes;
    for (const auto& o : r.result().partners()) outcomes[o.org_id()] = o;
    return outcomes;
  }

  const v1::PartnerMatch* At(const v1::MatchResponse& r, int subject, const std::string& org) {
    for (const auto& p : r.result().subjects(subject).partners()) {
      if (p.org_id() == org) return &p;
    }
    return nullptr;
  }

  FakeGateway gateway_;
  int gateway_port_ = 0;
  std::unique_ptr<grpc::Server> gateway_server_;
  store::MemoryStore kv_;
  std::unique_ptr<LocalLog> log_;
  std::unique_ptr<UserStore> users_;
  std::string analyst_;
  std::string professional_;
  std::unique_ptr<LocalAuthenticator> authenticator_;
  std::unique_ptr<GatewayClient> client_;
  std::unique_ptr<MatchingService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Matching::Stub> stub_;
};

TEST_F(MatchingServiceTest, FindsHitsPerPartnerAndKeyTypeAndMapsFamiliesBack) {
  gateway_.partner("politie").Knows(crypto::MatchKeyType::kBsn, "111222333");
  gateway_.partner("zorgpunt").Knows(crypto::MatchKeyType::kNameDob, "vries|j|2012-05-01");
  gateway_.partner("zorgpunt").Knows(crypto::MatchKeyType::kBsn, "100000009");

  v1::MatchRequest request = Request();
  Add(request, "vader", "111222333", "fam-jansen", v1::RELATION_PARENT);
  v1::MatchSubject* child = Add(request, "kind", "", "fam-jansen", v1::RELATION_CHILD);
  child->mutable_subject()->set_given_names("Jan");
  child->mutable_subject()->set_surname("de Vries");
  child->mutable_subject()->set_birth_date("01-05-2012");
  Add(request, "los", "123456782");
  Add(request, "buur", "100000009", "fam-pietersen", v1::RELATION_HOUSEMATE);

  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  ASSERT_TRUE(status.ok()) << status;

  EXPECT_EQ(response.exchange_id().size(), 16u);
  EXPECT_EQ(response.purpose_id(), kPurpose);
  EXPECT_EQ(response.case_id(), "2025-0042");
  EXPECT_EQ(response.policy_version(), "2025-03");
  EXPECT_EQ(response.lawful_basis().reference(), "Wgs");
  ASSERT_EQ(response.subjects_size(), 4);
  EXPECT_EQ(response.subjects(0).label(), "vader");
  EXPECT_EQ(response.subjects(1).label(), "kind");
  EXPECT_EQ(response.subjects(1).family_id(), "fam-jansen");
  EXPECT_EQ(response.subjects(1).relation(), v1::RELATION_CHILD);
  EXPECT_EQ(response.subjects(1).keys(0).key_type(), v1::MATCH_KEY_TYPE_NAME_DOB);
  EXPECT_EQ(response.subjects(2).family_id(), "");
  ASSERT_EQ(response.families_size(), 2);
  EXPECT_EQ(response.families(0).family(), 1u);
  EXPECT_EQ(response.families(0).family_id(), "fam-jansen");
  EXPECT_EQ(response.families(1).family(), 2u);
  EXPECT_EQ(response.families(1).family_id(), "fam-pietersen");

  // What the gateway saw: family numbers and blinded elements, no identifiers.
  ASSERT_EQ(gateway_.opens.size(), 1u);
  const v1::OpenExchangeRequest& open = gateway_.opens[0];
  EXPECT_EQ(open.actor().user_id(), "anna");
  EXPECT_EQ(open.actor().role(), v1::ROLE_ANALYST);
  EXPECT_EQ(open.request_id().size(), 16u);
  EXPECT_EQ(open.subjects(0).family(), 1u);
  EXPECT_EQ(open.subjects(1).family(), 1u);
  EXPECT_EQ(open.subjects(2).family(), 0u);
  EXPECT_EQ(open.subjects(2).relation(), v1::RELATION_UNSPECIFIED);
  EXPECT_EQ(open.subjects(3).family(), 2u);
  EXPECT_THAT(open.DebugString(), Not(HasSubstr("111222333")));
  EXPECT_THAT(open.DebugString(), Not(HasSubstr("fam-jansen")));
  EXPECT_THAT(open.DebugString(), Not(HasSubstr("vader")));
  for (const auto& s : open.subjects()) {
    for (const auto& k : s.keys()) EXPECT_EQ(k.blinded_element().size(), 32u);
  }

  // Hits where the partners hold the keys, and nowhere else.
  const v1::PartnerMatch* p = At(response, 0, "politie");
  ASSERT_NE(p, nullptr);
  EXPECT_TRUE(p->hit());
  EXPECT_EQ(p->key_types(0).key_type(), v1::MATCH_KEY_TYPE_BSN);
  EXPECT_FALSE(At(response, 0, "zorgpunt")->hit());
  EXPECT_TRUE(At(response, 1, "zorgpunt")->hit());
  EXPECT_FALSE(At(response, 1, "politie")->hit());
  EXPECT_FALSE(At(response, 2, "politie")->hit());
  EXPECT_FALSE(At(response, 2, "woonstad")->hit());
  EXPECT_TRUE(At(response, 3, "zorgpunt")->hit());
  EXPECT_EQ(response.result().counts().subject_partner_hits(), 3u);
  ASSERT_EQ(response.result().families_size(), 2);
  EXPECT_EQ(response.result().families(0).members_with_hit(), 2u);
  EXPECT_EQ(response.result().families(0).domains_size(), 2);  // safety and care
  EXPECT_EQ(response.receipts_size(), 2);  // requested, resolved

  // Every partner verified: tags sent with check VERIFIED, one per element.
  ASSERT_EQ(gateway_.resolves.size(), 1u);
  for (const auto& t : gateway_.resolves[0].partners()) {
    EXPECT_EQ(t.check(), v1::EVALUATION_CHECK_VERIFIED);
    EXPECT_EQ(t.tags_size(), 4);
  }

  const auto records = MatchRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].user_id(), "anna");
  EXPECT_EQ(records[0].role(), v1::ROLE_ANALYST);
  EXPECT_EQ(records[0].purpose_id(), kPurpose);
  EXPECT_EQ(records[0].case_id(), "2025-0042");
  EXPECT_EQ(records[0].exchange_id(), response.exchange_id());
  EXPECT_EQ(records[0].subject_count(), 4u);
  EXPECT_EQ(records[0].element_count(), 4u);
  EXPECT_EQ(records[0].hit_count(), 3u);
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_GRANTED);
  EXPECT_EQ(records[0].receipts_size(), 2);
  EXPECT_THAT(records[0].DebugString(), Not(HasSubstr("vader")));
  EXPECT_THAT(records[0].DebugString(), Not(HasSubstr("fam-jansen")));
}

TEST_F(MatchingServiceTest, ABadSubjectSendsNothingAndNamesEveryField) {
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  Add(request, "b", "123456782");
  Add(request, "c", "123456789");  // fails the elfproef
  v1::MatchSubject* d = Add(request, "d", "");
  d->mutable_subject()->set_surname("Jansen");  // given names and birth date missing
  v1::MatchSubject* e = Add(request, "e", "111222333");
  e->mutable_subject()->mutable_address()->set_postcode("0123 AB");
  e->mutable_subject()->mutable_address()->set_house_number(5);
  Add(request, "f", "");  // nothing at all
  v1::MatchSubject* g = Add(request, "g", "111222333");
  g->mutable_subject()->set_relation(v1::RELATION_CHILD);  // without a family

  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr("subjects[2].subject.bsn: fails the elfproef"));
  EXPECT_THAT(message, HasSubstr("subjects[3].subject: surname, given_names and birth_date go together; missing given_names, birth_date"));
  EXPECT_THAT(message, HasSubstr("subjects[4].subject.address.postcode: must not start with 0"));
  EXPECT_THAT(message, HasSubstr("subjects[5].subject: no identifiers"));
  EXPECT_THAT(message, HasSubstr("subjects[6].subject.relation: given without a family_id"));
  EXPECT_THAT(message, Not(HasSubstr("123456789")));
  EXPECT_THAT(message, Not(HasSubstr("Jansen")));
  auto detail = rpc::ErrorDetailOf(status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->reason(), v1::DENIAL_REASON_MALFORMED_REQUEST);
  ASSERT_EQ(detail->problems_size(), 5) << detail->DebugString();
  EXPECT_EQ(detail->problems(0).field(), "subjects[2].subject.bsn");
  EXPECT_EQ(detail->problems(0).problem(), "fails the elfproef (11-check)");
  EXPECT_TRUE(gateway_.opens.empty());
  EXPECT_TRUE(MatchRecords().empty());
}

TEST_F(MatchingServiceTest, RequestLevelProblemsAndLimits) {
  v1::MatchRequest request;
  request.set_purpose_id("Not A Purpose");
  request.set_case_id("bad case!");
  request.add_partner_org_ids("politie");
  request.add_partner_org_ids("politie");
  request.add_partner_org_ids("Politie");
  v1::MatchResponse response;
  absl::Status status = Match(request, &response);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("purpose_id: character 1 is not allowed"));
  EXPECT_THAT(status.message(), HasSubstr("case_id: not a case id"));
  EXPECT_THAT(status.message(), HasSubstr("partner_org_ids[1]: names the same partner twice"));
  EXPECT_THAT(status.message(), HasSubstr("partner_org_ids[2]: not an organisation id"));
  EXPECT_THAT(status.message(), HasSubstr("subjects: no subject"));

  request = Request();
  for (int i = 0; i < 51; ++i) Add(request, StrCat(i), "111222333");
  status = Match(request, &response);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("subjects: 51 subjects"));
  EXPECT_EQ(rpc::ErrorDetailOf(status)->reason(), v1::DENIAL_REASON_TOO_MANY_SUBJECTS);
  EXPECT_EQ(rpc::ErrorDetailOf(status)->problems(0).allowed(),
            "at most 50 subjects for purpose riec.ondermijning");

  // Many bad subjects: the first ones are named, the rest counted.
  request = Request();
  for (int i = 0; i < 40; ++i) Add(request, StrCat(i), "123456789");
  status = Match(request, &response);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("subjects[24].subject.bsn"));
  EXPECT_THAT(status.message(), HasSubstr("and 15 more problems"));
  EXPECT_TRUE(gateway_.opens.empty());
}

TEST_F(MatchingServiceTest, KeyTypesNarrowWhatIsSent) {
  v1::MatchRequest request = Request();
  v1::MatchSubject* s = Add(request, "x", "111222333");
  s->mutable_subject()->set_given_names("Jan");
  s->mutable_subject()->set_surname("Jansen-de Vries");  // three name_dob keys
  s->mutable_subject()->set_birth_date("1990-02-01");
  s->add_key_types(v1::MATCH_KEY_TYPE_NAME_DOB);
  v1::MatchResponse response;
  ASSERT_TRUE(Match(request, &response).ok());
  ASSERT_EQ(gateway_.opens.size(), 1u);
  EXPECT_EQ(gateway_.opens[0].subjects(0).keys_size(), 3);
  ASSERT_EQ(response.subjects(0).keys_size(), 1);
  EXPECT_EQ(response.subjects(0).keys(0).key_type(), v1::MATCH_KEY_TYPE_NAME_DOB);
  EXPECT_EQ(response.subjects(0).keys(0).count(), 3u);

  // A type the subject does not yield.
  request = Request();
  Add(request, "y", "111222333")->add_key_types(v1::MATCH_KEY_TYPE_ADDRESS);
  const absl::Status status = Match(request, &response);
  EXPECT_TRUE(absl::IsInvalidArgument(status));
  EXPECT_THAT(status.message(), HasSubstr("subjects[0].subject: yields no key of the types asked for"));
}

TEST_F(MatchingServiceTest, OnlyKeyTypesThePurposeMatchesAreSent) {
  {
    std::lock_guard lock(gateway_.mu_);
    gateway_.view_.mutable_purpose()->clear_key_types();
    gateway_.view_.mutable_purpose()->add_key_types(v1::MATCH_KEY_TYPE_BSN);
  }
  v1::MatchRequest request = Request();
  v1::MatchSubject* both = Add(request, "a", "111222333");
  both->mutable_subject()->mutable_address()->set_postcode("1234AB");
  both->mutable_subject()->mutable_address()->set_house_number(1);
  v1::MatchSubject* address = Add(request, "b", "");
  address->mutable_subject()->mutable_address()->set_postcode("1234AB");
  address->mutable_subject()->mutable_address()->set_house_number(2);
  Add(request, "c", "123456782")->add_key_types(v1::MATCH_KEY_TYPE_ADDRESS);
  v1::MatchResponse response;
  absl::Status status = Match(request, &response);
  ASSERT_TRUE(absl::IsInvalidArgument(status)) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("subjects[1].subject: yields no key of a type purpose riec.ondermijning "
                        "matches"));
  EXPECT_THAT(status.message(),
              HasSubstr("subjects[2].key_types[0]: address is not matched under purpose"));
  EXPECT_THAT(status.message(), Not(HasSubstr("subjects[0]")));

  request.mutable_subjects()->DeleteSubrange(1, 2);
  ASSERT_TRUE(Match(request, &response).ok());
  EXPECT_EQ(gateway_.opens.back().subjects(0).keys_size(), 1);  // the address key stays home
  EXPECT_EQ(gateway_.opens.back().subjects(0).keys(0).key_type(), v1::MATCH_KEY_TYPE_BSN);
}

TEST_F(MatchingServiceTest, APartnerWithABadProofIsReportedAndNotUsed) {
  // woonstad answers with another OPRF key than the directory shows: its
  // statement is signed properly, but the proof fails.
  gateway_.partner("woonstad").directory_oprf =
      crypto::oprf::PrivateKey::Generate().public_key().ToBytes();
  // zorgpunt's signature does not verify with the directory's key.
  gateway_.partner("zorgpunt").directory_signing =
      crypto::SigningKey::Generate().verify_key().ToBytes();
  gateway_.partner("politie").Knows(crypto::MatchKeyType::kBsn, "111222333");

  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  ASSERT_TRUE(status.ok()) << status;

  ASSERT_EQ(gateway_.resolves.size(), 1u);
  std::map<std::string, v1::PartnerTags> sent = SentTags(gateway_.resolves[0]);
  EXPECT_EQ(sent["politie"].check(), v1::EVALUATION_CHECK_VERIFIED);
  EXPECT_EQ(sent["woonstad"].check(), v1::EVALUATION_CHECK_PROOF_INVALID);
  EXPECT_TRUE(sent["woonstad"].tags().empty());
  EXPECT_EQ(sent["zorgpunt"].check(), v1::EVALUATION_CHECK_SIGNATURE_INVALID);
  EXPECT_TRUE(sent["zorgpunt"].tags().empty());

  std::map<std::string, v1::PartnerOutcome> outcomes = Outcomes(response);
  EXPECT_EQ(outcomes["politie"].status(), v1::PARTNER_STATUS_OK);
  EXPECT_EQ(outcomes["woonstad"].status(), v1::PARTNER_STATUS_INVALID_RESPONSE);
  EXPECT_THAT(outcomes["woonstad"].detail(), HasSubstr("proof does not verify"));
  EXPECT_EQ(outcomes["zorgpunt"].status(), v1::PARTNER_STATUS_INVALID_RESPONSE);
  EXPECT_THAT(outcomes["zorgpunt"].detail(), HasSubstr("signature"));
  EXPECT_TRUE(At(response, 0, "politie")->hit());
  EXPECT_EQ(At(response, 0, "woonstad"), nullptr);

  const auto records = MatchRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_PARTIAL);
  EXPECT_THAT(records[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_INVALID_PROOF));
  EXPECT_THAT(records[0].detail(), HasSubstr("woonstad invalid_response"));
}

// The requester checks each answer's statement and proof and unblinds each
// element as separate pieces of work; an answer with an element too few or
// one changed after signing yields no tags, and the others' are whole.
TEST_F(MatchingServiceTest, AnAnswerWithAnElementTooFewOrAlteredYieldsNoTags) {
  gateway_.partner("woonstad").tamper = [](v1::PartnerEvaluation& e) {
    e.mutable_evaluated_elements()->RemoveLast();
  };
  gateway_.partner("zorgpunt").tamper = [](v1::PartnerEvaluation& e) {
    std::swap(*e.mutable_evaluated_elements(0), *e.mutable_evaluated_elements(1));
  };
  gateway_.partner("politie").Knows(crypto::MatchKeyType::kBsn, "111222333");
  gateway_.partner("politie").Knows(crypto::MatchKeyType::kBsn, "123456782");

  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  Add(request, "b", "123456782");
  Add(request, "c", "100000009");
  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  ASSERT_TRUE(status.ok()) << status;

  ASSERT_EQ(gateway_.resolves.size(), 1u);
  std::map<std::string, v1::PartnerTags> sent = SentTags(gateway_.resolves[0]);
  EXPECT_EQ(sent["politie"].check(), v1::EVALUATION_CHECK_VERIFIED);
  EXPECT_GE(sent["politie"].tags_size(), 3);
  EXPECT_EQ(sent["woonstad"].check(), v1::EVALUATION_CHECK_ELEMENT_INVALID);
  EXPECT_TRUE(sent["woonstad"].tags().empty());
  EXPECT_EQ(sent["zorgpunt"].check(), v1::EVALUATION_CHECK_SIGNATURE_INVALID);
  EXPECT_TRUE(sent["zorgpunt"].tags().empty());
  std::map<std::string, v1::PartnerOutcome> outcomes = Outcomes(response);
  EXPECT_THAT(outcomes["woonstad"].detail(), HasSubstr("evaluated elements for"));
  EXPECT_THAT(outcomes["zorgpunt"].detail(), HasSubstr("node signature"));
  EXPECT_TRUE(At(response, 0, "politie")->hit());
  EXPECT_TRUE(At(response, 1, "politie")->hit());
  EXPECT_FALSE(At(response, 2, "politie")->hit());
  EXPECT_EQ(At(response, 0, "woonstad"), nullptr);
}

TEST_F(MatchingServiceTest, APartnerDownGivesAPartialResult) {
  gateway_.partner("woonstad").down = true;
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  request.add_partner_org_ids("woonstad");
  request.add_partner_org_ids("politie");
  v1::MatchResponse response;
  ASSERT_TRUE(Match(request, &response).ok());
  EXPECT_THAT(gateway_.opens[0].target_org_ids(), ElementsAre("woonstad", "politie"));
  ASSERT_EQ(response.result().partners_size(), 2);
  ASSERT_EQ(gateway_.resolves[0].partners_size(), 1);  // only those that answered OK
  EXPECT_EQ(gateway_.resolves[0].partners(0).org_id(), "politie");
  EXPECT_EQ(MatchRecords()[0].outcome(), v1::OUTCOME_PARTIAL);

  // Nobody answers: nothing to resolve, every subject "unknown".
  gateway_.partner("politie").down = true;
  ASSERT_TRUE(Match(request, &response).ok());
  EXPECT_EQ(gateway_.resolves.size(), 1u);
  EXPECT_EQ(response.result().subjects_size(), 1);
  EXPECT_TRUE(response.result().subjects(0).partners().empty());
  EXPECT_EQ(response.result().counts().partners_failed(), 2u);
  EXPECT_EQ(MatchRecords()[1].outcome(), v1::OUTCOME_FAILED);
}

TEST_F(MatchingServiceTest, GatewayErrorsPassThroughWithTheirDetail) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_CASE_NOT_OPEN);
  *detail.mutable_receipt() = FakeGateway::Receipt(7, "");
  gateway_.open_error = rpc::ToGrpcStatus(rpc::WithErrorDetail(
      absl::FailedPreconditionError("case 2025-0042 is closed"), detail));
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  EXPECT_TRUE(absl::IsFailedPrecondition(status)) << status;
  EXPECT_EQ(status.message(), "case 2025-0042 is closed");
  auto got = rpc::ErrorDetailOf(status);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason(), v1::DENIAL_REASON_CASE_NOT_OPEN);
  EXPECT_EQ(got->receipt().payload().sequence(), 7u);

  const auto records = MatchRecords();
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].outcome(), v1::OUTCOME_REFUSED);
  EXPECT_THAT(records[0].denial_reasons(), ElementsAre(v1::DENIAL_REASON_CASE_NOT_OPEN));
  ASSERT_EQ(records[0].receipts_size(), 1);
  EXPECT_EQ(records[0].receipts(0).payload().sequence(), 7u);

  // ResolveMatches' errors too.
  gateway_.open_error = grpc::Status::OK;
  gateway_.resolve_error = grpc::Status(grpc::StatusCode::NOT_FOUND, "no such exchange");
  EXPECT_TRUE(absl::IsNotFound(Match(request, &response)));
}

TEST_F(MatchingServiceTest, UnavailableIsRetriedWithTheSameRequestId) {
  gateway_.unavailable_opens = 1;
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  v1::MatchResponse response;
  ASSERT_TRUE(Match(request, &response).ok());
  ASSERT_EQ(gateway_.opens.size(), 2u);
  EXPECT_EQ(gateway_.opens[0].request_id(), gateway_.opens[1].request_id());
  EXPECT_EQ(gateway_.opens[0].subjects(0).keys(0).blinded_element(),
            gateway_.opens[1].subjects(0).keys(0).blinded_element());

  // Each new match blinds afresh: the gateway cannot link two requests.
  ASSERT_TRUE(Match(request, &response).ok());
  ASSERT_EQ(gateway_.opens.size(), 3u);
  EXPECT_NE(gateway_.opens[2].request_id(), gateway_.opens[0].request_id());
  EXPECT_NE(gateway_.opens[2].subjects(0).keys(0).blinded_element(),
            gateway_.opens[0].subjects(0).keys(0).blinded_element());
}

TEST_F(MatchingServiceTest, AnUnreachableGatewayGivesUnavailable) {
  gateway_server_->Shutdown(std::chrono::system_clock::now());
  gateway_server_.reset();
  Connect(StrCat("127.0.0.1:", gateway_port_));
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  v1::MatchResponse response;
  const absl::Status status = Match(request, &response);
  EXPECT_TRUE(absl::IsUnavailable(status)) << status;
  EXPECT_THAT(status.message(), HasSubstr("gateway unreachable"));
  grpc::ClientContext context;
  context.AddMetadata("authorization", StrCat("Bearer ", analyst_));
  v1::GetFederationResponse federation;
  EXPECT_EQ(stub_->GetFederation(&context, v1::GetFederationRequest(), &federation).error_code(),
            grpc::StatusCode::UNAVAILABLE);
}

TEST_F(MatchingServiceTest, CallersAreAuthenticatedAndNeedARoleThatMayAsk) {
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  v1::MatchResponse response;
  const std::string none;
  EXPECT_TRUE(absl::IsUnauthenticated(Match(request, &response, &none)));
  const std::string wrong = "anna.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
  EXPECT_TRUE(absl::IsUnauthenticated(Match(request, &response, &wrong)));
  EXPECT_TRUE(absl::IsPermissionDenied(Match(request, &response, &professional_)));
  EXPECT_TRUE(gateway_.opens.empty());
}

TEST_F(MatchingServiceTest, GetFederationListsPurposesAndActiveOrganisations) {
  grpc::ClientContext context;
  context.AddMetadata("authorization", StrCat("Bearer ", professional_));
  v1::GetFederationResponse response;
  const grpc::Status status =
      stub_->GetFederation(&context, v1::GetFederationRequest(), &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.policy_version(), "2025-03");
  ASSERT_EQ(response.purposes_size(), 1);
  EXPECT_EQ(response.purposes(0).purpose().purpose_id(), kPurpose);
  std::vector<std::string> orgs;
  for (const auto& o : response.organisations()) orgs.push_back(o.org_id());
  EXPECT_THAT(orgs, ElementsAre(kOwnOrg, "politie", "woonstad", "zorgpunt"));
}

TEST_F(MatchingServiceTest, DisclosureNeedsItsStore) {
  // Without OutgoingDisclosures (outgoing_disclosures_test.cc has the rest).
  grpc::ClientContext context;
  context.AddMetadata("authorization", StrCat("Bearer ", analyst_));
  v1::AskDisclosureResponse response;
  const grpc::Status status =
      stub_->AskDisclosure(&context, v1::AskDisclosureRequest(), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("disclosure is not set up"));
}

TEST_F(MatchingServiceTest, AMatchIsRememberedForDisclosureWithItsRecord) {
  OutgoingDisclosures disclosures(&kv_, log_.get(), client_.get(),
                                  {.own_org_id = kOwnOrg, .box_key = nullptr, .now = {}});
  MatchingService::Options options;
  options.disclosures = &disclosures;
  MatchingService service(client_.get(), authenticator_.get(), log_.get(), options);
  v1::MatchRequest request = Request();
  Add(request, "regel 2", "111222333");
  Add(request, "regel 3", "123456782");
  auto result = service.RunMatch({"anna", v1::ROLE_ANALYST}, request);
  ASSERT_TRUE(result.ok()) << result.status();
  auto kept = disclosures.FindExchange(result->exchange_id());
  ASSERT_TRUE(kept.ok() && kept->has_value());
  EXPECT_EQ((*kept)->purpose_id(), kPurpose);
  ASSERT_EQ((*kept)->subjects_size(), 2);
  EXPECT_EQ((*kept)->subjects(1).label(), "regel 3");
  EXPECT_EQ((*kept)->receipts_size(), 0);  // those are in the log
  EXPECT_FALSE(result->receipts().empty());
}

TEST_F(MatchingServiceTest, TheResultIsWithheldWhenTheMatchCannotBeRecorded) {
  // A log on a store that refuses writes from now on.
  store::MemoryStore memory;
  store::FaultyStore refusing(&memory);
  refusing.FailAllWrites();
  auto log = LocalLog::Open(&refusing).value();
  MatchingService service(client_.get(), authenticator_.get(), log.get(), {});
  v1::MatchRequest request = Request();
  Add(request, "a", "111222333");
  auto result = service.RunMatch({"anna", v1::ROLE_ANALYST}, request);
  EXPECT_TRUE(absl::IsUnavailable(result.status())) << result.status();
  EXPECT_THAT(result.status().message(), HasSubstr("result is withheld"));
}

// A figure, not a check: 10,000 subjects against two partners. Run with
// --gtest_also_run_disabled_tests.
TEST_F(MatchingServiceTest, DISABLED_TenThousandSubjects) {
  gateway_.partner("zorgpunt").down = true;
  gateway_.view_.mutable_purpose()->set_max_subjects_per_exchange(10'000);
  for (auto& p : gateway_.partners_) {
    Evaluator::Options options;
    options.own_org_id = p->org_id;
    options.threads = 2;
    options.daily_subject_quota = 100'000;
    options.daily_element_quota = 100'000;
    p->evaluator = Evaluator::Create(crypto::oprf::PrivateKey::FromBytes(p->oprf.scalar().bytes()).value(),
                                     crypto::SigningKey::FromSeed(p->signing.seed()), {kPurpose},
                                     &p->check, options)
                       .value();
  }
  v1::MatchRequest request = Request();
  for (int i = 0; i < 10'000; ++i) {
    int n = 10'000'000 + i * 7;
    std::string digits = StrCat(n).substr(0, 8);
    int sum = 0;
    for (int k = 0; k < 8; ++k) sum += (9 - k) * (digits[k] - '0');
    if (sum % 11 == 10) digits[7] = digits[7] == '9' ? '0' : static_cast<char>(digits[7] + 1);
    sum = 0;
    for (int k = 0; k < 8; ++k) sum += (9 - k) * (digits[k] - '0');
    if (sum % 11 == 10) continue;
    Add(request, StrCat(i), digits + static_cast<char>('0' + sum % 11));
  }
  v1::MatchResponse response;
  const auto start = std::chrono::steady_clock::now();
  const absl::Status status = Match(request, &response);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - start)
                      .count();
  ASSERT_TRUE(status.ok()) << status;
  std::printf("%d subjects, 2 partners: %lld ms end to end\n", request.subjects_size(),
              static_cast<long long>(ms));

  // The requester's crypto alone: blinding once, finalising one partner.
  auto prepared = PrepareMatch(request, &gateway_.view_, crypto::UtcToday()).value();
  std::vector<crypto::ByteView> inputs;
  for (const auto& in : prepared.inputs) inputs.push_back(in.bytes());
  auto requester = crypto::MatchRequester::Create(kPurpose).value();
  auto t0 = std::chrono::steady_clock::now();
  auto pending = requester.Blind(inputs).value();
  auto t1 = std::chrono::steady_clock::now();
  crypto::oprf::PoprfServer server(
      crypto::oprf::PrivateKey::FromBytes(gateway_.partner("politie").oprf.scalar().bytes()).value());
  auto key = crypto::PurposeKey::Create(server, kPurpose).value();
  const auto blinded = pending.BlindedEncodings();
  std::vector<crypto::ByteView> views(blinded.begin(), blinded.end());
  auto evaluation = key.EvaluateBlinded(views, 2).value();
  std::vector<crypto::ByteView> evaluated(evaluation.evaluated_elements.begin(),
                                          evaluation.evaluated_elements.end());
  auto t2 = std::chrono::steady_clock::now();
  ASSERT_TRUE(requester.Finalize(pending, server.public_key(), evaluated, evaluation.proof).ok());
  auto t3 = std::chrono::steady_clock::now();
  auto ms_of = [](auto d) {
    return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
  };
  std::printf("%zu elements: blind %lld ms, evaluate (2 threads) %lld ms, finalize one partner %lld ms\n",
              inputs.size(), ms_of(t1 - t0), ms_of(t2 - t1), ms_of(t3 - t2));
}

}  // namespace
}  // namespace schakel::nodes
