// Match-key normalisation (protocol.md, "Match keys"): the variants that must
// and must not share a key, the canonical forms, and every error, which must
// name its field and never repeat the value it refuses.
#include "crypto/match_keys.h"

#include <algorithm>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace schakel::crypto {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::chrono::year_month_day kToday{std::chrono::year{2024}, std::chrono::June,
                                             std::chrono::day{15}};

// An error of the expected kind: INVALID_ARGUMENT, naming `field`, saying
// `problem`, and not repeating the refused `value`.
void ExpectInvalid(const absl::Status& status, std::string_view field, std::string_view problem,
                   std::string_view value) {
  ASSERT_FALSE(status.ok()) << "expected an error for field " << field;
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  const std::string message(status.message());
  EXPECT_THAT(message, HasSubstr(std::string(field) + ": "));
  EXPECT_THAT(message, HasSubstr(std::string(problem)));
  // Values of one or two characters ("0") can occur in any sentence; every
  // longer refused value must not appear.
  if (value.size() >= 3) {
    EXPECT_THAT(message, Not(HasSubstr(std::string(value))));
  }
}

// ---------------------------------------------------------------------------
// Names and dates: the variant table.

struct Person {
  std::string_view given_names;
  std::string_view surname;
  std::string_view birth_date;
};

struct VariantCase {
  Person a;
  Person b;
  bool share_key;
  std::string_view why;
};

std::vector<std::string> NameDobKeys(const Person& p) {
  auto keys = CanonicalNameDob(p.given_names, p.surname, p.birth_date, kToday);
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *keys : std::vector<std::string>{};
}

bool ShareKey(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  return std::any_of(a.begin(), a.end(), [&b](const std::string& k) {
    return std::find(b.begin(), b.end(), k) != b.end();
  });
}

constexpr std::string_view kDob = "1990-02-01";

