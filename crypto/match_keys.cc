#include "crypto/match_keys.h"

#include <utf8proc.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/strings.h"

namespace schakel::crypto {
namespace {

constexpr size_t kMaxNameBytes = 200;
constexpr size_t kMaxSurnameParts = 4;
constexpr size_t kMaxHouseNumberSuffix = 6;
constexpr int kMinBirthYear = 1900;

// ---------------------------------------------------------------------------
// Small helpers.

bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}
char AsciiUpper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IsBlank(const std::optional<std::string>& field) {
  return !field.has_value() || Trim(*field).empty();
}

std::string Join(const std::vector<std::string>& items, std::string_view separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out.append(separator);
    out.append(items[i]);
  }
  return out;
}

absl::Status Invalid(std::string_view field, std::string_view problem) {
  return absl::InvalidArgumentError(StrCat(field, ": ", problem));
}

// Appends the message of a failed status to `problems`; returns the value.
template <typename T>
std::optional<T> Collect(absl::StatusOr<T> result, std::vector<std::string>& problems) {
  if (!result.ok()) {
    problems.emplace_back(result.status().message());
    return std::nullopt;
  }
  return *std::move(result);
}

// ---------------------------------------------------------------------------
// Name normalisation: UTF-8 -> NFKD, case-folded, marks stripped, lumped;
// then a filter that keeps letters and the few punctuation marks the surname
// rules look at (' - . / ,), maps whitespace to ' ', and drops the rest.

// Characters that people and keyboards use as an apostrophe. They are mapped
// to ' before normalisation: NFKD would turn the acute accent U+00B4 into a
// space and a combining mark, which would split "d´Ancona" in two.
utf8proc_int32_t MapApostrophes(utf8proc_int32_t cp, void* /*data*/) {
  switch (cp) {
    case 0x0060:  // grave accent
    case 0x00B4:  // acute accent
    case 0x02B9:  // modifier letter prime
    case 0x02BB:  // modifier letter turned comma
    case 0x02BC:  // modifier letter apostrophe
    case 0x02BD:  // modifier letter reversed comma
    case 0x2018:  // left single quotation mark
    case 0x2019:  // right single quotation mark
    case 0x201B:  // single high-reversed-9 quotation mark
    case 0x2032:  // prime
    case 0xFF07:  // fullwidth apostrophe
      return '\'';
    default:
      return cp;
  }
}

// Letters NFKD leaves alone, with the Latin letters they are read as.
std::string_view Transliteration(utf8proc_int32_t cp) {
  switch (cp) {
    case 0x00F8: return "o";   // ø
    case 0x00E6: return "ae";  // æ
    case 0x0153: return "oe";  // œ
    case 0x0142: return "l";   // ł
    case 0x0111: return "d";   // đ
    case 0x00F0: return "d";   // ð
    case 0x00FE: return "th";  // þ
    case 0x0131: return "i";   // ı (Turkish dotless i)
    case 0x0127: return "h";   // ħ
    case 0x0167: return "t";   // ŧ
    case 0x0259: return "e";   // ə
    default: return {};
  }
}

bool IsLetterCategory(utf8proc_category_t c) {
  return c == UTF8PROC_CATEGORY_LU || c == UTF8PROC_CATEGORY_LL || c == UTF8PROC_CATEGORY_LT ||
         c == UTF8PROC_CATEGORY_LM || c == UTF8PROC_CATEGORY_LO;
}

bool IsNumberCategory(utf8proc_category_t c) {
  return c == UTF8PROC_CATEGORY_ND || c == UTF8PROC_CATEGORY_NL || c == UTF8PROC_CATEGORY_NO;
}

bool IsSeparatorCategory(utf8proc_category_t c) {
  return c == UTF8PROC_CATEGORY_ZS || c == UTF8PROC_CATEGORY_ZL || c == UTF8PROC_CATEGORY_ZP ||
         c == UTF8PROC_CATEGORY_CC;
}

