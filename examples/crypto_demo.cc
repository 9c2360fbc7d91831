// An in-process demonstration of Schakel's crypto core, run by
// ./deploy/demo.sh until schakel-node and schakel-gateway exist.
//
// Four partners (politie, gemeente, zorg, riec) each hold an OPRF key and a
// few signals. Each publishes, per purpose, the tags of the signals its own
// policy makes matchable. The RIEC analyst then runs a family match under
// "riec-ondermijning": it blinds the family's match keys once, every partner
// evaluates them under the purpose with a batched proof, the analyst checks
// each proof and turns the answers into tags, and the "gateway" compares tags
// with each partner's published set. Every step prints what each party sees.
//
// All persons are invented. The program exits non-zero if any expected
// outcome does not hold, so the demo doubles as an end-to-end check.
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "crypto/match_keys.h"
#include "crypto/pseudonym.h"

using namespace schakel::crypto;

namespace {

struct Signal {
  SubjectIdentifiers subject;
  std::string category;
};

struct Partner {
  std::string id;
  std::string domain;
  oprf::PoprfServer server{oprf::PrivateKey::Generate()};
  std::vector<Signal> signals;
  // Local policy: which categories are matchable under which purpose.
  std::map<std::string, std::set<std::string>> matchable;
};

SubjectIdentifiers Person(std::string bsn, std::string given, std::string surname, std::string dob,
                          std::string postcode = "", std::string house = "") {
  SubjectIdentifiers s;
  if (!bsn.empty()) s.bsn = bsn;
  s.given_names = given;
  s.surname = surname;
  s.birth_date = dob;
  if (!postcode.empty()) {
    s.postcode = postcode;
    s.house_number = house;
  }
  return s;
}

std::string TagPrefix(const Tag& t) { return ToHex(ByteView(t.data(), 6)) + "…"; }

int failures = 0;
void Expect(bool ok, const std::string& what) {
  std::printf("  %s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++failures;
}

}  // namespace

int main() {
  const std::string purpose = "riec-ondermijning";
  const std::string other_purpose = "zvh-casusoverleg";

  std::vector<Partner> partners(3);
  partners[0].id = "politie";
  partners[0].domain = "safety";
  partners[0].signals = {
      {Person("111222333", "Kevin", "van der Berg", "1978-04-12", "3011 AB", "12"), "ondermijning"},
      {Person("", "Dennis", "Berg, van der", "03-09-2006"), "jeugdcriminaliteit"},
  };
  partners[0].matchable[purpose] = {"ondermijning", "jeugdcriminaliteit"};
  partners[0].matchable[other_purpose] = {"jeugdcriminaliteit"};

  partners[1].id = "gemeente";
  partners[1].domain = "social";
  partners[1].signals = {
      {Person("", "Fatima", "El Amrani", "1981-11-30", "3011AB", "12"), "schuldhulp"},
  };
  partners[1].matchable[purpose] = {"schuldhulp"};
  partners[1].matchable[other_purpose] = {"schuldhulp"};

  partners[2].id = "zorg";
  partners[2].domain = "care";
  partners[2].signals = {
      // The care partner keeps youth care out of the undermining purpose.
      {Person("", "D.", "v.d. Berg", "3-9-2006"), "jeugdhulp"},
  };
  partners[2].matchable[other_purpose] = {"jeugdhulp"};

  std::printf("Schakel crypto-core demonstration (in one process; the node and gateway\n"
              "programs come next). Purpose: %s\n\n", purpose.c_str());

  // 1. Index publication: each partner computes its own tags; the gateway
  //    receives only tags.
  std::printf("1. Index publication (what the gateway receives: opaque 16-byte tags)\n");
  std::map<std::string, std::set<Tag>> gateway_tags;
  std::map<std::string, std::map<Tag, std::string>> key_type_of_tag;  // partner-local knowledge
  for (auto& p : partners) {
    auto key = PurposeKey::Create(p.server, purpose).value();
    size_t published = 0;
    for (const auto& s : p.signals) {
      if (!p.matchable[purpose].count(s.category)) continue;
      const std::vector<MatchKey> keys = DeriveMatchKeys(s.subject).value();
      for (const auto& k : keys) {
        Tag t = key.TagFor(AsBytes(k.OprfInput())).value();
        gateway_tags[p.id].insert(t);
        key_type_of_tag[p.id][t] = std::string(MatchKeyTypeName(k.type));
        ++published;
      }
    }
    std::printf("   %-9s %zu signals, %zu tags published under %s\n", p.id.c_str(),
                p.signals.size(), published, purpose.c_str());
  }

  // 2. The analyst's family, as the RIEC knows it (spelled its own way).
  std::printf("\n2. RIEC analyst: family match for 3 members\n");
  const std::vector<std::pair<std::string, SubjectIdentifiers>> family = {
      {"father", Person("111222333", "K.", "Berg", "12-4-1978", "3011AB", "12")},
      {"mother", Person("", "Fatima", "el Amrani", "30-11-1981")},
      {"son", Person("", "Dennis", "van der Berg", "2006-09-03")},
  };
  std::vector<std::string> inputs;
  std::vector<std::pair<std::string, std::string>> input_owner;  // member, key type
  for (const auto& [member, subject] : family) {
    const std::vector<MatchKey> keys = DeriveMatchKeys(subject).value();
    for (const auto& k : keys) {
      std::printf("   %-7s key %-8s %s\n", member.c_str(), std::string(MatchKeyTypeName(k.type)).c_str(),
                  k.canonical.c_str());
      inputs.push_back(k.OprfInput());
      input_owner.emplace_back(member, std::string(MatchKeyTypeName(k.type)));
    }
  }
  std::vector<ByteView> views;
  for (const auto& s : inputs) views.push_back(AsBytes(s));
  auto requester = MatchRequester::Create(purpose).value();
  auto pending = requester.Blind(views).value();
  const auto blinded = pending.BlindedEncodings();
  std::vector<ByteView> blinded_views(blinded.begin(), blinded.end());
  std::printf("   blinded once: %zu elements of 32 bytes (this is all the gateway and partners "
              "get), e.g. %s…\n", blinded.size(), ToHex(ByteView(blinded[0].data(), 8)).c_str());

  // 3. Each partner evaluates under the purpose with a batched proof; the
  //    analyst verifies each proof against that partner's published key.
  std::printf("\n3. Partners evaluate (POPRF, batched DLEQ proof); the analyst verifies each proof\n");
  std::map<std::string, std::vector<Tag>> tags_for;
  for (auto& p : partners) {
    auto key = PurposeKey::Create(p.server, purpose).value();
    auto eval = key.EvaluateBlinded(blinded_views, 2).value();
    std::vector<ByteView> ev(eval.evaluated_elements.begin(), eval.evaluated_elements.end());
    auto tags = requester.Finalize(pending, p.server.public_key(), ev, eval.proof);
    Expect(tags.ok(), p.id + ": proof verifies against its published key");
    if (tags.ok()) tags_for[p.id] = *tags;
  }

  // 4. The gateway compares tags per partner: hit / no-hit per member × partner × key type.
  std::printf("\n4. Gateway: hit / no-hit per member, partner and key type\n");
  std::map<std::string, std::set<std::string>> hits;  // member -> "partner:type"
  for (auto& p : partners) {
    for (size_t i = 0; i < inputs.size(); ++i) {
      if (gateway_tags[p.id].count(tags_for[p.id][i])) {
        hits[input_owner[i].first].insert(p.id + ":" + input_owner[i].second);
        std::printf("   HIT    %-7s at %-9s by %-8s (tag %s)\n", input_owner[i].first.c_str(),
                    p.id.c_str(), input_owner[i].second.c_str(), TagPrefix(tags_for[p.id][i]).c_str());
      }
    }
  }
  std::printf("   family summary: ");
  for (const auto& [member, where] : hits) {
    std::printf("%s -> {", member.c_str());
    for (const auto& w : where) std::printf(" %s", w.c_str());
    std::printf(" }  ");
  }
  std::printf("\n\n5. Checks\n");
  Expect(hits["father"].count("politie:bsn") == 1, "father found at politie by BSN");
  Expect(hits["father"].count("politie:name_dob") == 1,
         "father found at politie by name+dob despite 'K. Berg' vs 'Kevin van der Berg'");
  Expect(hits["father"].count("gemeente:address") == 1,
         "household link: father's address is the mother's registered address at gemeente");
  Expect(hits["mother"].count("gemeente:name_dob") == 1, "mother found at gemeente ('el Amrani' = 'El Amrani')");
  Expect(hits["son"].count("politie:name_dob") == 1, "son found at politie ('Berg, van der' = 'van der Berg')");
  Expect(hits["son"].count("zorg:name_dob") == 0,
         "son NOT found at zorg: its youth-care signal is not matchable under this purpose");

  // Purpose binding: the same key under another purpose gives another tag.
  auto politie_other = PurposeKey::Create(partners[0].server, other_purpose).value();
  Expect(politie_other.TagFor(views[0]).value() != tags_for["politie"][0],
         "tags are bound to the purpose: the father's BSN tag differs under " + other_purpose);

  // A partner answering with another purpose's key is caught by the proof.
  auto eval_wrong = politie_other.EvaluateBlinded(blinded_views).value();
  std::vector<ByteView> ev_wrong(eval_wrong.evaluated_elements.begin(), eval_wrong.evaluated_elements.end());
  auto refused = requester.Finalize(pending, partners[0].server.public_key(), ev_wrong, eval_wrong.proof);
  Expect(!refused.ok(), "an answer under the wrong purpose is refused: " +
                            std::string(refused.ok() ? "accepted!" : refused.status().message()));

  // A malformed element from outside is refused with a clear error.
  std::vector<Bytes> bad = blinded;
  bad[1] = Bytes(32, 0);
  std::vector<ByteView> bad_views(bad.begin(), bad.end());
  auto bad_eval = PurposeKey::Create(partners[0].server, purpose).value().EvaluateBlinded(bad_views);
  Expect(!bad_eval.ok(), "a partner refuses the identity element: " +
                             std::string(bad_eval.ok() ? "accepted!" : bad_eval.status().message()));

  std::printf("\n%s\n", failures == 0 ? "Demonstration complete: every check held."
                                      : "Demonstration FAILED: see the checks above.");
  return failures == 0 ? 0 : 1;
}
