#include "gen/people_gen.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <span>
#include <vector>

#include "gen/internal/french_data.h"
#include "gen/internal/text.h"

namespace coffre::gen {
namespace {

using internal::AppendDecimal;
using internal::AppendEmailFolded;
using internal::AppendJsonEscaped;

uint64_t SplitMix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

constexpr uint64_t RotL(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Proleptic Gregorian day numbers (days since 1970-01-01), after Howard
// Hinnant's "chrono-compatible low-level date algorithms": exact for every
// date, no table, no dependence on the C library's time zone or locale.
constexpr int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

struct CivilDate {
  int year;
  unsigned month;
  unsigned day;
};

constexpr CivilDate CivilFromDays(int64_t z) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<int>(y + (m <= 2)), m, d};
}

// Ages 18..95 on the fixed reference day 2026-01-01: the youngest was born on
// 2008-01-01 (18 that very day), the oldest on 1930-01-02 (96 the day after).
constexpr int64_t kFirstBirthDay = DaysFromCivil(1930, 1, 2);
constexpr int64_t kLastBirthDay = DaysFromCivil(2008, 1, 1);
static_assert(CivilFromDays(kLastBirthDay).year == 2008);

// Overseas departments use a 3-digit department and a 2-digit commune in the
// NIR; `communes` is how many INSEE commune numbers each has.
struct Overseas {
  uint32_t department;
  uint32_t communes;
  uint32_t weight;
};
constexpr Overseas kOverseas[] = {
    {971, 32, 30}, {972, 34, 30}, {973, 22, 10}, {974, 24, 35}, {975, 2, 1}, {976, 17, 8},
};

// ARCEP reserves these blocks for films, books and examples: 0X YY ZZ xx xx
// never rings anyone. Mobiles dominate, as in real contact lists.
struct PhoneBlock {
  std::string_view first_six_digits;
  uint32_t weight;
};
constexpr PhoneBlock kFictionPhoneBlocks[] = {
    {"063998", 64}, {"019900", 8}, {"026191", 7}, {"035301", 7}, {"046571", 7}, {"053649", 7},
};

// Only reserved names (RFC 2606 / RFC 6761) so no mail is ever delivered.
struct EmailDomain {
  std::string_view name;
  uint32_t weight;
};
constexpr EmailDomain kEmailDomains[] = {
    {"example.fr", 40},  {"example.com", 25},  {"mail.example.net", 15},
    {"example.org", 10}, {"exemple.test", 10},
};

struct StreetType {
  std::string_view name;
  uint32_t weight;
};
constexpr StreetType kStreetTypes[] = {
    {"rue", 50},  {"avenue", 15}, {"boulevard", 8}, {"impasse", 7},
    {"allée", 7}, {"chemin", 6},  {"place", 5},     {"quai", 2},
};

template <typename T>
constexpr uint32_t TotalWeight(std::span<const T> items) {
  uint32_t total = 0;
  for (const T& item : items) total += item.weight;
  return total;
}

// Maps a ticket in [0, TotalWeight) to its item; tables are short, so a scan
// beats any index.
template <typename T>
const T& ByTicket(std::span<const T> items, uint64_t ticket) {
  for (const T& item : items) {
    if (ticket < item.weight) return item;
    ticket -= item.weight;
  }
  assert(false && "ticket out of range");
  return items.back();
}

// Cities are ~80 with weights up to 40: a lookup table (built once) turns the
// weighted pick into one index instead of a scan on every person.
const std::vector<uint8_t>& CityByTicket() {
  static const std::vector<uint8_t> table = [] {
    std::vector<uint8_t> t;
    const auto cities = internal::Cities();
    assert(cities.size() <= 256);
    for (size_t i = 0; i < cities.size(); ++i)
      t.insert(t.end(), cities[i].weight, static_cast<uint8_t>(i));
    return t;
  }();
  return table;
}

void AppendPairs(std::string& out, const char* digits, size_t count, char separator) {
  for (size_t i = 0; i < count; i += 2) {
    if (i != 0) out.push_back(separator);
    out.append(digits + i, 2);
  }
}

// Writes exactly `width` digits of `value` (zero-padded) at `dst`.
void WriteDigits(char* dst, uint64_t value, int width) {
  for (int i = width - 1; i >= 0; --i, value /= 10) dst[i] = static_cast<char>('0' + value % 10);
}

}  // namespace

