// Synthetic but realistic people for the demo federation and the benchmarks:
// a seeded population of Dutch households, and each partner's own
// registration of the people it holds signals about, with the variants real
// registrations have.
//
// Nothing here is real data. Names come from short lists of common Dutch
// (and Dutch-Moroccan, Dutch-Turkish, ...) names; BSNs are random 9-digit
// numbers that pass the elfproef; postcodes are random but well-formed.
//
// The same seed always gives the same population and the same files (the
// registration dates are relative to the `today` given), so a demo run can be
// repeated and its figures compared.
//
// Variants between partners, so that matching is exercised the way it is in
// practice (crypto/match_keys.h normalises all but the last):
//   - tussenvoegsels in the surname ("van der Berg"), separate
//     (surname_prefix "van der"), or after it ("Berg, van der");
//   - given names in full, as initials ("J.P.") or only the first;
//   - dates of birth as 1990-02-01 or 1-2-1990;
//   - postcodes as "1234AB", "1234 ab";
//   - the BSN missing in some registrations (how often differs per partner);
//   - now and then a typo in the surname (two letters swapped): then only the
//     BSN or the address can still match, as in real life.
//
// Thread safety: a Population is immutable after Generate; the writers only
// read it.
#ifndef SCHAKEL_DEMO_SYNTHETIC_H_
#define SCHAKEL_DEMO_SYNTHETIC_H_

#include <cstdint>
#include <ostream>
#include <random>
#include <set>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "absl/time/time.h"

namespace schakel::demo {

// Name lists (UTF-8).
extern const std::span<const char* const> kGivenNames;
extern const std::span<const char* const> kSurnames;
extern const std::span<const char* const> kTussenvoegsels;

// A valid BSN (9 digits, elfproef) not in `used`, which it is added to: a
// random 8-digit prefix and its check digit (prefixes whose check digit
// would be 10 are drawn again).
std::string RandomBsn(std::mt19937_64& rng, std::unordered_set<uint64_t>& used);

// A Dutch postcode as people type it: "1234AB", now and then "1234 AB" or
// in lower case. Never the letter pairs SA, SD, SS.
std::string RandomPostcode(std::mt19937_64& rng);

// A person as the civil registry knows them.
struct Person {
  std::string bsn;             // 9 digits
  std::string given_names;     // "Jan Pieter"
  std::string surname_prefix;  // "van der", or ""
  std::string surname;         // "Berg"
  int birth_year = 0, birth_month = 0, birth_day = 0;
  size_t household = 0;        // index into Population::households()
  std::string relation;        // in the household: "parent", "child", "partner", "housemate"
};

struct Household {
  std::string postcode;  // "1234AB"
  uint32_t house_number = 0;
  std::string house_number_suffix;
  std::string street, city;
  std::vector<size_t> members;  // indexes into Population::persons()
  // Households in several kinds of trouble at once, which partners in
  // safety, care and social work tend to know about together.
  bool multi_problem = false;
};

class Population {
 public:
  // About `persons` people (whole households) from `seed`.
  static Population Generate(uint64_t seed, size_t persons);

  const std::vector<Person>& persons() const { return persons_; }
  const std::vector<Household>& households() const { return households_; }

 private:
  std::vector<Person> persons_;
  std::vector<Household> households_;
};

// One category of an organisation's signals and its share of them.
struct CategoryShare {
  std::string category;
  int percent = 0;
  int max_age_days = 300;  // registered at most this long before `today`
};

// How one organisation registers people.
struct Registration {
  std::string org_id;                     // also the signal id prefix and e-mail domain
  std::vector<CategoryShare> categories;  // percents add up to 100
  std::vector<std::string> units;         // its teams, for contact_unit
  std::vector<std::string> free_text;     // lines of free text (no identifiers)
  int with_bsn_percent = 90;              // registrations that carry the BSN
  int with_address_percent = 85;          // registrations that carry the address
  int multi_problem_percent = 35;         // signals about multi-problem households
  int typo_percent = 2;                   // surnames with two letters swapped
};

// The registrations of the demo federation's partners (politie, gemeente,
// zorg, riec); their categories are those of deploy/demo/<org>/local-policy.json.
std::vector<Registration> DemoRegistrations();

// Writes `signals` signals of `who` about people of `population` as a CSV
// import file (docs/cli.md, "Import files"), header included. Returns the
// persons (indexes) the file holds signals about.
std::set<size_t> WriteSignalsCsv(const Population& population, const Registration& who,
                                 size_t signals, uint64_t seed, absl::Time today,
                                 std::ostream& out);

// Writes a `schakel match --subjects` file (docs/cli.md, "Matching") with the
// members of up to `families` multi-problem households of three or more that
// some but not all of `known` (one set per partner, from WriteSignalsCsv)
// hold signals about, plus one household no partner knows. Family ids are
// "gezin-1", ...; labels say the member's place ("ouder 1", "kind 2").
// Returns how many families it wrote.
size_t WriteFamilySubjectsCsv(const Population& population,
                              const std::vector<std::set<size_t>>& known, size_t families,
                              std::ostream& out);

}  // namespace schakel::demo

#endif  // SCHAKEL_DEMO_SYNTHETIC_H_