struct FreeDeleter {
  void operator()(utf8proc_uint8_t* p) const { std::free(p); }
};

// The normalised name text: lower-case letters (ASCII or other scripts'
// letters in UTF-8), ' ' between words, and the marks ' - . / ,.
absl::StatusOr<std::string> NormaliseName(std::string_view text, std::string_view field) {
  if (text.size() > kMaxNameBytes) {
    return Invalid(field, StrCat("is longer than ", kMaxNameBytes, " bytes"));
  }
  utf8proc_uint8_t* mapped_raw = nullptr;
  const auto options = static_cast<utf8proc_option_t>(
      UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
      UTF8PROC_STRIPMARK | UTF8PROC_LUMP | UTF8PROC_IGNORE | UTF8PROC_REJECTNA);
  const utf8proc_ssize_t mapped_size =
      utf8proc_map_custom(reinterpret_cast<const utf8proc_uint8_t*>(text.data()),
                          static_cast<utf8proc_ssize_t>(text.size()), &mapped_raw, options,
                          &MapApostrophes, nullptr);
  std::unique_ptr<utf8proc_uint8_t, FreeDeleter> mapped(mapped_raw);
  if (mapped_size == UTF8PROC_ERROR_NOTASSIGNED) {
    return Invalid(field, "contains an unassigned Unicode code point");
  }
  if (mapped_size < 0) {
    return Invalid(field, "is not valid UTF-8");
  }

  std::string out;
  const utf8proc_uint8_t* p = mapped.get();
  utf8proc_ssize_t remaining = mapped_size;
  while (remaining > 0) {
    utf8proc_int32_t cp = 0;
    const utf8proc_ssize_t n = utf8proc_iterate(p, remaining, &cp);
    if (n <= 0) return Invalid(field, "is not valid UTF-8");
    p += n;
    remaining -= n;

    if (cp < 0x80) {
      const char c = static_cast<char>(cp);
      if (c >= 'a' && c <= 'z') {
        out.push_back(c);
      } else if (IsAsciiDigit(c)) {
        return Invalid(field,
                       "contains a digit; names hold letters, spaces, hyphens, apostrophes and "
                       "dots only");
      } else if (c == '\'' || c == '-' || c == '.' || c == '/' || c == ',') {
        out.push_back(c);
      } else if (IsSeparatorCategory(utf8proc_category(cp))) {
        out.push_back(' ');
      }
      // Other ASCII punctuation and symbols are removed.
      continue;
    }
    const utf8proc_category_t category = utf8proc_category(cp);
    if (IsLetterCategory(category)) {
      if (const std::string_view latin = Transliteration(cp); !latin.empty()) {
        out.append(latin);
      } else {
        utf8proc_uint8_t buffer[4];
        const utf8proc_ssize_t len = utf8proc_encode_char(cp, buffer);
        out.append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(len));
      }
    } else if (IsNumberCategory(category)) {
      return Invalid(field,
                     "contains a digit; names hold letters, spaces, hyphens, apostrophes and "
                     "dots only");
    } else if (IsSeparatorCategory(category)) {
      out.push_back(' ');
    }
    // Other punctuation, symbols and format characters are removed.
  }
  return out;
}

// True for a byte that starts a letter in the normalised text.
bool IsNameLetterStart(char c) {
  return (c >= 'a' && c <= 'z') || (static_cast<unsigned char>(c) >= 0x80);
}

bool HasLetter(std::string_view s) { return std::any_of(s.begin(), s.end(), IsNameLetterStart); }

std::vector<std::string> SplitWords(std::string_view s) {
  std::vector<std::string> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && s[i] == ' ') ++i;
    const size_t start = i;
    while (i < s.size() && s[i] != ' ') ++i;
    if (i > start) words.emplace_back(s.substr(start, i - start));
  }
  return words;
}

// ---------------------------------------------------------------------------
// Tussenvoegsels.

struct Tussenvoegsel {
  std::string_view written;  // as it appears after normalisation
  std::string_view shown;    // how explanations show it
};