const VariantCase kVariants[] = {
    // Given names: only the first initial counts.
    {{"Jan", "de Vries", kDob}, {"J.", "de Vries", kDob}, true, "full name vs initial"},
    {{"Jan Peter", "de Vries", kDob}, {"J.P.", "de Vries", kDob}, true, "two names vs initials"},
    {{"jan-peter", "De Vries", kDob}, {"J. P.", "DE VRIES", kDob}, true, "case and spacing"},
    {{"Johannes", "Bakker", kDob}, {"Jan", "Bakker", kDob}, true, "same initial, other name"},
    {{"IJsbrand", "Visser", kDob}, {"I.", "Visser", kDob}, true, "IJ initial reads as I"},
    {{"IJsbrand", "Visser", kDob}, {"IJ.", "Visser", kDob}, true, "IJ. initial"},
    {{"\xC4\xB2sbrand", "Visser", kDob}, {"IJsbrand", "Visser", kDob}, true,
     "IJ ligature U+0132"},
    {{"\xC3\x96mer", "Kaya", kDob}, {"Omer", "Kaya", kDob}, true, "O-umlaut in given name"},
    {{"\xC3\x89lise", "Martin", kDob}, {"Elise", "Martin", kDob}, true, "E-acute in given name"},
    // Tussenvoegsels before the surname, behind a comma, after it.
    {{"Jan", "van der Berg", kDob}, {"Jan", "Berg, van der", kDob}, true, "register order"},
    {{"Jan", "Van Der Berg", kDob}, {"Jan", "van der Berg", kDob}, true, "capitals"},
    {{"Jan", "van der Berg", kDob}, {"Jan", "Berg", kDob}, true, "without tussenvoegsel"},
    {{"Jan", "Berg van der", kDob}, {"Jan", "Berg, v.d.", kDob}, true, "no comma; v.d."},
    {{"Jan", "v.d. Berg", kDob}, {"Jan", "van der Berg", kDob}, true, "v.d. abbreviation"},
    {{"Jan", "V.D.Berg", kDob}, {"Jan", "van de Berg", kDob}, true, "v.d. glued to the name"},
    {{"Jan", "v/d Berg", kDob}, {"Jan", "van den Berg", kDob}, true, "v/d abbreviation"},
    {{"Jan", "vd Berg", kDob}, {"Jan", "van de Berg", kDob}, true, "vd abbreviation"},
    {{"Jan", "v. d. Berg", kDob}, {"Jan", "van der Berg", kDob}, true, "v. d. spaced"},
    {{"Jan", "van-der Berg", kDob}, {"Jan", "van der Berg", kDob}, true, "hyphen after prefix"},
    {{"Kees", "'t Hart", kDob}, {"Kees", "Hart", kDob}, true, "'t"},
    {{"Kees", "\xE2\x80\x99t Hart", kDob}, {"Kees", "'t Hart", kDob}, true,
     "typographic apostrophe"},
    {{"Kees", "t Hart", kDob}, {"Kees", "Hart, 't", kDob}, true, "'t without apostrophe"},
    {{"Anna", "in 't Veld", kDob}, {"Anna", "Veld, in 't", kDob}, true, "in 't"},
    {{"Anna", "van 't Hof", kDob}, {"Anna", "Hof", kDob}, true, "van 't"},
    {{"Anna", "van het Reve", kDob}, {"Anna", "Reve, van het", kDob}, true, "van het"},
    {{"Bram", "uit den Bogaard", kDob}, {"Bram", "Bogaard, uit den", kDob}, true, "uit den"},
    {{"Bram", "op de Beek", kDob}, {"Bram", "Beek", kDob}, true, "op de"},
    {{"Bram", "ter Horst", kDob}, {"Bram", "Horst, ter", kDob}, true, "ter"},
    {{"Bram", "ten Brink", kDob}, {"Bram", "Brink", kDob}, true, "ten"},
    {{"Bram", "te Riele", kDob}, {"Bram", "Riele", kDob}, true, "te"},
    {{"Bram", "aan de Stegge", kDob}, {"Bram", "Stegge, aan de", kDob}, true, "aan de"},
    {{"Bram", "onder de Linden", kDob}, {"Bram", "Linden", kDob}, true, "onder de"},
    {{"Bram", "bij de Vaate", kDob}, {"Bram", "Vaate", kDob}, true, "bij de"},
    {{"Rosa", "de la Cruz", kDob}, {"Rosa", "Cruz, de la", kDob}, true, "de la"},
    {{"Rosa", "du Pont", kDob}, {"Rosa", "Pont", kDob}, true, "du"},
    {{"Rosa", "le Roux", kDob}, {"Rosa", "Roux", kDob}, true, "le"},
    {{"Eva", "d'Ancona", kDob}, {"Eva", "D'Ancona", kDob}, true, "d' glued"},
    {{"Eva", "d\xC2\xB4"
             "Ancona",
      kDob},
     {"Eva", "d' Ancona", kDob},
     true,
     "acute accent typed as apostrophe"},
    {{"Eva", "d'Ancona", kDob}, {"Eva", "Ancona, d'", kDob}, true, "d' behind a comma"},
    // Diacritics and letters NFKD does not decompose.
    {{"Ali", "\xC3\x96zdemir", kDob}, {"Ali", "Ozdemir", kDob}, true, "O-umlaut"},
    {{"Ali", "\xC3\x96ZDEM\xC4\xB0R", kDob}, {"Ali", "ozdemir", kDob}, true,
     "Turkish dotted capital I"},
    {{"Karl", "M\xC3\xBCller", kDob}, {"Karl", "Muller", kDob}, true, "u-umlaut"},
    {{"Emre", "\xC3\x87"
              "elik",
      kDob},
     {"Emre", "Celik", kDob},
     true,
     "C-cedilla"},
    {{"Emre", "\xC5\x9E"
              "ahin",
      kDob},
     {"Emre", "Sahin", kDob},
     true,
     "S-cedilla"},
    {{"Ay\xC5\x9F"
      "e",
      "Y\xC4\xB1ld\xC4\xB1z", kDob},
     {"Ayse", "YILDIZ", kDob},
     true,
     "dotless i"},
    {{"Thi", "Nguy\xE1\xBB\x85n", kDob}, {"Thi", "Nguyen", kDob}, true, "Vietnamese e"},
    {{"Lars", "S\xC3\xB8rensen", kDob}, {"Lars", "Sorensen", kDob}, true, "o-stroke"},
    {{"Hans", "Stra\xC3\x9F"
              "e",
      kDob},
     {"Hans", "Strasse", kDob},
     true,
     "sharp s"},
    {{"Piotr", "\xC5\x81ukasik", kDob}, {"Piotr", "Lukasik", kDob}, true, "L-stroke"},
    {{"Ruud", "IJsselmuiden", kDob}, {"Ruud", "\xC4\xB2sselmuiden", kDob}, true, "IJ ligature"},
    {{"Ruud", "IJSSELMUIDEN", kDob}, {"Ruud", "Ijsselmuiden", kDob}, true, "IJ capitals"},
    {{"Sean", "O'Brien", kDob}, {"Sean", "OBrien", kDob}, true, "apostrophe inside a name"},
    // Double surnames: a key per part and one for the whole.
    {{"Jan", "Jansen-de Vries", kDob}, {"Jan", "Jansen", kDob}, true, "first part"},
    {{"Jan", "Jansen-de Vries", kDob}, {"Jan", "de Vries", kDob}, true, "second part"},
    {{"Jan", "Jansen - de Vries", kDob}, {"Jan", "Jansen-de Vries", kDob}, true, "spaced hyphen"},
    {{"Jan", "Jansen \xE2\x80\x93 de Vries", kDob}, {"Jan", "Jansen-de Vries", kDob}, true,
     "en dash"},
    {{"Jan", "Jansen-de Vries", kDob}, {"Jan", "Jansen de Vries", kDob}, true,
     "whole without hyphen"},
    {{"Mohamed", "El Amrani", kDob}, {"Mohamed", "El-Amrani", kDob}, true, "El with hyphen"},
    {{"Mohamed", "El Amrani", kDob}, {"Mohamed", "Elamrani", kDob}, true, "El written together"},
    {{"Lisa", "Hoogeveen-van der Berg", kDob}, {"Lisa", "Berg, van der", kDob}, true,
     "part with tussenvoegsel"},
    {{"Emre", "Bakker-\xC3\x87"
              "elik",
      kDob},
     {"Emre", "Celik", kDob},
     true,
     "part with diacritic"},
    {{"Kim", "de Jong", kDob}, {"Kim", "Jong-Boer", kDob}, true, "shares the part key only"},
    // Dates in every accepted format.
    {{"Jan", "Smit", "01-02-1990"}, {"Jan", "Smit", "1990-02-01"}, true, "DD-MM-YYYY"},
    {{"Jan", "Smit", "1-2-1990"}, {"Jan", "Smit", "1990-02-01"}, true, "D-M-YYYY"},
    {{"Jan", "Smit", "01/02/1990"}, {"Jan", "Smit", "1.2.1990"}, true, "/ and . separators"},
    {{"Jan", "Smit", "1990/2/1"}, {"Jan", "Smit", "01-02-1990"}, true, "YYYY/M/D"},
    {{"Jan", "Smit", "29-02-2000"}, {"Jan", "Smit", "2000-02-29"}, true, "leap day"},
    {{" Jan ", " Smit ", " 1990-02-01 "}, {"Jan", "Smit", kDob}, true, "surrounding spaces"},

    // ----- must not share a key -----
    {{"Jan", "de Vries", kDob}, {"Piet", "de Vries", kDob}, false, "different initials"},
    {{"Ahmet", "Kaya", kDob}, {"Mehmet", "Kaya", kDob}, false, "different initials (Turkish)"},
    {{"IJsbrand", "Visser", kDob}, {"J.", "Visser", kDob}, false, "IJ is not J"},
    {{"Jan", "de Vries", "01-02-1990"}, {"Jan", "de Vries", "02-01-1990"}, false,
     "day and month swapped"},
    {{"Jan", "Smit", "01-02-1990"}, {"Jan", "Smit", "01-02-1991"}, false, "different year"},
    {{"Jan", "Smit", "29-02-2000"}, {"Jan", "Smit", "28-02-2000"}, false, "leap day vs 28th"},
    {{"Jan", "Berg", kDob}, {"Jan", "Bergen", kDob}, false, "Berg vs Bergen"},
    {{"Jan", "van der Berg", kDob}, {"Jan", "van den Bergh", kDob}, false, "Berg vs Bergh"},
    {{"Jan", "Vanderberg", kDob}, {"Jan", "van der Berg", kDob}, false,
     "tussenvoegsel written together is part of the name"},
    {{"Jan", "Tenbrink", kDob}, {"Jan", "ten Brink", kDob}, false, "Tenbrink vs ten Brink"},
    {{"Eva", "Dancona", kDob}, {"Eva", "d'Ancona", kDob}, false, "Dancona vs d'Ancona"},
    {{"Jan", "Jansen", kDob}, {"Jan", "Janssen", kDob}, false, "Jansen vs Janssen"},
    {{"Jan", "Smit", kDob}, {"Jan", "Smits", kDob}, false, "Smit vs Smits"},
    {{"Karl", "M\xC3\xBCller", kDob}, {"Karl", "Mueller", kDob}, false,
     "ue transcription is not folded"},
    {{"Jan", "van Dijk", kDob}, {"Jan", "van Dyk", kDob}, false, "ij vs y"},
    {{"Ruud", "IJsselmuiden", kDob}, {"Ruud", "Ysselmuiden", kDob}, false, "IJ vs Y"},
    {{"Ali", "Yilmaz", kDob}, {"Ali", "Yildiz", kDob}, false, "different Turkish names"},
    {{"Mohamed", "El Amrani", kDob}, {"Mohamed", "Amrani", kDob}, false,
     "El is no tussenvoegsel"},
    {{"Anna", "Le", kDob}, {"Anna", "Lee", kDob}, false, "Le is a surname of its own"},
    {{"Kim", "de Jong", kDob}, {"Kim", "de Jongh", kDob}, false, "Jong vs Jongh"},
    {{"Kim", "Jong-Boer", kDob}, {"Kim", "de Jongh", kDob}, false, "no part matches"},
    {{"Jan", "Jansen-de Vries", kDob}, {"Jan", "Pietersen-de Wit", kDob}, false,
     "two double surnames without a common part"},
    {{"Bram", "de Groot", kDob}, {"Bram", "Grootjans", kDob}, false, "Groot vs Grootjans"},
    {{"Sanne", "Bakker", "14-07-1985"}, {"Sanne", "Bakker", "15-07-1985"}, false,
     "one day apart"},
};

