#include "demo/synthetic.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <string_view>

#include "common/csv_field.h"
#include "common/strings.h"

namespace schakel::demo {
namespace {

constexpr const char* kGivenNameList[] = {
    "Jan",      "Piet",      "Maria",   "Anna",     "Sanne",   "Daan",    "Sem",     "Lucas",
    "Emma",     "Julia",     "Mohammed", "Fatima",  "Noah",    "Liam",    "Tess",    "Sophie",
    "Johannes", "Cornelis",  "Hendrik", "Willem",   "Gerrit",  "Johanna", "Wilhelmina", "Aaltje",
    "Kees",     "Joost",     "Bram",    "Femke",    "Lotte",   "Eva",     "Yusuf",   "Ayşe",
    "Özlem",    "Ilse",      "Mila",    "Nora",     "Finn",    "Levi",    "Thijs",   "Ruben",
    "Jesse",    "Anouk",     "Esther",  "Marloes",  "Priya",   "Kevin",   "Dewi",    "IJsbrand",
    "Chantal",  "Jan Peter", "Anne-Marie", "Sara",  "Ahmed",   "Khadija", "Tim",     "Roos"};
constexpr const char* kSurnameList[] = {
    "Jansen",   "Bakker",     "Janssen", "Visser",   "Smit",     "Meijer",   "Mulder",  "Bos",
    "Vos",      "Peters",     "Hendriks", "Dekker",  "Brouwer",  "Dijkstra", "Smits",   "Kok",
    "Jacobs",   "Vermeulen",  "Schouten", "Willems", "Hoekstra", "Maas",     "Verhoeven", "Koster",
    "Prins",    "Blom",       "Huisman", "Peeters",  "Kuipers",  "Postma",   "Yılmaz",  "El Amrani",
    "Öztürk",   "Bouzid",     "Nguyen",  "Kaya",     "O'Brien",  "Hart",     "Veld",    "Groot",
    "Jong",     "Vries",      "Berg",    "Dijk",     "Boer",     "Wit",      "Graaf",   "Meer",
    "Linden",   "Haan",       "Heuvel",  "Veen",     "Broek",    "Bruijn",   "Heijden", "Beek",
    "Vliet",    "Ven",        "Dam",     "Wal",      "Lange",    "Wijk",     "Leeuwen", "Ancona"};
constexpr const char* kTussenvoegselList[] = {"de", "van", "van der", "van den", "van de", "'t",
                                              "in 't", "ter", "den", "de la"};
constexpr const char* kStreets[] = {
    "Kerkstraat", "Schoolstraat", "Molenweg", "Dorpsstraat", "Stationsweg", "Wilhelminastraat",
    "Julianalaan", "Beatrixstraat", "Nieuwstraat", "Lindenlaan", "Eikenlaan", "Parallelweg",
    "Ringbaan-Oost", "Piushaven", "Korvelseweg", "Bredaseweg", "Goirleseweg", "Ringbaan-West"};
constexpr const char* kCities[] = {"Tilburg", "Breda",     "Roosendaal", "Bergen op Zoom",
                                   "Goirle",  "Waalwijk",  "Oosterhout", "Etten-Leur",
                                   "Vlissingen", "Middelburg", "Terneuzen", "Dongen"};
constexpr const char* kSuffixes[] = {"A", "B", "-2", "bis", "hs", "III"};

// std::span over a constexpr array of const char*.
template <size_t N>
std::span<const char* const> Span(const char* const (&list)[N]) {
  return std::span<const char* const>(list, N);
}

struct Dice {
  std::mt19937_64 rng;
  size_t Pick(size_t n) { return static_cast<size_t>(rng() % n); }
  bool Chance(int percent) { return static_cast<int>(rng() % 100) < percent; }
  const char* From(std::span<const char* const> list) { return list[Pick(list.size())]; }
};

std::string Date(int y, int m, int d, bool iso) {
  char out[16];
  if (iso) {
    std::snprintf(out, sizeof out, "%04d-%02d-%02d", y, m, d);
  } else {
    std::snprintf(out, sizeof out, "%d-%d-%04d", d, m, y);
  }
  return out;
}

// The ASCII letters of `s`, lower case (for e-mail addresses).
std::string AsciiLower(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (std::isalpha(static_cast<unsigned char>(c)) && static_cast<unsigned char>(c) < 0x80) {
      out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    }
  }
  return out;
}

// Two neighbouring ASCII letters of the word swapped (a typing error).
std::string WithTypo(std::string word, Dice& dice) {
  std::vector<size_t> at;
  for (size_t i = 0; i + 1 < word.size(); ++i) {
    const auto a = static_cast<unsigned char>(word[i]), b = static_cast<unsigned char>(word[i + 1]);
    if (std::islower(a) && std::islower(b) && a != b) at.push_back(i);
  }
  if (at.empty()) return word;
  const size_t i = at[dice.Pick(at.size())];
  std::swap(word[i], word[i + 1]);
  return word;
}

std::string Initials(std::string_view given_names) {
  std::string out;
  bool start = true;
  for (size_t i = 0; i < given_names.size(); ++i) {
    const char c = given_names[i];
    if (c == ' ' || c == '-') {
      start = true;
      continue;
    }
    if (start) {
      // "IJsbrand" -> "IJ."; a multi-byte first letter is kept whole.
      size_t n = 1;
      if ((static_cast<unsigned char>(c) & 0xe0) == 0xc0) n = 2;
      if (given_names.substr(i, 2) == "IJ") n = 2;
      out += StrCat(given_names.substr(i, n), ".");
      start = false;
    }
  }
  return out;
}

template <size_t N>
void WriteCsvLine(const std::string (&fields)[N], std::ostream& out) {
  for (size_t i = 0; i < N; ++i) out << (i == 0 ? "" : ",") << CsvField(fields[i]);
  out << '\n';
}

constexpr const char* kSignalsHeader =
    "signal_id,bsn,given_names,surname,surname_prefix,birth_date,postcode,house_number,"
    "house_number_suffix,street,city,family_id,relation,category,registered_at,contact_name,"
    "contact_phone,contact_email,contact_unit,free_text\n";

}  // namespace