constexpr std::array kTussenvoegsels = {
    Tussenvoegsel{"van", "van"},       Tussenvoegsel{"de", "de"},
    Tussenvoegsel{"der", "der"},       Tussenvoegsel{"den", "den"},
    Tussenvoegsel{"het", "het"},       Tussenvoegsel{"'t", "'t"},
    Tussenvoegsel{"t", "'t"},          Tussenvoegsel{"ter", "ter"},
    Tussenvoegsel{"ten", "ten"},       Tussenvoegsel{"te", "te"},
    Tussenvoegsel{"in", "in"},         Tussenvoegsel{"op", "op"},
    Tussenvoegsel{"onder", "onder"},   Tussenvoegsel{"aan", "aan"},
    Tussenvoegsel{"bij", "bij"},       Tussenvoegsel{"uit", "uit"},
    Tussenvoegsel{"la", "la"},         Tussenvoegsel{"le", "le"},
    Tussenvoegsel{"du", "du"},         Tussenvoegsel{"d'", "d'"},
    // Abbreviations.
    Tussenvoegsel{"v.d.", "v.d. (van de/van der)"},
    Tussenvoegsel{"v.d", "v.d. (van de/van der)"},
    Tussenvoegsel{"v/d", "v/d (van de/van der)"},
    Tussenvoegsel{"v/d.", "v/d (van de/van der)"},
    Tussenvoegsel{"vd", "vd (van de/van der)"},
    Tussenvoegsel{"vd.", "vd (van de/van der)"},
    Tussenvoegsel{"v.", "v. (van)"},
    Tussenvoegsel{"d.", "d. (de/der)"},
};

// Tussenvoegsels that are also complete surnames when they stand alone.
constexpr std::array<std::string_view, 4> kStandaloneSurnames = {"de", "du", "la", "le"};

const Tussenvoegsel* FindTussenvoegsel(std::string_view word) {
  for (const Tussenvoegsel& t : kTussenvoegsels) {
    if (t.written == word) return &t;
  }
  return nullptr;
}

// Splits a tussenvoegsel written against the name: "d'ancona" -> "d'",
// "ancona"; "v.d.berg" -> "v.d.", "berg".
void AppendWord(std::string word, std::vector<std::string>& out) {
  for (std::string_view prefix : {"d'", "v.d.", "v/d.", "v/d"}) {
    if (word.size() > prefix.size() && word.starts_with(prefix) &&
        HasLetter(std::string_view(word).substr(prefix.size()))) {
      out.emplace_back(prefix);
      out.push_back(word.substr(prefix.size()));
      return;
    }
  }
  if (HasLetter(word)) out.push_back(std::move(word));
}

std::vector<std::string> NameWords(std::string_view text) {
  std::vector<std::string> words;
  for (std::string& w : SplitWords(text)) AppendWord(std::move(w), words);
  return words;
}

bool AllTussenvoegsels(const std::vector<std::string>& words) {
  return std::all_of(words.begin(), words.end(),
                     [](const std::string& w) { return FindTussenvoegsel(w) != nullptr; });
}

// The letters of `word`, without apostrophes, dots, slashes. (In the
// normalised text every byte >= 0x80 belongs to a letter.)
std::string Letters(std::string_view word) {
  std::string out;
  std::copy_if(word.begin(), word.end(), std::back_inserter(out), IsNameLetterStart);
  return out;
}