TEST(MatchKeysVariantsTest, PairsShareAKeyExactlyWhenTheyShould) {
  static_assert(std::size(kVariants) >= 60, "the issue asks for at least 60 variants");
  for (const VariantCase& c : kVariants) {
    SCOPED_TRACE(std::string(c.why) + ": [" + std::string(c.a.surname) + "] vs [" +
                 std::string(c.b.surname) + "]");
    const std::vector<std::string> a = NameDobKeys(c.a);
    const std::vector<std::string> b = NameDobKeys(c.b);
    EXPECT_EQ(ShareKey(a, b), c.share_key)
        << "keys a: " << ::testing::PrintToString(a) << " keys b: " << ::testing::PrintToString(b);
  }
}

TEST(MatchKeysVariantsTest, WholeKeyOfADoubleSurnameIsNotASinglePartKey) {
  // "de Jong" and "Jong-Boer" share the part key "jong", but the whole key of
  // "Jong-Boer" belongs to "Jong-Boer" alone.
  const std::vector<std::string> jong = NameDobKeys({"Kim", "de Jong", kDob});
  const std::vector<std::string> jong_boer = NameDobKeys({"Kim", "Jong-Boer", kDob});
  ASSERT_FALSE(jong_boer.empty());
  EXPECT_EQ(jong_boer.front(), "jongboer|k|1990-02-01");
  EXPECT_THAT(jong, Not(::testing::Contains(jong_boer.front())));
}

