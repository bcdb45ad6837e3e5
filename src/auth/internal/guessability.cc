#include "auth/internal/guessability.h"

#include <zxcvbn.h>

#include <algorithm>
#include <cmath>
#include <iterator>
#include <memory>
#include <set>
#include <utility>

#include "common/utf8.h"
#include "gen/names.h"

namespace coffre::auth::internal {
namespace {

void AppendUtf8(std::string& out, char32_t c) {
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Latin-1 capitals (U+00C0..U+00DE but ×) are their small letter - 0x20.
char32_t Lower(char32_t c) {
  if (c >= 'A' && c <= 'Z') return c + 32;
  if (c >= 0xC0 && c <= 0xDE && c != 0xD7) return c + 0x20;
  if (c == 0x152) return 0x153;  // Œ
  return c;
}

// The base letters of U+00E0..U+00FF (lower case), '\0' where none.
constexpr char kLatin1Base[33] = "aaaaaa\0ceeeeiiii\0nooooo\0ouuuuy\0y";

std::string FoldOne(char32_t c) {
  c = Lower(c);
  if (c == 0xE6) return "ae";
  if (c == 0x153) return "oe";
  if (c >= 0xE0 && c <= 0xFF && kLatin1Base[c - 0xE0] != '\0') {
    return std::string(1, kLatin1Base[c - 0xE0]);
  }
  std::string out;
  AppendUtf8(out, c);
  return out;
}

std::string LowerUtf8(std::string_view text) {
  std::string out;
  if (auto cps = DecodeUtf8(text)) {
    for (char32_t c : *cps) AppendUtf8(out, Lower(c));
  }
  return out;
}

std::vector<std::string> BuildUserDictionary() {
  std::vector<std::string> out;
  std::set<std::string, std::less<>> seen;
  auto add = [&](std::string word) {
    if (word.size() < 4 || seen.contains(word)) return;
    seen.insert(word);
    out.push_back(std::move(word));
  };
  auto add_forms = [&](std::string_view word) {
    const std::string folded = FoldAccents(word);
    add(LowerUtf8(word));
    add(folded);
    if (folded.find('-') != std::string::npos) {
      std::string joined;
      for (char c : folded) {
        if (c != '-') joined += c;
      }
      add(std::move(joined));
    }
  };
  for (std::string_view word : FrenchPasswordWords()) add_forms(word);
  for (std::string_view name : gen::Names()) add_forms(name);
  return out;
}

struct FreeInfo {
  void operator()(ZxcMatch_t* info) const { ZxcvbnFreeInfo(info); }
};

unsigned WeaknessOf(int type) {
  unsigned w = 0;
  if (type & MULTIPLE_MATCH) w |= kRepeat;
  switch (type & ~MULTIPLE_MATCH) {
    case DICTIONARY_MATCH:
    case DICT_LEET_MATCH:
    case USER_MATCH:
    case USER_LEET_MATCH:
      return w | kWord;
    case SPATIAL_MATCH:
      return w | kKeyboard;
    case SEQUENCE_MATCH:
      return w | kSequence;
    case REPEATS_MATCH:
      return w | kRepeat;
    case DATE_MATCH:
      return w | kDate;
    case YEAR_MATCH:
      return w | kYear;
    default:
      return w;
  }
}

// 1900..2099 alone.
bool IsYear(std::string_view digits) {
  return digits.size() == 4 && (digits.starts_with("19") || digits.starts_with("20")) &&
         std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; });
}

double Log2(double x) { return std::log(x) / std::log(2.0); }

struct Match {
  double bits = 0;
  unsigned weaknesses = 0;
};

// `dict` is not changed; ZxcvbnMatch takes it as a non-const array.
Match Zxcvbn(const std::string& text, std::vector<const char*>& dict) {
  ZxcMatch_t* raw = nullptr;
  Match m;
  m.bits = ZxcvbnMatch(text.c_str(), dict.data(), &raw);
  const std::unique_ptr<ZxcMatch_t, FreeInfo> info(raw);
  for (const ZxcMatch_t* part = info.get(); part != nullptr; part = part->Next) {
    unsigned w = WeaknessOf(part->Type);
    // zxcvbn-c reads "2024" as a date (20/2/4); people mean a year.
    if ((w & kDate) != 0 && IsYear(std::string_view(text).substr(part->Begin, part->Length))) {
      w = (w & ~kDate) | kYear;
    }
    m.weaknesses |= w;
  }
  return m;
}

}  // namespace

namespace {

char Unshifted(char c) {
  static constexpr std::string_view kShifted = "~!@#$%^&*()_+{}|:\"<>?";
  static constexpr std::string_view kPlain = "`1234567890-=[]\\;',./";
  if (c >= 'A' && c <= 'Z') return static_cast<char>(c - 'A' + 'a');
  const size_t at = kShifted.find(c);
  return at == std::string_view::npos ? c : kPlain[at];
}

}  // namespace

