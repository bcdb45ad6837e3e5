#include "guard/canary_set.h"

#include <mutex>

#include "common/names.h"
#include "crypto/crypto.h"
#include "gen/people_gen.h"

namespace coffre::guard {
namespace {

constexpr size_t kIdBytes = 16;

// Serialises read-append-write of the secret within the process.
std::mutex& SecretMutex() {
  static std::mutex mu;
  return mu;
}

Result<std::string> StoredIds(vault::Vault& vault) {
  COFFRE_ASSIGN_OR_RETURN(auto stored, vault.GetSecret(kCanariesSecret));
  std::string ids = stored ? std::move(*stored) : std::string();
  if (ids.size() % kIdBytes != 0) {
    return Fail(ErrorCode::kDataLoss, "the stored canary list is malformed");
  }
  return ids;
}

constexpr std::string_view kGenerated[] = {"first_name", "last_name", "sex",   "birth_date",
                                           "nir",        "email",     "phone", "postal_address",
                                           "iban",       "agency"};

bool IsGenerated(std::string_view name) {
  for (std::string_view g : kGenerated) {
    if (g == name) return true;
  }
  return false;
}

std::string_view FieldOf(const gen::Person& p, std::string_view name) {
  if (name == "first_name") return p.first_name;
  if (name == "last_name") return p.last_name;
  if (name == "sex") return p.sex;
  if (name == "birth_date") return p.birth_date;
  if (name == "nir") return p.nir;
  if (name == "email") return p.email;
  if (name == "phone") return p.phone;
  if (name == "postal_address") return p.postal_address;
  if (name == "iban") return p.iban;
  if (name == "agency") return p.agency;
  return {};
}

bool IsDomain(std::string_view d) {
  if (d.empty() || d.size() > 253 || d.find('.') == std::string_view::npos) return false;
  for (char c : d) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.';
    if (!ok) return false;
  }
  return d.front() != '.' && d.back() != '.' && d.front() != '-';
}

}  // namespace

CanarySet::CanarySet() : set_(std::make_shared<const Set>()) {}
CanarySet::~CanarySet() = default;

Status CanarySet::Load(vault::Vault& vault) {
  COFFRE_ASSIGN_OR_RETURN(std::string ids, StoredIds(vault));
  auto next = std::make_shared<Set>();
  for (size_t i = 0; i < ids.size(); i += kIdBytes) next->insert(ids.substr(i, kIdBytes));
  set_.store(std::move(next));
  return Ok();
}

void CanarySet::Add(std::span<const std::string> subjects) {
  // Writers are rare (`canary add`); a copy keeps readers lock-free.
  std::shared_ptr<const Set> current = set_.load();
  auto next = std::make_shared<Set>(*current);
  next->insert(subjects.begin(), subjects.end());
  set_.store(std::move(next));
}

bool CanarySet::Contains(std::string_view subject) const {
  std::shared_ptr<const Set> set = set_.load();
  return !set->empty() && set->count(std::string(subject)) != 0;
}

size_t CanarySet::Count(std::span<const std::string> subjects) const {
  std::shared_ptr<const Set> set = set_.load();
  if (set->empty()) return 0;
  size_t n = 0;
  for (const std::string& s : subjects) n += set->count(s);
  return n;
}

size_t CanarySet::size() const { return set_.load()->size(); }

Status RegisterCanaries(vault::Vault& vault, std::span<const std::string> subjects,
                        CanarySet* live) {
  for (const std::string& s : subjects) {
    if (s.size() != kIdBytes)
      return Fail(ErrorCode::kInvalidArgument, "a canary subject id is 16 bytes");
  }
  std::lock_guard lock(SecretMutex());
  COFFRE_ASSIGN_OR_RETURN(std::string ids, StoredIds(vault));
  std::unordered_set<std::string_view> listed;
  for (size_t at = 0; at < ids.size(); at += kIdBytes)
    listed.insert(std::string_view(ids).substr(at, kIdBytes));
  std::string added;
  for (const std::string& s : subjects) {
    if (listed.insert(s).second) added += s;
  }
  if (added.empty()) return Ok();
  ids += added;
  COFFRE_TRY(vault.PutSecret(kCanariesSecret, ids));
  if (live != nullptr) live->Add(subjects);
  return Ok();
}

Result<std::vector<std::string>> AddCanaries(vault::Vault& vault, std::string_view collection,
                                             uint64_t count, std::string_view email_domain,
                                             CanarySet* live, std::optional<uint64_t> seed) {
  if (count < 1 || count > kMaxCanariesPerCall) {
    return Fail(ErrorCode::kInvalidArgument,
                "--count must be from 1 to " + std::to_string(kMaxCanariesPerCall));
  }
  if (!email_domain.empty() && !IsDomain(email_domain)) {
    return Fail(ErrorCode::kInvalidArgument,
                "--email-domain must be a domain name like canary.example.org");
  }
  const schema::Collection* coll = vault.schema().Find(collection);
  if (coll == nullptr) {
    return Fail(ErrorCode::kNotFound, "no collection " + QuotedName(collection) + " in the schema");
  }
  for (const schema::FieldDef& f : coll->fields) {
    if (f.required && !IsGenerated(f.name)) {
      return Fail(ErrorCode::kInvalidArgument, "collection '" + coll->name + "' requires field '" +
                                                   f.name +
                                                   "', which generated people do not have");
    }
  }

  uint64_t random_seed = 0;
  crypto::RandomBytes(&random_seed, sizeof random_seed);
  gen::PeopleGenerator people(seed ? *seed : random_seed);
  std::lock_guard lock(SecretMutex());
  std::vector<std::string> added;
  added.reserve(count);
  gen::Person p;
  // A generated e-mail may already be taken (unique field): draw another
  // person, a bounded number of times.
  uint64_t attempts = 0;
  const uint64_t max_attempts = count * 4 + 100;
  while (added.size() < count) {
    if (++attempts > max_attempts) {
      return Fail(ErrorCode::kAlreadyExists, "could not find unused values for the canaries");
    }
    people.Next(p);
    if (!email_domain.empty()) {
      size_t at = p.email.find('@');
      p.email = p.email.substr(0, at + 1) + std::string(email_domain);
    }
    std::vector<vault::NamedInput> inputs;
    for (const schema::FieldDef& f : coll->fields) {
      std::string_view value = FieldOf(p, f.name);
      if (!value.empty()) inputs.emplace_back(f.name, schema::Input::String(value));
    }
    auto ref = vault.Put(coll->name, inputs);
    if (!ref) {
      if (ref.error().code == ErrorCode::kAlreadyExists) continue;
      if (!added.empty()) break;  // keep those written: register them below
      return Fail(ref.error());
    }
    added.push_back(ref->subject);
  }
  COFFRE_ASSIGN_OR_RETURN(std::string ids, StoredIds(vault));
  for (const std::string& s : added) ids += s;
  COFFRE_TRY(vault.PutSecret(kCanariesSecret, ids));
  if (live != nullptr) live->Add(added);
  if (added.size() < count) {
    return Fail(ErrorCode::kIoError, "only " + std::to_string(added.size()) + " of " +
                                         std::to_string(count) + " canaries could be written");
  }
  return added;
}

}  // namespace coffre::guard