size_t CodePointCount(std::string_view s) {
  return static_cast<size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// Records the runs of tussenvoegsels in `words` for explanations.
void RecordStripped(const std::vector<std::string>& words, std::vector<std::string>& stripped) {
  std::string run;
  for (const std::string& w : words) {
    const Tussenvoegsel* t = FindTussenvoegsel(w);
    if (t == nullptr) {
      if (!run.empty()) stripped.push_back(std::exchange(run, {}));
      continue;
    }
    if (!run.empty()) run.push_back(' ');
    run.append(t->shown);
  }
  if (!run.empty()) stripped.push_back(std::move(run));
}

// The core of one part of a surname; empty when only tussenvoegsels remain
// and the part is not a standalone surname.
std::string PartCore(const std::vector<std::string>& words) {
  std::string core;
  for (const std::string& w : words) {
    if (FindTussenvoegsel(w) == nullptr) core.append(Letters(w));
  }
  if (core.empty() && words.size() == 1 &&
      std::find(kStandaloneSurnames.begin(), kStandaloneSurnames.end(), words[0]) !=
          kStandaloneSurnames.end()) {
    core = words[0];
  }
  return core;
}

void AddUnique(std::vector<std::string>& list, std::string value) {
  if (std::find(list.begin(), list.end(), value) == list.end()) list.push_back(std::move(value));
}

bool IsLeapYear(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

// Parses 1..4 ASCII digits.
std::optional<int> SmallNumber(std::string_view s, size_t max_digits) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  int value = 0;
  for (char c : s) {
    if (!IsAsciiDigit(c)) return std::nullopt;
    value = value * 10 + (c - '0');
  }
  return value;
}

std::string TwoDigits(unsigned v) {
  return StrCat(static_cast<char>('0' + v / 10), static_cast<char>('0' + v % 10));
}

}  // namespace

// ---------------------------------------------------------------------------

std::string_view MatchKeyTypeName(MatchKeyType type) {
  switch (type) {
    case MatchKeyType::kBsn: return "bsn";
    case MatchKeyType::kNameDob: return "name_dob";
    case MatchKeyType::kAddress: return "address";
  }
  return "unknown";
}

std::string MatchKey::OprfInput() const {
  return StrCat("schakel:v1:", MatchKeyTypeName(type), ":", canonical);
}

absl::StatusOr<std::string> CanonicalBsn(std::string_view bsn) {
  std::string digits;
  for (char c : Trim(bsn)) {
    if (c == ' ' || c == '.') continue;
    if (!IsAsciiDigit(c)) {
      return Invalid("bsn", "may contain only digits (spaces and dots are ignored)");
    }
    digits.push_back(c);
  }
  if (digits.size() == 8) digits.insert(digits.begin(), '0');
  if (digits.size() != 9) {
    return Invalid("bsn", "must have 9 digits (8 digits are padded with a leading 0)");
  }
  if (digits == "000000000") return Invalid("bsn", "all zeros is not a valid BSN");
  int sum = 0;
  for (size_t i = 0; i < 8; ++i) sum += static_cast<int>(9 - i) * (digits[i] - '0');
  sum -= digits[8] - '0';
  if (sum % 11 != 0) return Invalid("bsn", "fails the elfproef (11-check)");
  return digits;
}

std::chrono::year_month_day UtcToday() {
  return std::chrono::year_month_day{
      std::chrono::floor<std::chrono::days>(std::chrono::system_clock::now())};
}

absl::StatusOr<std::string> CanonicalBirthDate(std::string_view date) {
  return CanonicalBirthDate(date, UtcToday());
}