// ---------------------------------------------------------------------------
// Canonical forms.

struct CanonicalCase {
  Person person;
  std::vector<std::string> keys;
};

TEST(MatchKeysCanonicalTest, NameDobKeysHaveTheDocumentedForm) {
  const std::vector<CanonicalCase> cases = {
      {{"Jan", "van der Berg", "01-02-1990"}, {"berg|j|1990-02-01"}},
      {{"Jan Peter", "Jansen-de Vries", "1990-02-01"},
       {"jansenvries|j|1990-02-01", "jansen|j|1990-02-01", "vries|j|1990-02-01"}},
      {{"\xC3\x96mer", "\xC3\x96zdemir", "1-2-1990"}, {"ozdemir|o|1990-02-01"}},
      {{"IJsbrand", "IJsselmuiden", "1990-02-01"}, {"ijsselmuiden|i|1990-02-01"}},
      {{"Th\xE1\xBB\x8B", "Nguy\xE1\xBB\x85n", "1990-02-01"}, {"nguyen|t|1990-02-01"}},
      {{"Anna", "L\xC3\xAA", "1990-02-01"}, {"le|a|1990-02-01"}},
      {{"Mohamed", "El-Amrani", "1990-02-01"},
       {"elamrani|m|1990-02-01", "el|m|1990-02-01", "amrani|m|1990-02-01"}},
      // 's is no tussenvoegsel; its one-letter part gets no key of its own.
      {{"Sanne", "'s-Gravesande", "1990-02-01"},
       {"sgravesande|s|1990-02-01", "gravesande|s|1990-02-01"}},
      {{"Jan", "Jansen-Jansen", "1990-02-01"},
       {"jansenjansen|j|1990-02-01", "jansen|j|1990-02-01"}},
      {{"Pjotr", "\xD0\x98\xD0\xB2\xD0\xB0\xD0\xBD\xD0\xBE\xD0\xB2", "1990-02-01"},
       {"\xD0\xB8\xD0\xB2\xD0\xB0\xD0\xBD\xD0\xBE\xD0\xB2|p|1990-02-01"}},
      {{"Rosa", "Bosch van Drakestein", "1990-02-01"}, {"boschdrakestein|r|1990-02-01"}},
      {{"Eva", "d'Ancona", "1900-01-01"}, {"ancona|e|1900-01-01"}},
      {{"Kees", "in 't Veld", "2024-06-15"}, {"veld|k|2024-06-15"}},
  };
  for (const CanonicalCase& c : cases) {
    SCOPED_TRACE(std::string(c.person.surname));
    EXPECT_EQ(NameDobKeys(c.person), c.keys);
  }
}

