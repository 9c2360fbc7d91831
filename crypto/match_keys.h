// Match keys: the canonical strings a subject's identifiers become before
// they are pseudonymised (protocol.md, "Match keys").
//
// A subject yields one or more typed keys; each is matched on its own, and a
// match result says which key types hit. Two records match on a key type
// exactly when their canonical strings are equal, so everything that should
// not matter (spacing, case, diacritics, tussenvoegsels, date format) is
// normalised away here, and nothing else.
//
//   type       canonical value                      example
//   bsn        9 digits, passes the elfproef         111222333
//   name_dob   <surname core>|<initial>|<YYYY-MM-DD> berg|j|1990-02-01
//   address    <postcode>|<house number><suffix>     1234AB|12A
//
// The OPRF input of a key is the bytes "schakel:v1:<type>:<canonical>".
//
// Names (surname and given names) are normalised as follows: the text must be
// valid UTF-8; it is mapped to Unicode NFKD, case-folded, and stripped of
// combining marks (diacritics), so "Özdemir", "ÖZDEMIR" and "Ozdemir" agree;
// typographic apostrophes and dashes become ASCII ' and -; a few letters that
// NFKD does not decompose are transliterated (ø→o, æ→ae, œ→oe, ł→l, đ/ð→d,
// þ→th, ı→i, ħ→h, ŧ→t, ə→e); other punctuation and symbols are removed.
// Digits are refused (a date or number in a name field is a data error).
// Letters of other scripts are kept as they are.
//
// Errors never contain the value that was given: a message names the field,
// the problem and what is allowed, because error messages end up in logs.
//
// Ownership and thread safety: plain values and pure functions; every
// function is reentrant and safe to call from several threads at once.
#ifndef SCHAKEL_CRYPTO_MATCH_KEYS_H_
#define SCHAKEL_CRYPTO_MATCH_KEYS_H_

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace schakel::crypto {

enum class MatchKeyType { kBsn, kNameDob, kAddress };

// "bsn", "name_dob" or "address": the name used in OPRF inputs, on the wire
// and in the CLI.
std::string_view MatchKeyTypeName(MatchKeyType type);

struct MatchKey {
  MatchKeyType type;
  std::string canonical;

  // "schakel:v1:<type>:<canonical>", the bytes that are blinded.
  std::string OprfInput() const;

  friend bool operator==(const MatchKey&, const MatchKey&) = default;
};

// A subject's identifiers as the user or an import gave them. A field that is
// absent, empty or only whitespace counts as not given.
struct SubjectIdentifiers {
  std::optional<std::string> bsn;
  std::optional<std::string> given_names;
  std::optional<std::string> surname;
  std::optional<std::string> birth_date;
  std::optional<std::string> postcode;
  std::optional<std::string> house_number;
};

// The keys of a subject, in this order: bsn; name_dob for each surname core
// (see ParseSurname); address. Duplicates are removed, keeping the first.
// Every given field is validated: a given field that is invalid is an error,
// it is never silently dropped. surname, given_names and birth_date go
// together, as do postcode and house_number.
//
// Errors: INVALID_ARGUMENT listing every problem found ("; "-separated), each
// naming its field; INVALID_ARGUMENT "no identifiers" when no key can be
// formed because nothing was given. `today` is the date against which "not
// in the future" is checked; the overload without it uses the UTC date.
absl::StatusOr<std::vector<MatchKey>> DeriveMatchKeys(const SubjectIdentifiers& subject);
absl::StatusOr<std::vector<MatchKey>> DeriveMatchKeys(const SubjectIdentifiers& subject,
                                                      std::chrono::year_month_day today);

// BSN: digits, with spaces and dots allowed and ignored ("1234.56.782");
// 8 digits are left-padded with 0. Returns 9 digits.
// Errors (INVALID_ARGUMENT, field "bsn"): a character other than a digit,
// space or dot; not 8 or 9 digits; all zeros; fails the elfproef
// 9a+8b+7c+6d+5e+4f+3g+2h-1i ≡ 0 (mod 11).
absl::StatusOr<std::string> CanonicalBsn(std::string_view bsn);

// Date of birth: YYYY-MM-DD, DD-MM-YYYY or D-M-YYYY (month and day may have
// one or two digits in both orders), with '-', '/' or '.' as the separator
// (the same one twice); surrounding whitespace is ignored. Returns
// YYYY-MM-DD. Errors (INVALID_ARGUMENT, field "birth_date"): another format;
// month not 1..12; a day the month does not have (leap years count); a year
// before 1900; a date after `today`. A partially unknown date (month or day
// 00, as registers write them) is refused: it yields no name_dob key.
absl::StatusOr<std::string> CanonicalBirthDate(std::string_view date,
                                               std::chrono::year_month_day today);
absl::StatusOr<std::string> CanonicalBirthDate(std::string_view date);

// The UTC calendar date now.
std::chrono::year_month_day UtcToday();

// A surname, split into the cores that become name_dob keys.
struct ParsedSurname {
  // Whole first (for a double surname), then each part in written order;
  // no duplicates. Never empty.
  std::vector<std::string> cores;
  // The tussenvoegsels removed, normalised, one entry per place they stood
  // ("van der", "'t", "v.d. (van de/van der)"). For explanations only.
  std::vector<std::string> stripped_tussenvoegsels;
};

// Surname rules, after the name normalisation described at the top:
// - Tussenvoegsels are the words van, de, der, den, het, 't, t, ter, ten,
//   te, in, op, onder, aan, bij, uit, la, le, du and d', alone or combined
//   ("van der", "van den", "in 't", "op de", "uit den", "de la" ...); "d'"
//   may be written against the name ("d'Ancona"). The abbreviations "v.d.",
//   "v.d", "v/d" and "vd" stand for "van de"/"van der", "v." for "van" and
//   "d." for "de"/"der". All of them are removed wherever they stand in the
//   surname: before it ("van der Berg"), behind a comma as registers write
//   it ("Berg, van der"), or after it without one ("Berg van der").
// - The words left are joined without spaces and punctuation: the core
//   ("El Amrani" gives "elamrani", "O'Brien" gives "obrien").
// - A hyphen separates the parts of a double surname ("Jansen-de Vries",
//   "Jansen - de Vries"); each part is reduced to its core as above. The
//   whole is the parts' cores joined without separator ("jansenvries"), the
//   same core a hyphenless spelling gives ("Jansen de Vries", and "El-Amrani"
//   = "El Amrani" = "Elamrani"). Keys: the whole, then every part whose core
//   has at least two letters (a one-letter part is too weak to stand alone).
//   A part that is only tussenvoegsels ("van-der Berg") joins its neighbour.
// - A surname that is one single word from {de, du, la, le} is kept as its
//   own core: they are real surnames ("Le", from Vietnamese "Lê"; "Du").
//
// Errors (INVALID_ARGUMENT, field "surname"): invalid UTF-8 or unassigned
// code points; a digit; longer than 200 bytes; no letters; nothing left
// after removing tussenvoegsels ("van der"); anything but tussenvoegsels
// after a comma; more than one comma; more than 4 parts.
absl::StatusOr<ParsedSurname> ParseSurname(std::string_view surname);

// The first initial of the given names: the first letter of the first given
// name after normalisation. "Jan Peter", "J.P.", "j." and "Jan-Peter" all give
// "j"; the Dutch digraph IJ gives "i" ("IJsbrand", "IJ.", "I." all agree).
// Errors (INVALID_ARGUMENT, field "given_names"): as for surnames (UTF-8,
// digits, length), or no letter at all.
absl::StatusOr<std::string> FirstInitial(std::string_view given_names);

// "<surname core>|<initial>|<YYYY-MM-DD>" for every surname core, in the
// order of ParsedSurname::cores. Errors: those of ParseSurname, FirstInitial
// and CanonicalBirthDate, all of them, "; "-separated.
absl::StatusOr<std::vector<std::string>> CanonicalNameDob(std::string_view given_names,
                                                          std::string_view surname,
                                                          std::string_view birth_date,
                                                          std::chrono::year_month_day today);

// Postcode: 4 digits, the first not 0, then 2 letters, with or without
// spaces, either case. Returns "1234AB". Errors (INVALID_ARGUMENT, field
// "postcode"): another shape; the letter pairs SA, SD and SS (never issued).
absl::StatusOr<std::string> CanonicalPostcode(std::string_view postcode);

// House number 1..99999 with an optional suffix (huisletter and/or
// toevoeging): "12", "12a", "12 A", "12-2", "12 bis", "12-hs", "12 III".
// Canonical form: the number without leading zeros, then the suffix in
// upper case with its separators (space, '-', '/', '.') removed: "12A",
// "12BIS", "12HS", "12III". When the suffix starts with a digit a '-' stays
// between number and suffix ("12-2"), so that it cannot read as house number
// 122. Errors (INVALID_ARGUMENT, field "house_number"): no leading number;
// number outside 1..99999; a suffix character other than A-Z, a-z, 0-9 or a
// separator; a suffix longer than 6 characters.
absl::StatusOr<std::string> CanonicalHouseNumber(std::string_view house_number);

// "<postcode>|<house number><suffix>", as the two functions above give them.
// Errors: both functions' errors, "; "-separated.
absl::StatusOr<std::string> CanonicalAddress(std::string_view postcode,
                                             std::string_view house_number);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_MATCH_KEYS_H_