absl::StatusOr<std::string> CanonicalBirthDate(std::string_view date,
                                               std::chrono::year_month_day today) {
  constexpr std::string_view kFormats =
      "use YYYY-MM-DD, DD-MM-YYYY or D-M-YYYY, with '-', '/' or '.' between the numbers";
  const std::string_view text = Trim(date);
  const size_t sep_pos = text.find_first_of("-/.");
  if (text.size() > 10 || sep_pos == std::string_view::npos) {
    return Invalid("birth_date", StrCat("is not a recognised date; ", kFormats));
  }
  const char sep = text[sep_pos];
  std::vector<std::string_view> fields;
  size_t start = 0;
  while (true) {
    const size_t next = text.find(sep, start);
    fields.push_back(text.substr(start, next - start));
    if (next == std::string_view::npos) break;
    start = next + 1;
  }
  if (fields.size() != 3) {
    return Invalid("birth_date", StrCat("is not a recognised date; ", kFormats));
  }
  std::optional<int> year, month, day;
  if (fields[0].size() == 4) {
    year = SmallNumber(fields[0], 4);
    month = SmallNumber(fields[1], 2);
    day = SmallNumber(fields[2], 2);
  } else if (fields[2].size() == 4) {
    day = SmallNumber(fields[0], 2);
    month = SmallNumber(fields[1], 2);
    year = SmallNumber(fields[2], 4);
  }
  if (!year || !month || !day) {
    return Invalid("birth_date", StrCat("is not a recognised date; ", kFormats));
  }
  if (*year < kMinBirthYear) {
    return Invalid("birth_date", StrCat("year is before ", kMinBirthYear, "; not accepted"));
  }
  if (*month < 1 || *month > 12) return Invalid("birth_date", "month must be 1..12");
  static constexpr std::array<int, 12> kDaysInMonth = {31, 28, 31, 30, 31, 30,
                                                       31, 31, 30, 31, 30, 31};
  const int days_in_month = kDaysInMonth[static_cast<size_t>(*month - 1)] +
                            ((*month == 2 && IsLeapYear(*year)) ? 1 : 0);
  if (*day < 1 || *day > days_in_month) {
    return Invalid("birth_date", "is not a real calendar date (that month has no such day)");
  }
  const std::chrono::year_month_day ymd{std::chrono::year{*year},
                                        std::chrono::month{static_cast<unsigned>(*month)},
                                        std::chrono::day{static_cast<unsigned>(*day)}};
  if (ymd > today) return Invalid("birth_date", "lies in the future");
  return StrCat(*year, "-", TwoDigits(static_cast<unsigned>(*month)), "-",
                TwoDigits(static_cast<unsigned>(*day)));
}

absl::StatusOr<ParsedSurname> ParseSurname(std::string_view surname) {
  auto normalised = NormaliseName(surname, "surname");
  if (!normalised.ok()) return normalised.status();
  const std::string& text = *normalised;
  if (!HasLetter(text)) return Invalid("surname", "contains no letters");

  ParsedSurname result;

  // "Berg, van der": what follows the comma must be tussenvoegsels.
  std::string_view head = text;
  const size_t comma = text.find(',');
  if (comma != std::string::npos) {
    const std::string_view tail = std::string_view(text).substr(comma + 1);
    if (tail.find(',') != std::string_view::npos) {
      return Invalid("surname",
                     "has more than one comma; at most one, as in 'Surname, tussenvoegsels'");
    }
    // A hyphen in the tail is no part separator; read it as a space.
    std::string tail_text(tail);
    std::replace(tail_text.begin(), tail_text.end(), '-', ' ');
    const std::vector<std::string> tail_words = NameWords(tail_text);
    if (!AllTussenvoegsels(tail_words)) {
      return Invalid("surname",
                     "after a comma only tussenvoegsels may follow (as in 'Berg, van der'); "
                     "given names belong in given_names");
    }
    RecordStripped(tail_words, result.stripped_tussenvoegsels);
    head = head.substr(0, comma);
  }

  // Parts of a double surname; parts that are only tussenvoegsels join their
  // neighbour ("van-der Berg").
  std::vector<std::vector<std::string>> raw_parts;
  size_t start = 0;
  while (true) {
    const size_t hyphen = head.find('-', start);
    std::vector<std::string> words = NameWords(head.substr(start, hyphen - start));
    if (!words.empty()) raw_parts.push_back(std::move(words));
    if (hyphen == std::string_view::npos) break;
    start = hyphen + 1;
  }
  std::vector<std::vector<std::string>> parts;
  std::vector<std::string> pending;  // tussenvoegsel-only parts waiting for a neighbour
  for (auto& words : raw_parts) {
    if (raw_parts.size() > 1 && AllTussenvoegsels(words)) {
      pending.insert(pending.end(), words.begin(), words.end());
      continue;
    }
    words.insert(words.begin(), pending.begin(), pending.end());
    pending.clear();
    parts.push_back(std::move(words));
  }
  if (!pending.empty()) {
    if (parts.empty()) {
      parts.push_back(std::move(pending));
    } else {
      parts.back().insert(parts.back().end(), pending.begin(), pending.end());
    }
  }
  if (parts.empty()) return Invalid("surname", "contains no letters");
  if (parts.size() > kMaxSurnameParts) {
    return Invalid("surname", StrCat("has more than ", kMaxSurnameParts, " hyphenated parts"));
  }

  std::vector<std::string> part_cores;
  for (const auto& words : parts) {
    std::string core = PartCore(words);
    if (core.empty()) {
      return Invalid("surname",
                     "nothing is left after removing the tussenvoegsels; give the surname "
                     "itself, not only its tussenvoegsels");
    }
    // A standalone surname such as "Le" is not a stripped tussenvoegsel.
    if (!(words.size() == 1 && core == words[0])) {
      RecordStripped(words, result.stripped_tussenvoegsels);
    }
    part_cores.push_back(std::move(core));
  }

  std::string whole;
  for (const std::string& core : part_cores) whole.append(core);
  AddUnique(result.cores, std::move(whole));
  if (part_cores.size() > 1) {
    for (std::string& core : part_cores) {
      if (CodePointCount(core) >= 2) AddUnique(result.cores, std::move(core));
    }
  }
  return result;
}