const std::span<const char* const> kGivenNames = Span(kGivenNameList);
const std::span<const char* const> kSurnames = Span(kSurnameList);
const std::span<const char* const> kTussenvoegsels = Span(kTussenvoegselList);

std::string RandomBsn(std::mt19937_64& rng, std::unordered_set<uint64_t>& used) {
  for (;;) {
    const uint64_t prefix = 10'000'000 + rng() % 90'000'000;
    uint64_t sum = 0, rest = prefix;
    for (int weight = 2; weight <= 9; ++weight, rest /= 10) {
      sum += (rest % 10) * static_cast<uint64_t>(weight);
    }
    const uint64_t check = sum % 11;
    if (check == 10) continue;
    const uint64_t bsn = prefix * 10 + check;
    if (!used.insert(bsn).second) continue;
    return StrCat(bsn);
  }
}

std::string RandomPostcode(std::mt19937_64& rng) {
  for (;;) {
    const char a = static_cast<char>('A' + rng() % 26), b = static_cast<char>('A' + rng() % 26);
    if (a == 'S' && (b == 'A' || b == 'D' || b == 'S')) continue;
    std::string pc = StrCat(1000 + rng() % 9000, rng() % 4 == 0 ? " " : "", std::string{a, b});
    if (rng() % 10 == 0) {
      for (char& c : pc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return pc;
  }
}


Population Population::Generate(uint64_t seed, size_t persons) {
  Population p;
  Dice dice{std::mt19937_64(seed)};
  std::unordered_set<uint64_t> used_bsns;
  const auto surname = [&] {
    std::string core = dice.From(kSurnames);
    if (dice.Chance(8)) core = StrCat(core, "-", dice.From(kSurnames));
    return core;
  };
  const auto given = [&] {
    std::string g = dice.From(kGivenNames);
    if (dice.Chance(20)) g = StrCat(g, " ", dice.From(kGivenNames));
    return g;
  };
  while (p.persons_.size() < persons) {
    Household h;
    std::string pc = RandomPostcode(dice.rng);
    pc.erase(std::remove(pc.begin(), pc.end(), ' '), pc.end());
    for (char& c : pc) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    h.postcode = pc;
    h.house_number = 1 + static_cast<uint32_t>(dice.Pick(dice.Chance(90) ? 200 : 2000));
    if (dice.Chance(12)) h.house_number_suffix = dice.From(Span(kSuffixes));
    h.street = dice.From(Span(kStreets));
    h.city = dice.From(Span(kCities));
    h.multi_problem = dice.Chance(15);
    const int roll = static_cast<int>(dice.Pick(100));
    const size_t size = roll < 35 ? 1 : roll < 60 ? 2 : roll < 75 ? 3 : roll < 90 ? 4 : roll < 97 ? 5 : 6;
    const bool housemates = size > 1 && dice.Chance(6);
    const size_t adults = housemates ? size : size == 1 ? 1 : (dice.Chance(75) ? 2 : 1);
    const std::string family_surname = surname();
    const std::string family_prefix = dice.Chance(30) ? dice.From(kTussenvoegsels) : "";
    int youngest_parent = 0;
    for (size_t i = 0; i < size; ++i) {
      Person m;
      m.household = p.households_.size();
      m.bsn = RandomBsn(dice.rng, used_bsns);
      m.given_names = given();
      const bool adult = i < adults;
      const bool own_name = housemates || (adult && i > 0 && dice.Chance(50));
      m.surname = own_name ? surname() : family_surname;
      m.surname_prefix = own_name ? (dice.Chance(30) ? dice.From(kTussenvoegsels) : "")
                                  : family_prefix;
      if (adult) {
        m.birth_year = 1950 + static_cast<int>(dice.Pick(50));
        youngest_parent = std::max(youngest_parent, m.birth_year);
      } else {
        m.birth_year = std::min(2024, youngest_parent + 18 + static_cast<int>(dice.Pick(20)));
      }
      m.birth_month = 1 + static_cast<int>(dice.Pick(12));
      m.birth_day = 1 + static_cast<int>(dice.Pick(28));
      if (housemates) {
        m.relation = "housemate";
      } else if (size > adults) {
        m.relation = adult ? "parent" : "child";
      } else if (size == 2) {
        m.relation = "partner";
      }
      h.members.push_back(p.persons_.size());
      p.persons_.push_back(std::move(m));
    }
    p.households_.push_back(std::move(h));
  }
  return p;
}

std::set<size_t> WriteSignalsCsv(const Population& population, const Registration& who,
                                 size_t signals, uint64_t seed, absl::Time today,
                                 std::ostream& out) {
  const uint64_t org_seed = seed ^ std::hash<std::string>{}(who.org_id);
  Dice dice{std::mt19937_64(org_seed)};
  std::vector<size_t> multi_problem;
  for (const Household& h : population.households()) {
    if (h.multi_problem) multi_problem.insert(multi_problem.end(), h.members.begin(), h.members.end());
  }
  const std::vector<Person>& persons = population.persons();
  std::set<size_t> known;
  std::vector<size_t> recent;
  out << kSignalsHeader;
  for (size_t i = 0; i < signals; ++i) {
    size_t who_index;
    if (!recent.empty() && dice.Chance(10)) {
      who_index = recent[dice.Pick(recent.size())];  // another signal about someone known
    } else if (!multi_problem.empty() && dice.Chance(who.multi_problem_percent)) {
      who_index = multi_problem[dice.Pick(multi_problem.size())];
    } else {
      who_index = dice.Pick(persons.size());
    }
    if (recent.size() < 4096) {
      recent.push_back(who_index);
    } else {
      recent[dice.Pick(recent.size())] = who_index;
    }
    known.insert(who_index);
    const Person& p = persons[who_index];
    const Household& h = population.households()[p.household];

    // How this organisation registered the person: the same every time.
    Dice style{std::mt19937_64(org_seed ^ (0x9e3779b97f4a7c15ULL * (who_index + 1)))};
    const std::string bsn = style.Chance(who.with_bsn_percent) ? p.bsn : "";
    const int given_style = static_cast<int>(style.Pick(100));
    std::string given_names = p.given_names;
    if (given_style >= 85) {
      given_names = given_names.substr(0, given_names.find(' '));
    } else if (given_style >= 70) {
      given_names = Initials(given_names);
    }
    std::string surname = style.Chance(who.typo_percent) ? WithTypo(p.surname, style) : p.surname;
    std::string surname_prefix;
    if (!p.surname_prefix.empty()) {
      const int form = static_cast<int>(style.Pick(100));
      if (form < 50) {
        surname = StrCat(p.surname_prefix, " ", surname);
      } else if (form < 85) {
        surname_prefix = p.surname_prefix;
      } else {
        surname = StrCat(surname, ", ", p.surname_prefix);
      }
    }
    const std::string birth_date = Date(p.birth_year, p.birth_month, p.birth_day, style.Chance(60));
    const bool with_address = style.Chance(who.with_address_percent);
    std::string postcode = h.postcode;
    if (style.Chance(30)) postcode = StrCat(postcode.substr(0, 4), " ", postcode.substr(4));
    if (style.Chance(10)) {
      for (char& c : postcode) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    const bool with_family = h.members.size() > 1 && style.Chance(70);

    int roll = static_cast<int>(dice.Pick(100));
    const CategoryShare* category = &who.categories.front();
    for (const CategoryShare& c : who.categories) {
      if (roll < c.percent) {
        category = &c;
        break;
      }
      roll -= c.percent;
    }
    const absl::Time registered =
        today - absl::Hours(24 * (1 + static_cast<int64_t>(dice.Pick(
                                          static_cast<size_t>(std::max(1, category->max_age_days))))));
    const std::string contact_surname = dice.From(kSurnames);
    const std::string contact_initial(1, "ABCDEFGHJKLMNPRSTW"[dice.Pick(18)]);
    char phone[32];
    std::snprintf(phone, sizeof phone, "+31 6 %08llu",
                  static_cast<unsigned long long>(dice.Pick(100'000'000)));

    const std::string fields[] = {
        StrCat(who.org_id, "-", 1'000'000 + i),
        bsn,
        given_names,
        surname,
        surname_prefix,
        birth_date,
        with_address ? postcode : "",
        with_address ? StrCat(h.house_number) : "",
        with_address ? h.house_number_suffix : "",
        with_address ? h.street : "",
        with_address ? h.city : "",
        with_family ? StrCat(who.org_id, "-hh-", p.household) : "",
        with_family ? p.relation : "",
        category->category,
        absl::FormatTime("%Y-%m-%d", registered, absl::UTCTimeZone()),
        StrCat(contact_initial, ". ", contact_surname),
        phone,
        StrCat(AsciiLower(contact_initial), ".", AsciiLower(contact_surname), "@", who.org_id,
               ".demo.example"),
        who.units.empty() ? "" : who.units[dice.Pick(who.units.size())],
        !who.free_text.empty() && dice.Chance(40) ? who.free_text[dice.Pick(who.free_text.size())]
                                                  : "",
    };
    WriteCsvLine(fields, out);
  }
  return known;
}

size_t WriteFamilySubjectsCsv(const Population& population,
                              const std::vector<std::set<size_t>>& known, size_t families,
                              std::ostream& out) {
  out << "label,bsn,given_names,surname,surname_prefix,birth_date,postcode,house_number,"
         "house_number_suffix,family_id,relation\n";
  const auto known_by = [&](const Household& h) {
    size_t partners = 0;
    for (const std::set<size_t>& k : known) {
      if (std::any_of(h.members.begin(), h.members.end(),
                      [&](size_t m) { return k.contains(m); })) {
        ++partners;
      }
    }
    return partners;
  };
  size_t written = 0;
  const auto write = [&](const Household& h) {
    ++written;
    size_t parents = 0, children = 0, others = 0;
    for (size_t m : h.members) {
      const Person& p = population.persons()[m];
      std::string label = p.relation == "parent"  ? StrCat("ouder ", ++parents)
                          : p.relation == "child" ? StrCat("kind ", ++children)
                                                  : StrCat("lid ", ++others);
      label = StrCat("gezin ", written, " ", label);
      const std::string fields[] = {
          label, p.bsn, p.given_names, p.surname, p.surname_prefix,
          Date(p.birth_year, p.birth_month, p.birth_day, true), h.postcode,
          StrCat(h.house_number), h.house_number_suffix, StrCat("gezin-", written), p.relation};
      WriteCsvLine(fields, out);
    }
  };
  for (const Household& h : population.households()) {
    if (written == families) break;
    if (!h.multi_problem || h.members.size() < 3) continue;
    const size_t partners = known_by(h);
    if (partners > 0 && partners < known.size()) write(h);
  }
  for (const Household& h : population.households()) {
    if (h.members.size() >= 2 && known_by(h) == 0) {
      write(h);
      break;
    }
  }
  return written;
}

std::vector<Registration> DemoRegistrations() {
  std::vector<Registration> out(4);
  Registration& politie = out[0];
  politie.org_id = "politie";
  politie.categories = {{"overlast", 35, 330}, {"geweld", 25, 700}, {"ondermijning", 20, 700},
                        {"jeugd-risico", 20, 330}};
  politie.units = {"Basisteam Tilburg-Noord", "Basisteam Breda", "Districtsrecherche",
                   "Team Jeugd en Zeden"};
  politie.free_text = {
      "Melding van buren over geluidsoverlast in de avonduren; contact gezocht met de bewoner.",
      "Meerdere meldingen van verdachte activiteiten rond de woning.",
      "Betrokkene aangetroffen bij een controle; geen strafbaar feit vastgesteld.",
      "Zorgmelding opgesteld na een huisbezoek door de wijkagent."};
  politie.with_bsn_percent = 70;
  politie.with_address_percent = 90;
  politie.multi_problem_percent = 40;
  politie.typo_percent = 3;

  Registration& gemeente = out[1];
  gemeente.org_id = "gemeente";
  gemeente.categories = {{"schuldhulp", 35, 330}, {"jeugdhulp", 30, 330}, {"woonfraude", 15, 700},
                         {"wmo-ondersteuning", 20, 330}};
  gemeente.units = {"Wijkteam Noord", "Wijkteam Centrum", "Schuldhulpverlening",
                    "Team Veiligheid", "Toezicht Wonen"};
  gemeente.free_text = {
      "Betalingsachterstand bij de woningcorporatie; aanmelding schuldhulp loopt.",
      "Gezin is in beeld bij het wijkteam; afspraak met ouders volgt.",
      "Vermoeden van onderhuur; controle door toezicht gepland.",
      "Aanvraag ondersteuning thuis in behandeling."};
  gemeente.with_bsn_percent = 98;
  gemeente.with_address_percent = 95;
  gemeente.multi_problem_percent = 35;
  gemeente.typo_percent = 1;

  Registration& zorg = out[2];
  zorg.org_id = "zorg";
  zorg.categories = {{"huiselijk-geweld", 35, 700}, {"kindermishandeling", 25, 700},
                     {"ggz-zorgen", 40, 330}};
  zorg.units = {"Veilig Thuis intake", "Veilig Thuis onderzoek", "Jeugd-GGZ", "Wijk-GGZ"};
  zorg.free_text = {
      "Zorgen over de thuissituatie gemeld door de school; huisbezoek gepland.",
      "Advies gegeven aan de huisarts; vervolgcontact over drie weken.",
      "Gezin aangemeld voor ambulante begeleiding.",
      "Melding na spoedeisende hulp; veiligheidsplan opgesteld."};
  zorg.with_bsn_percent = 90;
  zorg.with_address_percent = 80;
  zorg.multi_problem_percent = 45;
  zorg.typo_percent = 2;

  Registration& riec = out[3];
  riec.org_id = "riec";
  riec.categories = {{"ondermijning-casus", 70, 700}, {"bibob-advies", 30, 700}};
  riec.units = {"RIEC Zeeland-West-Brabant"};
  riec.free_text = {"Betrokken in een casus van het integrale casusoverleg.",
                    "Opgenomen in een bestuurlijke rapportage."};
  riec.with_bsn_percent = 85;
  riec.with_address_percent = 85;
  riec.multi_problem_percent = 30;
  riec.typo_percent = 1;
  return out;
}

}  // namespace schakel::demo