TEST(MatchKeysCanonicalTest, ParseSurnameReportsWhatWasStripped) {
  auto parsed = ParseSurname("Berg, van der");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->cores, ElementsAre("berg"));
  EXPECT_THAT(parsed->stripped_tussenvoegsels, ElementsAre("van der"));

  parsed = ParseSurname("v.d. Berg-in 't Veld");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->cores, ElementsAre("bergveld", "berg", "veld"));
  EXPECT_THAT(parsed->stripped_tussenvoegsels, ElementsAre("v.d. (van de/van der)", "in 't"));

  parsed = ParseSurname("Le");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_THAT(parsed->cores, ElementsAre("le"));
  EXPECT_TRUE(parsed->stripped_tussenvoegsels.empty());
}

TEST(MatchKeysCanonicalTest, FirstInitial) {
  for (std::string_view given : {"Jan", "J.", "jan peter", "J.P.", "  Jan-Peter", "(Jan)"}) {
    auto initial = FirstInitial(given);
    ASSERT_TRUE(initial.ok()) << initial.status();
    EXPECT_EQ(*initial, "j") << given;
  }
  EXPECT_EQ(FirstInitial("\xC3\x89lise").value(), "e");
  EXPECT_EQ(FirstInitial("IJsbrand").value(), "i");
}

TEST(MatchKeysCanonicalTest, BirthDates) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"1990-02-01", "1990-02-01"}, {"01-02-1990", "1990-02-01"}, {"1-2-1990", "1990-02-01"},
      {"01/02/1990", "1990-02-01"}, {"1.2.1990", "1990-02-01"},   {"1990/2/1", "1990-02-01"},
      {"29-02-2000", "2000-02-29"}, {"29-02-2024", "2024-02-29"}, {"1900-01-01", "1900-01-01"},
      {"15-06-2024", "2024-06-15"}, {" 31-12-1999 ", "1999-12-31"},
  };
  for (const auto& [input, expected] : cases) {
    auto date = CanonicalBirthDate(input, kToday);
    ASSERT_TRUE(date.ok()) << input << ": " << date.status();
    EXPECT_EQ(*date, expected);
  }
}