absl::StatusOr<std::string> FirstInitial(std::string_view given_names) {
  auto normalised = NormaliseName(given_names, "given_names");
  if (!normalised.ok()) return normalised.status();
  const std::string& text = *normalised;
  for (size_t i = 0; i < text.size(); ++i) {
    if (!IsNameLetterStart(text[i])) continue;
    size_t end = i + 1;
    while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) ++end;
    return text.substr(i, end - i);
  }
  return Invalid("given_names", "contains no letters");
}

absl::StatusOr<std::vector<std::string>> CanonicalNameDob(std::string_view given_names,
                                                          std::string_view surname,
                                                          std::string_view birth_date,
                                                          std::chrono::year_month_day today) {
  std::vector<std::string> problems;
  const auto parsed = Collect(ParseSurname(surname), problems);
  const auto initial = Collect(FirstInitial(given_names), problems);
  const auto date = Collect(CanonicalBirthDate(birth_date, today), problems);
  if (!problems.empty()) return absl::InvalidArgumentError(Join(problems, "; "));
  std::vector<std::string> keys;
  for (const std::string& core : parsed->cores) {
    keys.push_back(StrCat(core, "|", *initial, "|", *date));
  }
  return keys;
}

absl::StatusOr<std::string> CanonicalPostcode(std::string_view postcode) {
  std::string compact;
  for (char c : postcode) {
    if (IsAsciiSpace(c)) continue;
    compact.push_back(AsciiUpper(c));
  }
  const bool shape_ok = compact.size() == 6 &&
                        std::all_of(compact.begin(), compact.begin() + 4, IsAsciiDigit) &&
                        std::all_of(compact.begin() + 4, compact.end(), IsAsciiAlpha);
  if (!shape_ok) {
    return Invalid("postcode",
                   "must be 4 digits followed by 2 letters (a space between is allowed)");
  }
  if (compact[0] == '0') return Invalid("postcode", "must not start with 0");
  const std::string_view letters = std::string_view(compact).substr(4);
  if (letters == "SA" || letters == "SD" || letters == "SS") {
    return Invalid("postcode", "letter pairs SA, SD and SS are never issued");
  }
  return compact;
}

