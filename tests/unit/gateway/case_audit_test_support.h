// Shared by the case, checkpoint and audit tests: a small convenant with
// purposes for every case rule, a directory of its parties, a settable
// clock, an exchange log in a MemoryStore, and helpers to read the log back
// and to edit it behind its back.
//
// Thread safety: for one test's thread.
#ifndef SCHAKEL_TESTS_UNIT_GATEWAY_CASE_AUDIT_TEST_SUPPORT_H_
#define SCHAKEL_TESTS_UNIT_GATEWAY_CASE_AUDIT_TEST_SUPPORT_H_

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/time/time.h"
#include "common/strings.h"
#include "crypto/bytes.h"
#include "crypto/signing.h"
#include "gateway/checkpoints.h"
#include "gateway/directory.h"
#include "gateway/exchange_log.h"
#include "gateway/policy.h"
#include "gateway/receipts.h"
#include "proto/canonical.h"
#include "rpc/status.h"
#include "store/memory_store.h"

namespace schakel::gateway::testing {

// riec-ondermijning: cases required, directed by riec-zwb, answered by
// politie-zwb and gemeente-tilburg, in force 2025-01-01 .. 2029-01-01.
// oud-doel: ended 2021-01-01. vrij-doel: no case directors.
// schakel-beheer supervises; "buiten" is in the directory but no party.
inline constexpr char kTestPolicy[] = R"json({
  "version": "test.1",
  "parties": [
    {"org_id": "riec-zwb", "name": "RIEC"},
    {"org_id": "politie-zwb", "name": "Politie"},
    {"org_id": "gemeente-tilburg", "name": "Gemeente Tilburg"},
    {"org_id": "ggz-breburg", "name": "GGz"},
    {"org_id": "schakel-beheer", "name": "Beheer"}
  ],
  "supervisor_org_ids": ["schakel-beheer"],
  "purposes": [
    {
      "purpose_id": "riec-ondermijning",
      "title": "Ondermijning",
      "description": "Integrale aanpak ondermijning.",
      "lawful_basis": {"reference": "Wpg art. 20", "text": "Verstrekking aan een samenwerkingsverband."},
      "valid_from": "2025-01-01",
      "valid_until": "2029-01-01",
      "may_ask": [{"org_id": "riec-zwb", "roles": ["analyst"]},
                  {"org_id": "politie-zwb", "roles": ["analyst"]}],
      "may_answer_org_ids": ["politie-zwb", "gemeente-tilburg"],
      "case_required": true,
      "case_director_org_ids": ["riec-zwb"],
      "key_types": ["bsn"],
      "max_subjects_per_exchange": 100,
      "daily_subject_quota": 1000,
      "notify_on_hit": false
    },
    {
      "purpose_id": "oud-doel",
      "title": "Oud",
      "description": "Afgelopen.",
      "lawful_basis": {"reference": "AVG art. 6(1)(e)"},
      "valid_from": "2020-01-01",
      "valid_until": "2021-01-01",
      "may_ask": [{"org_id": "riec-zwb", "roles": ["analyst"]}],
      "may_answer_org_ids": ["politie-zwb"],
      "case_required": true,
      "case_director_org_ids": ["riec-zwb"],
      "key_types": ["bsn"],
      "max_subjects_per_exchange": 100,
      "daily_subject_quota": 1000,
      "notify_on_hit": false
    },
    {
      "purpose_id": "vrij-doel",
      "title": "Zonder regie",
      "description": "Geen zaken.",
      "lawful_basis": {"reference": "Jeugdwet art. 7.1.4.1"},
      "valid_from": "2024-01-01",
      "may_ask": [{"org_id": "ggz-breburg", "roles": ["professional"]}],
      "may_answer_org_ids": ["gemeente-tilburg"],
      "case_required": false,
      "key_types": ["bsn"],
      "max_subjects_per_exchange": 100,
      "daily_subject_quota": 1000,
      "notify_on_hit": true
    }
  ]
})json";

inline std::unique_ptr<Directory> TestDirectory() {
  std::string orgs;
  for (const char* org :
       {"riec-zwb", "politie-zwb", "gemeente-tilburg", "ggz-breburg", "schakel-beheer", "buiten"}) {
    const crypto::SigningKey key = crypto::SigningKey::Generate();
    if (!orgs.empty()) orgs += ",";
    orgs += StrCat(R"({"org_id": ")", org, R"(", "display_name": ")", org,
                   R"(", "domain": "safety", "signing_public_key": ")",
                   crypto::ToHex(key.verify_key().bytes()), R"("})");
  }
  auto directory = Directory::Parse(StrCat(R"({"organisations": [)", orgs, "]}"), "test");
  EXPECT_TRUE(directory.ok()) << directory.status();
  return directory.ok() ? *std::move(directory) : nullptr;
}