PeopleGenerator::PeopleGenerator(uint64_t seed) {
  uint64_t x = seed;
  for (uint64_t& word : state_) word = SplitMix64(x);
}

// xoshiro256** 1.0 (Blackman and Vigna).
uint64_t PeopleGenerator::Rand() {
  const uint64_t result = RotL(state_[1] * 5, 7) * 9;
  const uint64_t t = state_[1] << 17;
  state_[2] ^= state_[0];
  state_[3] ^= state_[1];
  state_[1] ^= state_[2];
  state_[0] ^= state_[3];
  state_[2] ^= t;
  state_[3] = RotL(state_[3], 45);
  return result;
}

// Lemire's multiply-and-reject: unbiased, and the division only runs in the
// rare case the low half lands in the biased zone.
uint64_t PeopleGenerator::Below(uint64_t n) {
  assert(n > 0);
  __extension__ typedef unsigned __int128 U128;  // GCC and Clang both have it
  U128 m = static_cast<U128>(Rand()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = (0 - n) % n;
    while (low < threshold) {
      m = static_cast<U128>(Rand()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

void PeopleGenerator::Next(Person& out) {
  ++count_;
  const bool female = Below(1000) < 515;  // France has slightly more women than men
  const auto first_names = female ? internal::FemaleFirstNames() : internal::MaleFirstNames();
  const std::string_view first = first_names[Below(first_names.size())];
  const auto last_names = internal::LastNames();
  const std::string_view last = last_names[Below(last_names.size())];
  out.first_name.assign(first);
  out.last_name.assign(last);
  out.sex.assign(female ? "F" : "M");

  const CivilDate birth = CivilFromDays(
      kFirstBirthDay +
      static_cast<int64_t>(Below(static_cast<uint64_t>(kLastBirthDay - kFirstBirthDay + 1))));
  char date[10] = {0, 0, 0, 0, '-', 0, 0, '-', 0, 0};
  WriteDigits(date, static_cast<uint64_t>(birth.year), 4);
  WriteDigits(date + 5, birth.month, 2);
  WriteDigits(date + 8, birth.day, 2);
  out.birth_date.assign(date, sizeof date);

  BuildNir(out.nir, female, birth.year, static_cast<int>(birth.month));
  BuildEmail(out.email, first, last);
  BuildPhone(out.phone);
  BuildPostalAddress(out.postal_address);
  BuildIban(out.iban);
  // Drawn last, so the first person of a seed kept its other fields when
  // agencies were added.
  char agency[4] = {'A', 0, 0, 0};
  WriteDigits(agency + 1, 1 + Below(kAgencyCount), 3);
  out.agency.assign(agency, sizeof agency);
}

// NIR: sex, yy, mm, place of birth (5 characters), order number, key.
void PeopleGenerator::BuildNir(std::string& out, bool female, int year, int month) {
  char nir[15];
  nir[0] = female ? '2' : '1';
  WriteDigits(nir + 1, static_cast<uint64_t>(year % 100), 2);
  WriteDigits(nir + 3, static_cast<uint64_t>(month), 2);

  // `place` is the 5-digit number the key is computed on; for Corsica it
  // differs from the text (2A counts as 19, 2B as 18).
  uint64_t place;
  const uint64_t where = Below(1000);
  if (where < 20) {  // Corsica, ~2%
    const bool south = Below(2) == 0;
    const uint64_t commune = 1 + Below(360);
    nir[5] = '2';
    nir[6] = south ? 'A' : 'B';
    WriteDigits(nir + 7, commune, 3);
    place = (south ? 19000 : 18000) + commune;
  } else if (where < 70) {  // born abroad, ~5%: 99 + country code
    const auto countries = internal::BirthCountryCodes();
    place = 99000 + countries[Below(countries.size())];
    WriteDigits(nir + 5, place, 5);
  } else if (where < 90) {  // overseas departments, ~2%: 97x + 2-digit commune
    const Overseas& dom = ByTicket<Overseas>(kOverseas, Below(TotalWeight<Overseas>(kOverseas)));
    place = dom.department * 100 + 1 + Below(dom.communes);
    WriteDigits(nir + 5, place, 5);
  } else {  // metropolitan 01..95; 20 (Corsica before 1976) is never drawn
    uint64_t department = 1 + Below(94);
    if (department >= 20) ++department;
    place = department * 1000 + 1 + Below(999);
    WriteDigits(nir + 5, place, 5);
  }
  const uint64_t order = 1 + Below(999);
  WriteDigits(nir + 10, order, 3);

  const uint64_t number = (female ? 2ULL : 1ULL) * 1'000'000'000'000ULL +
                          static_cast<uint64_t>(year % 100) * 10'000'000'000ULL +
                          static_cast<uint64_t>(month) * 100'000'000ULL + place * 1000 + order;
  WriteDigits(nir + 13, 97 - number % 97, 2);
  out.assign(nir, sizeof nir);
}

// The local part always ends with the person's running number in decimal,
// right after a letter, '.', '_' or '-': the trailing digits therefore spell
// count_ exactly, and two people of one run can never share an address.
void PeopleGenerator::BuildEmail(std::string& out, std::string_view first, std::string_view last) {
  out.clear();
  const uint64_t style = Below(100);
  if (style < 40) {  // jean.dupont42
    AppendEmailFolded(out, first);
    out.push_back('.');
    AppendEmailFolded(out, last);
  } else if (style < 55) {  // j.dupont42
    AppendEmailFolded(out, first);
    out.resize(1);
    out.push_back('.');
    AppendEmailFolded(out, last);
  } else if (style < 65) {  // jean_dupont42
    AppendEmailFolded(out, first);
    out.push_back('_');
    AppendEmailFolded(out, last);
  } else if (style < 75) {  // dupont.jean42
    AppendEmailFolded(out, last);
    out.push_back('.');
    AppendEmailFolded(out, first);
  } else if (style < 85) {  // jeandupont42
    AppendEmailFolded(out, first);
    AppendEmailFolded(out, last);
  } else {  // jean.dupont.42
    AppendEmailFolded(out, first);
    out.push_back('.');
    AppendEmailFolded(out, last);
    out.push_back('.');
  }
  AppendDecimal(out, count_);
  out.push_back('@');
  out.append(
      ByTicket<EmailDomain>(kEmailDomains, Below(TotalWeight<EmailDomain>(kEmailDomains))).name);
}

void PeopleGenerator::BuildPhone(std::string& out) {
  out.clear();
  char digits[10];
  const PhoneBlock& block = ByTicket<PhoneBlock>(
      kFictionPhoneBlocks, Below(TotalWeight<PhoneBlock>(kFictionPhoneBlocks)));
  block.first_six_digits.copy(digits, 6);
  WriteDigits(digits + 6, Below(10000), 4);

  // The ways people actually type a number into a form.
  const uint64_t style = Below(100);
  if (style < 35) {  // 06 39 98 00 01
    AppendPairs(out, digits, 10, ' ');
  } else if (style < 50) {  // 06.39.98.00.01
    AppendPairs(out, digits, 10, '.');
  } else if (style < 75) {  // 0639980001
    out.append(digits, 10);
  } else if (style < 90) {  // +33 6 39 98 00 01
    out.append("+33 ");
    out.push_back(digits[1]);
    out.push_back(' ');
    AppendPairs(out, digits + 2, 8, ' ');
  } else {  // +33639980001
    out.append("+33");
    out.append(digits + 1, 9);
  }
}

void PeopleGenerator::BuildPostalAddress(std::string& out) {
  out.clear();
  AppendDecimal(out, 1 + Below(200));
  const uint64_t repeat = Below(100);
  if (repeat < 6) {
    out.append(" bis");
  } else if (repeat < 8) {
    out.append(" ter");
  }
  out.push_back(' ');
  out.append(ByTicket<StreetType>(kStreetTypes, Below(TotalWeight<StreetType>(kStreetTypes))).name);
  out.push_back(' ');
  const auto streets = internal::StreetNames();
  out.append(streets[Below(streets.size())]);
  out.append(", ");
  const auto& by_ticket = CityByTicket();
  const internal::City& city = internal::Cities()[by_ticket[Below(by_ticket.size())]];
  AppendDecimal(out, city.first_postal_code + city.postal_code_step * Below(city.postal_code_count),
                5);
  out.push_back(' ');
  out.append(city.name);
}

// French BBAN (RIB): bank 5 digits, branch 5, account 11, key 2. The RIB
// key's weights 89, 15 and 3 are 10^18, 10^13 and 10^2 modulo 97, so the key
// makes the 23-digit BBAN a multiple of 97. The IBAN check digits follow ISO
// 13616 on BBAN + "FR00" (F=15, R=27: the digits 152700), check = 98 -
// remainder; with the remainder computed from the parts rather than digit by
// digit, which was a fifth of the generator's time.
void PeopleGenerator::BuildIban(std::string& out) {
  const auto banks = internal::BankCodes();
  const uint64_t bank = banks[Below(banks.size())];
  const uint64_t branch = Below(100'000);
  const uint64_t account = Below(100'000'000'000ULL);
  const uint64_t rib_key = 97 - (89 * bank + 15 * branch + 3 * account) % 97;
  const uint64_t bban_mod97 = (89 * bank + 15 * branch + 3 * account + rib_key) % 97;
  const uint64_t check = 98 - (bban_mod97 * 27 + 22) % 97;  // 10^6 = 27, 152700 = 22 (mod 97)

  char bban[23];
  WriteDigits(bban, bank, 5);
  WriteDigits(bban + 5, branch, 5);
  WriteDigits(bban + 10, account, 11);
  WriteDigits(bban + 21, rib_key, 2);
  const std::string_view bban_digits(bban, sizeof bban);

  out.clear();
  out.append("FR");
  AppendDecimal(out, check, 2);
  if (Below(2) == 0) {
    out.append(bban_digits);
    return;
  }
  // Grouped by four as printed on a RIB: "FR76 3000 4000 ...".
  for (size_t i = 0; i < sizeof bban; i += 4) {
    out.push_back(' ');
    out.append(bban + i, std::min<size_t>(4, sizeof bban - i));
  }
}

void PeopleGenerator::NextNdjson(std::string& out) {
  Next(scratch_);
  out.append("{\"first_name\":\"");
  AppendJsonEscaped(out, scratch_.first_name);
  out.append("\",\"last_name\":\"");
  AppendJsonEscaped(out, scratch_.last_name);
  out.append("\",\"sex\":\"");
  AppendJsonEscaped(out, scratch_.sex);
  out.append("\",\"birth_date\":\"");
  AppendJsonEscaped(out, scratch_.birth_date);
  out.append("\",\"nir\":\"");
  AppendJsonEscaped(out, scratch_.nir);
  out.append("\",\"email\":\"");
  AppendJsonEscaped(out, scratch_.email);
  out.append("\",\"phone\":\"");
  AppendJsonEscaped(out, scratch_.phone);
  out.append("\",\"postal_address\":\"");
  AppendJsonEscaped(out, scratch_.postal_address);
  out.append("\",\"iban\":\"");
  AppendJsonEscaped(out, scratch_.iban);
  out.append("\",\"agency\":\"");
  out.append(scratch_.agency);  // [A-Z0-9] only: nothing to escape
  out.append("\"}\n");
}

void WriteNdjson(std::ostream& out, uint64_t count, uint64_t seed) {
  // Big writes keep the stream's per-call overhead out of the profile.
  constexpr size_t kChunk = 1 << 20;
  PeopleGenerator gen(seed);
  std::string buffer;
  buffer.reserve(kChunk + 4096);
  for (uint64_t i = 0; i < count; ++i) {
    gen.NextNdjson(buffer);
    if (buffer.size() >= kChunk) {
      out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      buffer.clear();
    }
  }
  out.write(buffer.data(), static_cast<std::streamsize>(buffer.size()));
}

}  // namespace coffre::gen