TEST(MatchKeysCanonicalTest, Bsn) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"111222333", "111222333"},   {"123456782", "123456782"},
      {"1234.56.782", "123456782"}, {" 123 456 782 ", "123456782"},
      {"12345611", "012345611"},    {"999999990", "999999990"},
  };
  for (const auto& [input, expected] : cases) {
    auto bsn = CanonicalBsn(input);
    ASSERT_TRUE(bsn.ok()) << bsn.status();
    EXPECT_EQ(*bsn, expected);
  }
}

TEST(MatchKeysCanonicalTest, Postcodes) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"1234 ab", "1234AB"}, {"1234AB", "1234AB"}, {" 9999zz ", "9999ZZ"}, {"1011  Ac", "1011AC"}};
  for (const auto& [input, expected] : cases) {
    auto postcode = CanonicalPostcode(input);
    ASSERT_TRUE(postcode.ok()) << postcode.status();
    EXPECT_EQ(*postcode, expected);
  }
}

TEST(MatchKeysCanonicalTest, HouseNumbers) {
  const std::vector<std::pair<std::string_view, std::string_view>> cases = {
      {"12", "12"},         {"12a", "12A"},     {"12 A", "12A"},     {"12-2", "12-2"},
      {"12/2", "12-2"},     {"12 2", "12-2"},   {"12 bis", "12BIS"}, {"12-hs", "12HS"},
      {"12 III", "12III"},  {"012", "12"},      {"99999", "99999"},  {"1", "1"},
      {"12 A 2", "12A2"},   {" 7 h ", "7H"},
  };
  for (const auto& [input, expected] : cases) {
    auto number = CanonicalHouseNumber(input);
    ASSERT_TRUE(number.ok()) << input << ": " << number.status();
    EXPECT_EQ(*number, expected);
  }
  // "12-2" (toevoeging 2) and "122" must stay apart.
  EXPECT_NE(CanonicalHouseNumber("12-2").value(), CanonicalHouseNumber("122").value());
}

// ---------------------------------------------------------------------------
// DeriveMatchKeys.

TEST(DeriveMatchKeysTest, AllKeyTypesInOrder) {
  SubjectIdentifiers subject;
  subject.bsn = "1234.56.782";
  subject.given_names = "Jan Peter";
  subject.surname = "Jansen-de Vries";
  subject.birth_date = "01-02-1990";
  subject.postcode = "1234 ab";
  subject.house_number = "12 a";
  auto keys = DeriveMatchKeys(subject, kToday);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre(MatchKey{MatchKeyType::kBsn, "123456782"},
                                 MatchKey{MatchKeyType::kNameDob, "jansenvries|j|1990-02-01"},
                                 MatchKey{MatchKeyType::kNameDob, "jansen|j|1990-02-01"},
                                 MatchKey{MatchKeyType::kNameDob, "vries|j|1990-02-01"},
                                 MatchKey{MatchKeyType::kAddress, "1234AB|12A"}));
  EXPECT_EQ((*keys)[0].OprfInput(), "schakel:v1:bsn:123456782");
  EXPECT_EQ((*keys)[1].OprfInput(), "schakel:v1:name_dob:jansenvries|j|1990-02-01");
  EXPECT_EQ((*keys)[4].OprfInput(), "schakel:v1:address:1234AB|12A");
}

TEST(DeriveMatchKeysTest, TypeNames) {
  EXPECT_EQ(MatchKeyTypeName(MatchKeyType::kBsn), "bsn");
  EXPECT_EQ(MatchKeyTypeName(MatchKeyType::kNameDob), "name_dob");
  EXPECT_EQ(MatchKeyTypeName(MatchKeyType::kAddress), "address");
}

TEST(DeriveMatchKeysTest, DuplicatePartsAreRemoved) {
  SubjectIdentifiers subject;
  subject.given_names = "Jan";
  subject.surname = "Jansen-Jansen";
  subject.birth_date = "1990-02-01";
  auto keys = DeriveMatchKeys(subject, kToday);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->size(), 2u);
}

TEST(DeriveMatchKeysTest, BlankFieldsCountAsNotGiven) {
  SubjectIdentifiers subject;
  subject.bsn = "111222333";
  subject.surname = "  ";
  subject.postcode = "";
  auto keys = DeriveMatchKeys(subject, kToday);
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_THAT(*keys, ElementsAre(MatchKey{MatchKeyType::kBsn, "111222333"}));
}