std::string AzertyAsQwerty(std::string_view text) {
  // The same key on a French AZERTY keyboard and on a US QWERTY one, with
  // the same Shift state but for digits: AZERTY types them shifted, and
  // "1a2z" is as much a walk to its typist as "1q2w" to a US one.
  static constexpr std::pair<char32_t, char> kKeys[] = {
      {U'&', '1'},  {U'é', '2'}, {U'"', '3'}, {U'\'', '4'}, {U'(', '5'}, {U'-', '6'}, {U'è', '7'},
      {U'_', '8'},  {U'ç', '9'}, {U'à', '0'}, {U')', '-'},  {U'=', '='}, {U'°', '_'}, {U'+', '+'},
      {U'a', 'q'},  {U'z', 'w'}, {U'^', '['}, {U'$', ']'},  {U'q', 'a'}, {U'm', ';'}, {U'ù', '\''},
      {U'*', '\\'}, {U'w', 'z'}, {U',', 'm'}, {U';', ','},  {U':', '.'}, {U'!', '/'}, {U'A', 'Q'},
      {U'Z', 'W'},  {U'¨', '{'}, {U'£', '}'}, {U'Q', 'A'},  {U'M', ':'}, {U'%', '"'}, {U'µ', '|'},
      {U'W', 'Z'},  {U'?', 'M'}, {U'.', '<'}, {U'/', '>'},  {U'§', '?'}, {U'²', '`'},
  };
  std::string out;
  if (auto cps = DecodeUtf8(text)) {
    for (char32_t c : *cps) {
      const auto* key = std::find_if(std::begin(kKeys), std::end(kKeys),
                                     [c](const auto& k) { return k.first == c; });
      if (key != std::end(kKeys)) {
        out += key->second;
      } else {
        AppendUtf8(out, c);
      }
    }
  }
  return out;
}

std::string CollapseRepeats(std::string_view text, double* extra_bits) {
  std::string keys(text);
  for (char& c : keys) c = Unshifted(c);
  const std::string_view key = keys;
  std::string out;
  *extra_bits = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t best_unit = 0, best_count = 1;
    // The smallest part among those covering the most: "abab" x 2 is "ab" x 4.
    for (size_t unit = 2; unit <= (text.size() - i) / 2; ++unit) {
      size_t count = 1;
      while (i + (count + 1) * unit <= text.size() &&
             key.compare(i + count * unit, unit, key, i, unit) == 0) {
        ++count;
      }
      if (count >= 2 && unit * count > best_unit * best_count) {
        best_unit = unit;
        best_count = count;
      }
    }
    if (best_count >= 2) {
      const std::string_view first = text.substr(i, best_unit);
      out.append(first);
      *extra_bits += Log2(static_cast<double>(best_count));
      // One bit more when the copies differ in case or shift ("1qaz!QAZ").
      for (size_t k = 1; k < best_count; ++k) {
        if (text.substr(i + k * best_unit, best_unit) != first) {
          *extra_bits += 1;
          break;
        }
      }
      i += best_unit * best_count;
    } else {
      out += text[i++];
    }
  }
  return out;
}

std::string FoldAccents(std::string_view text) {
  std::string out;
  if (auto cps = DecodeUtf8(text)) {
    for (char32_t c : *cps) out += FoldOne(c);
  }
  return out;
}

std::vector<std::string_view> FrenchPasswordWords() {
  std::vector<std::string_view> out;
  std::string_view rest = kFrenchPasswordWordsText;
  while (!rest.empty()) {
    const size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (!line.empty() && line.front() != '#') out.push_back(line);
  }
  return out;
}

const std::vector<std::string>& UserDictionary() {
  static const std::vector<std::string> dictionary = BuildUserDictionary();
  return dictionary;
}

Guessability EstimateGuessability(std::string_view password, std::string_view user_name) {
  const std::vector<std::string>& words = UserDictionary();
  // The user's name (and its folded form) first: the cheapest guesses.
  std::string name_lower, name_folded;
  std::vector<const char*> dict;
  dict.reserve(words.size() + 3);
  if (!user_name.empty()) {
    name_lower = LowerUtf8(user_name);
    name_folded = FoldAccents(user_name);
    if (!name_lower.empty()) dict.push_back(name_lower.c_str());
    if (!name_folded.empty() && name_folded != name_lower) dict.push_back(name_folded.c_str());
  }
  for (const std::string& w : words) dict.push_back(w.c_str());
  dict.push_back(nullptr);

  Match best = Zxcvbn(std::string(password), dict);
  // zxcvbn-c finds repeated characters and a word repeated back to back,
  // not a longer repeated part ("Nicolas#Nicolas#"): as zxcvbn's reference
  // implementation does, a part repeated k times costs the part's guesses
  // times k.
  double extra_bits = 0;
  const std::string collapsed = CollapseRepeats(password, &extra_bits);
  if (collapsed.size() < password.size()) {
    Match unit = Zxcvbn(collapsed, dict);
    unit.bits += extra_bits;
    if (unit.bits < best.bits) best = {unit.bits, unit.weaknesses | kRepeat};
  }
  // zxcvbn knows the walks of QWERTY keyboards, not of AZERTY ones: the same
  // keys on a QWERTY keyboard show them ("1aqw2zsx" -> "1qaz2wsx"). Only a
  // walk found there counts: anything else would give random passwords a
  // second draw at zxcvbn's chance finds (leet-speak "r|ta" for "rita").
  const std::string qwerty = AzertyAsQwerty(password);
  if (qwerty != password) {
    const Match walked = Zxcvbn(qwerty, dict);
    if ((walked.weaknesses & kKeyboard) != 0 && walked.bits < best.bits) best = walked;
  }
  Guessability g;
  g.bits = best.bits;
  g.log10_guesses = best.bits * std::log10(2.0);
  g.weaknesses = best.weaknesses;
  return g;
}

}  // namespace coffre::auth::internal