// The test convenant with schakel-beheer as operator, in version `version`.
inline std::string OperatorPolicyText(std::string_view version = "test.1") {
  std::string text = kTestPolicy;
  text.replace(text.find("\"test.1\""), 8, StrCat("\"", version, "\""));
  const std::string supervisors = R"("supervisor_org_ids": ["schakel-beheer"],)";
  text.replace(text.find(supervisors), supervisors.size(),
               supervisors + R"( "operator_org_ids": ["schakel-beheer"],)");
  return text;
}

// An admin of the operator organisation of OperatorPolicyText.
inline v1::Requester OperatorAdmin() {
  v1::Requester r;
  r.set_org_id("schakel-beheer");
  r.set_user_id("beheerder");
  r.set_role(v1::ROLE_ADMIN);
  return r;
}

inline std::shared_ptr<const Policy> TestPolicy() {
  auto policy = ParsePolicy(kTestPolicy, "test-policy");
  EXPECT_TRUE(policy.ok()) << policy.status();
  return policy.ok() ? std::make_shared<const Policy>(*std::move(policy)) : nullptr;
}

// 2026-03-01 12:00:00 UTC, moved by the tests.
inline absl::Time TestStart() { return absl::FromUnixSeconds(1772366400); }

// Every entry of the log, in order.
inline std::vector<v1::LogEntry> AllEntries(const ExchangeLog& log) {
  auto entries = log.Read(1, 0);
  EXPECT_TRUE(entries.ok()) << entries.status();
  return entries.ok() ? *std::move(entries) : std::vector<v1::LogEntry>{};
}

inline v1::LogEntry LastEntry(const ExchangeLog& log) {
  auto entries = AllEntries(log);
  return entries.empty() ? v1::LogEntry() : entries.back();
}

// Edits entry `sequence`'s record in the store with `edit`; with
// `rehash`, also recomputes its hashes and those of every later entry, so
// the chain alone no longer shows the edit.
template <typename Edit>
void EditEntry(store::MemoryStore& store, uint64_t sequence, Edit edit, bool rehash) {
  std::vector<v1::LogEntry> entries;
  for (uint64_t s = sequence;; ++s) {
    auto value = store.Get(LogEntryKey(s));
    ASSERT_TRUE(value.ok());
    if (!value->has_value()) break;
    v1::LogEntry e;
    ASSERT_TRUE(e.ParseFromString(**value));
    entries.push_back(std::move(e));
    if (!rehash) break;
  }
  ASSERT_FALSE(entries.empty());
  edit(*entries.front().mutable_record());
  std::string previous = entries.front().previous_hash();
  for (v1::LogEntry& e : entries) {
    if (rehash) {
      auto record_hash = canonical::Digest(canonical::kLogRecordContext, e.record()).value();
      e.set_record_hash(std::string(record_hash.begin(), record_hash.end()));
      e.set_previous_hash(previous);
      auto entry_hash = canonical::EntryHash(e.sequence(), crypto::AsBytes(previous), record_hash);
      e.set_entry_hash(std::string(entry_hash.begin(), entry_hash.end()));
      previous = e.entry_hash();
    }
    store.Tamper(LogEntryKey(e.sequence()), e.SerializeAsString());
  }
}

// A record as the gateway would append it for an exchange of `org`.
inline v1::LogRecord ExchangeRecord(std::string_view org, absl::Time at,
                                    std::string_view purpose = "riec-ondermijning") {
  v1::LogRecord r;
  r.set_kind(v1::RECORD_KIND_EXCHANGE_REQUESTED);
  const int64_t ms = absl::ToUnixMillis(at);
  r.mutable_recorded_at()->set_seconds(ms / 1000);
  r.mutable_recorded_at()->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
  r.set_policy_version("test");
  r.set_purpose_id(std::string(purpose));
  r.mutable_requester()->set_org_id(std::string(org));
  r.mutable_requester()->set_role(v1::ROLE_ANALYST);
  r.add_answering_org_ids("politie-zwb");
  r.set_outcome(v1::OUTCOME_GRANTED);
  return r;
}

inline v1::Actor Actor(v1::Role role, std::string_view user = "u1") {
  v1::Actor a;
  a.set_user_id(std::string(user));
  a.set_role(role);
  return a;
}

// The ErrorDetail of a status (a default one when there is none).
inline v1::ErrorDetail DetailOf(const absl::Status& status) {
  return rpc::ErrorDetailOf(status).value_or(v1::ErrorDetail());
}

inline std::vector<std::string> ProblemFields(const absl::Status& status) {
  std::vector<std::string> out;
  const v1::ErrorDetail detail = DetailOf(status);
  for (const v1::FieldProblem& p : detail.problems()) out.push_back(p.field());
  return out;
}

}  // namespace schakel::gateway::testing

#endif  // SCHAKEL_TESTS_UNIT_GATEWAY_CASE_AUDIT_TEST_SUPPORT_H_