TEST(DeriveMatchKeysTest, NothingGivenIsAnError) {
  auto keys = DeriveMatchKeys(SubjectIdentifiers{}, kToday);
  ExpectInvalid(keys.status(), "no identifiers", "give a bsn", "");
}

TEST(DeriveMatchKeysTest, NameFieldsGoTogether) {
  SubjectIdentifiers subject;
  subject.surname = "de Vries";
  auto keys = DeriveMatchKeys(subject, kToday);
  ExpectInvalid(keys.status(), "name_dob", "missing given_names, birth_date", "de Vries");
}

TEST(DeriveMatchKeysTest, AddressFieldsGoTogether) {
  SubjectIdentifiers subject;
  subject.house_number = "12";
  auto keys = DeriveMatchKeys(subject, kToday);
  ExpectInvalid(keys.status(), "address", "missing postcode", "");
}

TEST(DeriveMatchKeysTest, EveryProblemIsReportedAndNoValueIsRepeated) {
  SubjectIdentifiers subject;
  subject.bsn = "123456789";
  subject.given_names = "Jan";
  subject.surname = "van der";
  subject.birth_date = "31-02-1990";
  subject.postcode = "1234 SS";
  subject.house_number = "100000";
  auto keys = DeriveMatchKeys(subject, kToday);
  ASSERT_FALSE(keys.ok());
  const std::string message(keys.status().message());
  EXPECT_EQ(keys.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("bsn: fails the elfproef"));
  EXPECT_THAT(message, HasSubstr("surname: nothing is left"));
  EXPECT_THAT(message, HasSubstr("birth_date: is not a real calendar date"));
  EXPECT_THAT(message, HasSubstr("postcode: letter pairs"));
  EXPECT_THAT(message, HasSubstr("house_number: number must be between 1 and 99999"));
  for (std::string_view value : {"123456789", "31-02-1990", "1234 SS", "1234SS", "100000"}) {
    EXPECT_THAT(message, Not(HasSubstr(std::string(value))));
  }
}

// ---------------------------------------------------------------------------
// Errors, one by one.

struct ErrorCase {
  std::string_view input;
  std::string_view problem;
};

TEST(MatchKeysErrorsTest, InvalidBsn) {
  const ErrorCase cases[] = {
      {"1234567", "must have 9 digits"},
      {"1234567890", "must have 9 digits"},
      {"", "must have 9 digits"},
      {"12345678a", "may contain only digits"},
      {"1234-56-782", "may contain only digits"},
      {"123456789", "fails the elfproef (11-check)"},
      {"111222334", "fails the elfproef (11-check)"},
      {"12345678", "fails the elfproef (11-check)"},  // padded to 012345678
      {"000000000", "all zeros"},
      {"0000.00.00", "all zeros"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.input);
    ExpectInvalid(CanonicalBsn(c.input).status(), "bsn", c.problem, c.input);
  }
}

TEST(MatchKeysErrorsTest, InvalidBirthDate) {
  const ErrorCase cases[] = {
      {"31-02-1990", "not a real calendar date"},
      {"29-02-1900", "not a real calendar date"},  // 1900 is no leap year
      {"29-02-2023", "not a real calendar date"},
      {"31-04-2020", "not a real calendar date"},
      {"1990-01-00", "not a real calendar date"},
      {"1990-13-01", "month must be 1..12"},
      {"1990-00-00", "month must be 1..12"},  // partially unknown date
      {"1899-12-31", "before 1900"},
      {"16-06-2024", "lies in the future"},  // the day after kToday
      {"2999-01-01", "lies in the future"},
      {"garbage", "not a recognised date"},
      {"01-02-90", "not a recognised date"},
      {"19900201", "not a recognised date"},
      {"01-02/1990", "not a recognised date"},
      {"1990-02-01T00:00", "not a recognised date"},
      {"1990--02-01", "not a recognised date"},
      {"", "not a recognised date"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.input);
    ExpectInvalid(CanonicalBirthDate(c.input, kToday).status(), "birth_date", c.problem, c.input);
  }
  // The overload that uses today's date.
  ExpectInvalid(CanonicalBirthDate("01-01-2999").status(), "birth_date", "lies in the future",
                "01-01-2999");
}