absl::StatusOr<std::string> CanonicalHouseNumber(std::string_view house_number) {
  const std::string_view text = Trim(house_number);
  size_t i = 0;
  while (i < text.size() && IsAsciiDigit(text[i])) ++i;
  if (i == 0) {
    return Invalid("house_number", "must start with the house number (1..99999)");
  }
  std::string_view digits = text.substr(0, i);
  while (digits.size() > 1 && digits.front() == '0') digits.remove_prefix(1);
  if (digits.size() > 5 || digits == "0") {
    return Invalid("house_number", "number must be between 1 and 99999");
  }
  std::string suffix;
  for (char c : text.substr(i)) {
    if (c == ' ' || c == '-' || c == '/' || c == '.' || IsAsciiSpace(c)) continue;
    if (!IsAsciiDigit(c) && !IsAsciiAlpha(c)) {
      return Invalid("house_number",
                     "suffix may contain only letters A-Z, digits and the separators space, "
                     "'-', '/' and '.'");
    }
    suffix.push_back(AsciiUpper(c));
  }
  if (suffix.size() > kMaxHouseNumberSuffix) {
    return Invalid("house_number",
                   StrCat("suffix is longer than ", kMaxHouseNumberSuffix, " letters and digits"));
  }
  const std::string_view joiner = (!suffix.empty() && IsAsciiDigit(suffix[0])) ? "-" : "";
  return StrCat(digits, joiner, suffix);
}

absl::StatusOr<std::string> CanonicalAddress(std::string_view postcode,
                                             std::string_view house_number) {
  std::vector<std::string> problems;
  const auto code = Collect(CanonicalPostcode(postcode), problems);
  const auto number = Collect(CanonicalHouseNumber(house_number), problems);
  if (!problems.empty()) return absl::InvalidArgumentError(Join(problems, "; "));
  return StrCat(*code, "|", *number);
}

absl::StatusOr<std::vector<MatchKey>> DeriveMatchKeys(const SubjectIdentifiers& subject) {
  return DeriveMatchKeys(subject, UtcToday());
}

absl::StatusOr<std::vector<MatchKey>> DeriveMatchKeys(const SubjectIdentifiers& subject,
                                                      std::chrono::year_month_day today) {
  std::vector<std::string> problems;
  std::vector<MatchKey> keys;
  auto add = [&keys](MatchKeyType type, std::string canonical) {
    MatchKey key{type, std::move(canonical)};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(std::move(key));
  };

  if (!IsBlank(subject.bsn)) {
    if (auto bsn = Collect(CanonicalBsn(*subject.bsn), problems)) {
      add(MatchKeyType::kBsn, *std::move(bsn));
    }
  }

  const bool has_surname = !IsBlank(subject.surname);
  const bool has_given = !IsBlank(subject.given_names);
  const bool has_date = !IsBlank(subject.birth_date);
  if (has_surname && has_given && has_date) {
    if (auto names = Collect(CanonicalNameDob(*subject.given_names, *subject.surname,
                                              *subject.birth_date, today),
                             problems)) {
      for (std::string& k : *names) add(MatchKeyType::kNameDob, std::move(k));
    }
  } else if (has_surname || has_given || has_date) {
    std::vector<std::string> missing;
    if (!has_surname) missing.emplace_back("surname");
    if (!has_given) missing.emplace_back("given_names");
    if (!has_date) missing.emplace_back("birth_date");
    problems.push_back(StrCat("name_dob: surname, given_names and birth_date go together; missing ",
                              Join(missing, ", ")));
  }

  const bool has_postcode = !IsBlank(subject.postcode);
  const bool has_number = !IsBlank(subject.house_number);
  if (has_postcode && has_number) {
    if (auto address = Collect(CanonicalAddress(*subject.postcode, *subject.house_number),
                               problems)) {
      add(MatchKeyType::kAddress, *std::move(address));
    }
  } else if (has_postcode || has_number) {
    problems.push_back(StrCat("address: postcode and house_number go together; missing ",
                              has_postcode ? "house_number" : "postcode"));
  }

  if (!problems.empty()) return absl::InvalidArgumentError(Join(problems, "; "));
  if (keys.empty()) {
    return absl::InvalidArgumentError(
        "no identifiers: give a bsn, or surname + given_names + birth_date, or postcode + "
        "house_number");
  }
  return keys;
}

}  // namespace schakel::crypto
