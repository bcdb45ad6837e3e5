#include "auth/password_policy.h"

#include <pwquality.h>

#include <array>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "auth/internal/guessability.h"
#include "common/utf8.h"

namespace coffre::auth {
namespace {

constexpr size_t kMinLengthFourClasses = 12;
constexpr size_t kMinLengthThreeClasses = 14;
constexpr size_t kMinPassphraseWords = 5;
constexpr size_t kMinPassphraseLength = 20;

bool IsSeparator(char32_t c) { return c == ' ' || c == '-' || c == '_'; }

size_t CountWords(const std::vector<char32_t>& cps) {
  size_t words = 0;
  bool in_word = false;
  for (char32_t c : cps) {
    if (IsSeparator(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++words;
    }
  }
  return words;
}

int CountClasses(const std::vector<char32_t>& cps) {
  bool lower = false, upper = false, digit = false, special = false;
  for (char32_t c : cps) {
    if (c >= 'a' && c <= 'z') {
      lower = true;
    } else if (c >= 'A' && c <= 'Z') {
      upper = true;
    } else if (c >= '0' && c <= '9') {
      digit = true;
    } else {
      special = true;
    }
  }
  return int{lower} + int{upper} + int{digit} + int{special};
}

tl::unexpected<Error> Refuse(std::string_view rule, std::string_view why) {
  std::string message = "password refused (rule ";
  message.append(rule);
  message.append("): ");
  message.append(why);
  return Fail(ErrorCode::kInvalidArgument, std::move(message));
}

struct SettingsFree {
  void operator()(pwquality_settings_t* s) const { pwquality_free_settings(s); }
};

// Settings for pwquality_check: its defaults, and the same without cracklib
// for passphrases (`with_cracklib` false).
pwquality_settings_t* Settings(bool with_cracklib) {
  static const std::unique_ptr<pwquality_settings_t, SettingsFree> defaults(
      pwquality_default_settings());
  static const std::unique_ptr<pwquality_settings_t, SettingsFree> no_cracklib = [] {
    std::unique_ptr<pwquality_settings_t, SettingsFree> s(pwquality_default_settings());
    if (s && pwquality_set_int_value(s.get(), PWQ_SETTING_DICT_CHECK, 0) != 0) s.reset();
    return s;
  }();
  return with_cracklib ? defaults.get() : no_cracklib.get();
}

Status DictionaryCheck(const std::string& password, std::string_view user_name,
                       bool with_cracklib) {
  static std::mutex mu;
  const std::string user(user_name);
  std::lock_guard lock(mu);
  pwquality_settings_t* settings = Settings(with_cracklib);
  if (settings == nullptr)
    return Fail(ErrorCode::kInternal, "password dictionary check: out of memory");
  void* aux = nullptr;
  const int rc = pwquality_check(settings, password.c_str(), nullptr,
                                 user.empty() ? nullptr : user.c_str(), &aux);
  if (rc >= 0) return Ok();
  // cracklib's messages are fixed texts; none repeats the password.
  if (rc == PWQ_ERROR_CRACKLIB_CHECK && aux != nullptr &&
      std::string_view(static_cast<const char*>(aux)).find("error loading dictionary") !=
          std::string_view::npos) {
    return Fail(ErrorCode::kFailedPrecondition,
                "password dictionary check unavailable: cracklib dictionary missing "
                "(install cracklib-runtime)");
  }
  std::array<char, 256> buf{};
  const char* why = pwquality_strerror(buf.data(), buf.size(), rc, aux);
  return Refuse("dictionary", why != nullptr ? why : "refused by libpwquality");
}

// "it is made of a word or name, a year": what zxcvbn found, never the
// password nor a part of it.
std::string DescribeWeaknesses(unsigned w) {
  static constexpr std::pair<unsigned, std::string_view> kKinds[] = {
      {internal::kWord, "a common word or name"},
      {internal::kKeyboard, "a keyboard walk"},
      {internal::kSequence, "a sequence (abcd, 1234)"},
      {internal::kRepeat, "a repeated pattern"},
      {internal::kDate, "a date"},
      {internal::kYear, "a year"},
  };
  std::string out;
  for (const auto& [bit, text] : kKinds) {
    if ((w & bit) == 0) continue;
    out.append(out.empty() ? "it is built on " : ", ");
    out.append(text);
  }
  if (out.empty()) out = "it is made of predictable parts";
  return out;
}

Status GuessabilityCheck(std::string_view password, std::string_view user_name) {
  const internal::Guessability g = internal::EstimateGuessability(password, user_name);
  if (g.log10_guesses >= kMinGuessesLog10) return Ok();
  static const std::string kFirstGuesses = "a password cracker would find it among its first 10^" +
                                           std::to_string(static_cast<int>(kMinGuessesLog10)) +
                                           " guesses: ";
  return Refuse("guessable",
                kFirstGuesses + DescribeWeaknesses(g.weaknesses) +
                    ". Avoid words, names, dates, years, keyboard walks and repeats, even with "
                    "capitals, digits or symbols added; use 12 or more random characters (a "
                    "password manager's generator) or a passphrase of 5 or more random words");
}

}  // namespace

double EstimateGuessesLog10(std::string_view password, std::string_view user_name) {
  return internal::EstimateGuessability(password, user_name).log10_guesses;
}

Status CheckPassword(std::string_view password, const PasswordContext& context) {
  if (password.size() > kMaxPasswordBytes) {
    return Refuse("max-length", "at most 1024 bytes");
  }
  auto cps = DecodeUtf8(password);
  if (!cps) return Refuse("encoding", "must be valid UTF-8");
  for (char32_t c : *cps) {
    if (c == 0 || IsControl(c)) {
      return Refuse("encoding", "must not contain control characters");
    }
  }
  const size_t length = cps->size();
  const int classes = CountClasses(*cps);
  const bool passphrase = length >= kMinPassphraseLength && CountWords(*cps) >= kMinPassphraseWords;
  const bool strong = (length >= kMinLengthFourClasses && classes >= 4) ||
                      (length >= kMinLengthThreeClasses && classes >= 3) || passphrase;
  if (!strong) {
    return Refuse("cnil-2022-100",
                  "needs at least 12 characters from 4 classes (lower case, upper case, digit, "
                  "special), or 14 from 3 classes, or a passphrase of at least 5 words and 20 "
                  "characters");
  }
  if (context.dictionary_check) {
    // A passphrase is dictionary words by design, and cracklib's rule
    // against neighbouring letters ("ab", "de") refused 1 in 100 random
    // 5-word passphrases: zxcvbn, which counts words, judges them alone.
    COFFRE_TRY(DictionaryCheck(std::string(password), context.user_name,
                               /*with_cracklib=*/!passphrase));
    COFFRE_TRY(GuessabilityCheck(password, context.user_name));
  }
  return Ok();
}

}  // namespace coffre::auth