TEST(MatchKeysErrorsTest, InvalidPostcode) {
  const ErrorCase cases[] = {
      {"0123AB", "must not start with 0"},
      {"1234SA", "SA, SD and SS are never issued"},
      {"1234 sd", "SA, SD and SS are never issued"},
      {"1234 ss", "SA, SD and SS are never issued"},
      {"123AB", "4 digits followed by 2 letters"},
      {"12345A", "4 digits followed by 2 letters"},
      {"1234A", "4 digits followed by 2 letters"},
      {"AB1234", "4 digits followed by 2 letters"},
      {"1234-AB", "4 digits followed by 2 letters"},
      {"1234\xC3\x84" "B", "4 digits followed by 2 letters"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.input);
    ExpectInvalid(CanonicalPostcode(c.input).status(), "postcode", c.problem, c.input);
  }
}

TEST(MatchKeysErrorsTest, InvalidHouseNumber) {
  const ErrorCase cases[] = {
      {"0", "between 1 and 99999"},
      {"000", "between 1 and 99999"},
      {"100000", "between 1 and 99999"},
      {"A12", "must start with the house number"},
      {"", "must start with the house number"},
      {"12 #3", "suffix may contain only"},
      {"12 \xC3\xA4", "suffix may contain only"},
      {"12 abcdefg", "suffix is longer than 6"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.input);
    ExpectInvalid(CanonicalHouseNumber(c.input).status(), "house_number", c.problem, c.input);
  }
}

TEST(MatchKeysErrorsTest, InvalidSurname) {
  const ErrorCase cases[] = {
      {"\xFF\xFE", "not valid UTF-8"},
      {"Jans\xC3", "not valid UTF-8"},          // truncated sequence
      {"\xC0\xAF" "Berg", "not valid UTF-8"},   // overlong encoding
      {"\xED\xA0\x80" "Berg", "not valid UTF-8"},  // UTF-16 surrogate
      {"Berg\xF4\x90\x80\x80", "not valid UTF-8"},  // beyond U+10FFFF
      {"Berg\xCD\xB8", "unassigned Unicode code point"},  // U+0378
      {"de Vries 2", "contains a digit"},
      {"van der", "nothing is left after removing the tussenvoegsels"},
      {"van 't", "nothing is left after removing the tussenvoegsels"},
      {"van-der", "nothing is left after removing the tussenvoegsels"},
      {"Berg, Jan", "after a comma only tussenvoegsels"},
      {"Berg, van, der", "more than one comma"},
      {"...", "contains no letters"},
      {"Aa-Bb-Cc-Dd-Ee", "more than 4 hyphenated parts"},
      {"", "contains no letters"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c.input)));
    ExpectInvalid(ParseSurname(c.input).status(), "surname", c.problem, c.input);
  }
  const std::string too_long(201, 'a');
  ExpectInvalid(ParseSurname(too_long).status(), "surname", "longer than 200 bytes", too_long);
}

TEST(MatchKeysErrorsTest, InvalidGivenNames) {
  const ErrorCase cases[] = {
      {"\xC3\x28", "not valid UTF-8"},
      {"J\xE2\x82", "not valid UTF-8"},
      {"Jan 2", "contains a digit"},
      {"--.", "contains no letters"},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(std::string(c.input)));
    ExpectInvalid(FirstInitial(c.input).status(), "given_names", c.problem, c.input);
  }
}

TEST(MatchKeysErrorsTest, NameDobReportsEveryField) {
  auto keys = CanonicalNameDob("\xFF", "van der", "1990-13-01", kToday);
  ASSERT_FALSE(keys.ok());
  const std::string message(keys.status().message());
  EXPECT_THAT(message, HasSubstr("surname: "));
  EXPECT_THAT(message, HasSubstr("given_names: is not valid UTF-8"));
  EXPECT_THAT(message, HasSubstr("birth_date: month must be 1..12"));
  EXPECT_THAT(message, Not(HasSubstr("1990-13-01")));
}

}  // namespace
}  // namespace schakel::crypto
