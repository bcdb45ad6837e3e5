#include "cards/cards.h"

#include <boost/json.hpp>
#include <vector>

#include "cards/card_eraser.h"
#include "cards/card_layout.h"
#include "cards/card_rules.h"
#include "common/bytes.h"
#include "schema/mask.h"
#include "vault/vault.h"

namespace coffre::cards {
namespace {

namespace json = boost::json;
using storage::Space;

constexpr char kFormatV1 = 0x01;
using layout::CardKey;
using layout::DataKeyKey;
using layout::HashKey;
using layout::kCardPrefix;
using layout::kHashPrefix;
using layout::SubjectKey;

char StateByte(State s) {
  switch (s) {
    case State::kActive:
      return 'a';
    case State::kSaved:
      return 's';
    case State::kEvidence:
      return layout::kEvidenceStateByte;
  }
  return '?';
}

std::optional<State> StateFromByte(char c) {
  switch (c) {
    case 'a':
      return State::kActive;
    case 's':
      return State::kSaved;
    case layout::kEvidenceStateByte:
      return State::kEvidence;
    default:
      return std::nullopt;
  }
}

// Every entry of a card, to delete it (crypto-shredded with its key).
void DeleteCard(storage::WriteBatch& batch, const Card& c) {
  batch.Delete(Space::kCards, CardKey(c.id));
  batch.Delete(Space::kCards, DataKeyKey(c.id));
  batch.Delete(Space::kCards, HashKey(c.hash, c.id));
  if (!c.subject.empty()) batch.Delete(Space::kCards, SubjectKey(c.subject, c.id));
}

// The sealed card's associated data: vault, card id (the token's random
// part; its last 4 are checked against the opened payload) and state.
std::string CardAad(std::string_view vault_id, std::string_view id, char state) {
  std::string aad = "coffre.card.v1";
  AppendLengthPrefixed(aad, vault_id);
  AppendLengthPrefixed(aad, id);
  aad += state;
  return aad;
}

std::string KeyAad(std::string_view vault_id, std::string_view id) {
  std::string aad = "coffre.card.key.v1";
  AppendLengthPrefixed(aad, vault_id);
  AppendLengthPrefixed(aad, id);
  return aad;
}

std::string PanHash(const crypto::SecretKey& key, std::string_view pan) {
  std::string m = "coffre.cardhash.v1";
  m += pan;
  return crypto::KeyedHash(key, m);
}

std::string Payload(const Card& c) {
  json::object o{{"hash", ToHex(c.hash)},  {"last4", c.last4},           {"expiry", c.expiry},
                 {"created", c.created_s}, {"completed", c.completed_s}, {"save", c.save}};
  if (c.state != State::kEvidence) {
    o["pan"] = c.pan;
    if (!c.holder.empty()) o["holder"] = c.holder;
  }
  if (!c.subject.empty()) o["subject"] = ToHex(c.subject);
  return json::serialize(o);
}

Status ParsePayload(std::string_view text, Card& c) {
  const Error corrupt{ErrorCode::kDataLoss, "card " + ToHex(c.id) + " is corrupt"};
  boost::system::error_code ec;
  json::value v = json::parse(json::string_view(text.data(), text.size()), ec);
  if (ec || !v.is_object()) return Fail(corrupt);
  const json::object& o = v.get_object();
  auto str = [&](std::string_view k, std::string& out, bool required) {
    const json::value* p = o.if_contains(k);
    if (p == nullptr) return !required;
    if (!p->is_string()) return false;
    out = std::string(p->get_string());
    return true;
  };
  auto num = [&](std::string_view k, int64_t& out) {
    const json::value* p = o.if_contains(k);
    if (p == nullptr || !p->is_int64()) return false;
    out = p->get_int64();
    return true;
  };
  std::string hash_hex, subject_hex;
  bool ok = str("hash", hash_hex, true) && str("last4", c.last4, true) &&
            str("expiry", c.expiry, true) && num("created", c.created_s) &&
            num("completed", c.completed_s) && str("subject", subject_hex, false) &&
            str("holder", c.holder, false) && str("pan", c.pan, c.state != State::kEvidence);
  const json::value* save = o.if_contains("save");
  ok = ok && save != nullptr && save->is_bool();
  if (!ok) return Fail(corrupt);
  c.save = save->get_bool();
  auto hash = FromHex(hash_hex);
  if (!hash || hash->size() != crypto::kBlindBytes) return Fail(corrupt);
  c.hash = std::move(*hash);
  if (!subject_hex.empty()) {
    auto subject = FromHex(subject_hex);
    if (!subject || subject->size() != kCardIdBytes) return Fail(corrupt);
    c.subject = std::move(*subject);
  }
  return Ok();
}

}  // namespace

Result<int> ParseEvidenceMonths(std::string_view text) {
  auto bad = [] {
    return Fail(ErrorCode::kInvalidArgument,
                "card evidence months must be a whole number from 1 to " +
                    std::to_string(kMaxEvidenceMonths));
  };
  if (text.empty() || text.size() > 3 || text[0] == '0') return bad();
  int n = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return bad();
    n = n * 10 + (c - '0');
  }
  if (n < 1 || n > kMaxEvidenceMonths) return bad();
  return n;
}

int64_t MonthIndex(int64_t unix_seconds) {
  // Civil from days (H. Hinnant), month resolution.
  int64_t z = (unix_seconds >= 0 ? unix_seconds : unix_seconds - 86399) / 86400 + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const int64_t y = yoe + era * 400 + (m <= 2);
  return y * 12 + m - 1;
}

std::string_view StateName(State s) {
  switch (s) {
    case State::kActive:
      return "active";
    case State::kSaved:
      return "saved";
    case State::kEvidence:
      return "evidence";
  }
  return "unknown";
}

std::string_view SweepEventName(SweepEvent::Kind k) {
  return k == SweepEvent::kExpired ? "card.expire" : "card.evidence_delete";
}

std::string Card::Masked() const {
  if (pan.empty()) return "****" + last4;
  schema::FieldDef def;
  def.name = "pan";
  def.type = schema::FieldType::kPan;
  return schema::Mask(def, pan);
}

Cards::Cards(storage::SpaceHandle store, std::string vault_id, const crypto::SecretKey& kek,
             const crypto::SecretKey& hash_key, CardsOptions options)
    : store_(store),
      vault_id_(std::move(vault_id)),
      kek_(kek),
      hash_key_(hash_key),
      options_(options) {}

Result<std::unique_ptr<Cards>> Cards::Open(vault::Vault& vault, storage::SpaceHandle store,
                                           const crypto::SecretKey& kek,
                                           const crypto::SecretKey& hash_key) {
  CardsOptions o;
  COFFRE_ASSIGN_OR_RETURN(auto months, vault.GetConfig(kEvidenceMonthsConfig));
  if (months) {
    COFFRE_ASSIGN_OR_RETURN(o.evidence_months, ParseEvidenceMonths(*months));
  }
  auto cards = std::make_unique<Cards>(store, vault.vault_id(), kek, hash_key, o);
  cards->vault_ = &vault;
  return cards;
}

Status Cards::CommitDeletion(const vault::JournalEntry& entry, storage::WriteBatch& batch) {
  if (vault_ == nullptr) return store_.Write(batch);
  return vault_->CommitDeletion({entry}, batch);
}

Result<Created> Cards::Create(const NewCard& in, int64_t now_s) {
  COFFRE_ASSIGN_OR_RETURN(std::string pan, NormalizePan(in.pan));
  COFFRE_ASSIGN_OR_RETURN(Expiry expiry, ParseExpiry(in.expiry));
  if (expiry.EndUnixSeconds() <= now_s) {
    return Fail(ErrorCode::kInvalidArgument, "'expiry': the card has expired");
  }
  if (expiry.EndUnixSeconds() - now_s > int64_t{kMaxYearsAhead} * 366 * 86400) {
    return Fail(ErrorCode::kInvalidArgument,
                "'expiry' is more than " + std::to_string(kMaxYearsAhead) + " years ahead");
  }
  if (in.holder) {
    bool printable = !in.holder->empty() && in.holder->size() <= kMaxHolderBytes;
    for (unsigned char ch : *in.holder) printable = printable && ch >= 0x20 && ch != 0x7f;
    if (!printable) {
      return Fail(ErrorCode::kInvalidArgument, "'holder' must be text of 1 to " +
                                                   std::to_string(kMaxHolderBytes) +
                                                   " bytes without control characters");
    }
  }
  if (!in.subject.empty() && in.subject.size() != kCardIdBytes) {
    return Fail(ErrorCode::kInvalidArgument, "'subject' is not a subject id");
  }
  Card c;
  c.id = crypto::RandomString(kCardIdBytes);
  c.last4 = pan.substr(pan.size() - 4);
  COFFRE_ASSIGN_OR_RETURN(c.token, MakeToken(c.id, c.last4));
  c.state = in.save ? State::kSaved : State::kActive;
  c.hash = PanHash(hash_key_, pan);
  c.pan = std::move(pan);
  c.expiry = expiry.Text();
  c.holder = in.holder.value_or("");
  c.save = in.save;
  c.subject = in.subject;
  c.created_s = now_s;
  c.expires_s = expiry.EndUnixSeconds();
  c.evidence_until_s = expiry.EndPlusMonthsUnixSeconds(options_.evidence_months);

  Created out;
  COFFRE_TRY(store_.Scan(Space::kCards, std::string(kHashPrefix) + c.hash,
                         [&](std::string_view, std::string_view) {
                           out.known = true;
                           return false;
                         }));
  crypto::SecretKey data_key = crypto::SecretKey::Random();
  std::string sealed(1, kFormatV1);
  sealed += StateByte(c.state);
  crypto::SealAppend(data_key, Payload(c), CardAad(vault_id_, c.id, StateByte(c.state)), sealed);
  auto batch = store_.NewBatch();
  batch->Put(Space::kCards, CardKey(c.id), sealed);
  batch->Put(Space::kCards, DataKeyKey(c.id),
             crypto::WrapKey(kek_, data_key, KeyAad(vault_id_, c.id)));
  batch->Put(Space::kCards, HashKey(c.hash, c.id), "");
  if (!c.subject.empty()) batch->Put(Space::kCards, SubjectKey(c.subject, c.id), c.hash);
  COFFRE_TRY(store_.Write(*batch));
  out.card = std::move(c);
  return out;
}

Result<Card> Cards::Load(std::string_view id, std::string_view token) {
  COFFRE_ASSIGN_OR_RETURN(auto sealed, store_.Get(Space::kCards, CardKey(id)));
  if (!sealed) return Fail(ErrorCode::kNotFound, "no such card");
  Card c;
  c.id = std::string(id);
  if (sealed->size() < 2 || (*sealed)[0] != kFormatV1) {
    return Fail(ErrorCode::kDataLoss, "card " + ToHex(id) + " has an unknown format");
  }
  auto state = StateFromByte((*sealed)[1]);
  if (!state) return Fail(ErrorCode::kDataLoss, "card " + ToHex(id) + " has an unknown state");
  c.state = *state;
  COFFRE_ASSIGN_OR_RETURN(auto wrapped, store_.Get(Space::kCards, DataKeyKey(id)));
  if (!wrapped) return Fail(ErrorCode::kDataLoss, "card " + ToHex(id) + " has no key");
  COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey data_key,
                          crypto::UnwrapKey(kek_, *wrapped, KeyAad(vault_id_, id), "card key"));
  COFFRE_ASSIGN_OR_RETURN(std::string payload,
                          crypto::Open(data_key, std::string_view(*sealed).substr(2),
                                       CardAad(vault_id_, id, (*sealed)[1]), "card"));
  Status parsed = ParsePayload(payload, c);
  std::fill(payload.begin(), payload.end(), '\0');
  COFFRE_TRY(parsed);
  auto expiry = ParseExpiry(c.expiry);
  if (!expiry || c.last4.size() != 4)
    return Fail(ErrorCode::kDataLoss, "card " + ToHex(id) + " is corrupt");
  c.expires_s = expiry->EndUnixSeconds();
  c.evidence_until_s = expiry->EndPlusMonthsUnixSeconds(options_.evidence_months);
  auto made = MakeToken(c.id, c.last4);
  if (!made)
    return Fail(ErrorCode::kDataLoss, "card " + ToHex(id) + " is corrupt: " + made.error().message);
  c.token = std::move(*made);
  // The token names the card and its last 4 digits: another last 4 is
  // another (unknown) card.
  if (!token.empty() && c.token != token) return Fail(ErrorCode::kNotFound, "no such card");
  return c;
}

Status Cards::WriteEvidence(const Card& card, storage::WriteBatch& batch) {
  Card e = card;
  e.state = State::kEvidence;
  std::fill(e.pan.begin(), e.pan.end(), '\0');
  e.pan.clear();
  e.holder.clear();
  // A new data key: the old one, which opens every earlier version of the
  // card, is overwritten in the same batch.
  crypto::SecretKey data_key = crypto::SecretKey::Random();
  std::string sealed(1, kFormatV1);
  sealed += StateByte(State::kEvidence);
  crypto::SealAppend(data_key, Payload(e), CardAad(vault_id_, e.id, StateByte(State::kEvidence)),
                     sealed);
  batch.Put(Space::kCards, CardKey(e.id), sealed);
  batch.Put(Space::kCards, DataKeyKey(e.id),
            crypto::WrapKey(kek_, data_key, KeyAad(vault_id_, e.id)));
  return Ok();
}

Result<Card> Cards::Get(std::string_view token) {
  COFFRE_ASSIGN_OR_RETURN(ParsedToken t, ParseToken(token));
  return Load(t.card_id, token);
}

Result<Card> Cards::Complete(std::string_view token, int64_t now_s) {
  COFFRE_ASSIGN_OR_RETURN(ParsedToken t, ParseToken(token));
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(Card c, Load(t.card_id, token));
  if (c.state == State::kEvidence) {
    return Fail(ErrorCode::kFailedPrecondition,
                "the card's number is already gone (its transaction was completed, or it expired)");
  }
  c.completed_s = now_s;
  auto batch = store_.NewBatch();
  if (c.state == State::kSaved) {
    // Kept at the holder's request: the same key seals the new version.
    COFFRE_ASSIGN_OR_RETURN(auto wrapped, store_.Get(Space::kCards, DataKeyKey(c.id)));
    if (!wrapped) return Fail(ErrorCode::kDataLoss, "card " + ToHex(c.id) + " has no key");
    COFFRE_ASSIGN_OR_RETURN(crypto::SecretKey data_key,
                            crypto::UnwrapKey(kek_, *wrapped, KeyAad(vault_id_, c.id), "card key"));
    std::string sealed(1, kFormatV1);
    sealed += StateByte(State::kSaved);
    crypto::SealAppend(data_key, Payload(c), CardAad(vault_id_, c.id, StateByte(State::kSaved)),
                       sealed);
    batch->Put(Space::kCards, CardKey(c.id), sealed);
    COFFRE_TRY(store_.Write(*batch));
    return c;
  }
  COFFRE_TRY(WriteEvidence(c, *batch));
  COFFRE_TRY(CommitDeletion(vault::JournalEntry::Module(kCardNumberJournal, c.id), *batch));
  shredded_ = true;
  std::fill(c.pan.begin(), c.pan.end(), '\0');
  c.pan.clear();
  c.holder.clear();
  c.state = State::kEvidence;
  return c;
}

Result<Card> Cards::Delete(std::string_view token) {
  COFFRE_ASSIGN_OR_RETURN(ParsedToken t, ParseToken(token));
  std::lock_guard lock(mu_);
  COFFRE_ASSIGN_OR_RETURN(Card c, Load(t.card_id, token));
  auto batch = store_.NewBatch();
  DeleteCard(*batch, c);
  COFFRE_TRY(CommitDeletion(vault::JournalEntry::Module(kCardJournal, c.id), *batch));
  shredded_ = true;
  return c;
}

Result<SweepStats> Cards::Sweep(int64_t now_s,
                                const std::function<Status(const SweepEvent&)>& on_event) {
  std::vector<std::string> ids;
  COFFRE_TRY(store_.Scan(Space::kCards, kCardPrefix, [&](std::string_view key, std::string_view) {
    ids.emplace_back(key.substr(kCardPrefix.size()));
    return true;
  }));
  SweepStats stats;
  for (const std::string& id : ids) {
    if (id.size() != kCardIdBytes) {  // no card of ours: left in place, like an unreadable one
      ++stats.unreadable;
      continue;
    }
    std::unique_lock lock(mu_);
    auto c = Load(id, {});
    if (!c) {
      if (IsNotFound(c)) continue;  // deleted meanwhile
      ++stats.unreadable;           // left in place; `coffre doctor` territory, never a stuck sweep
      continue;
    }
    ++stats.scanned;
    SweepEvent event{SweepEvent::kExpired, c->id, c->token, c->subject};
    auto batch = store_.NewBatch();
    if (now_s >= c->evidence_until_s) {
      event.kind = SweepEvent::kEvidenceDeleted;
      DeleteCard(*batch, *c);
      COFFRE_TRY(CommitDeletion(vault::JournalEntry::Module(kCardJournal, c->id), *batch));
    } else if (c->state != State::kEvidence && now_s >= c->expires_s) {
      COFFRE_TRY(WriteEvidence(*c, *batch));
      COFFRE_TRY(CommitDeletion(vault::JournalEntry::Module(kCardNumberJournal, c->id), *batch));
    } else {
      continue;
    }
    shredded_ = true;
    lock.unlock();
    ++(event.kind == SweepEvent::kExpired ? stats.expired : stats.evidence_deleted);
    COFFRE_TRY(on_event(event));
  }
  return stats;
}

Result<size_t> Cards::CountOfSubject(std::string_view subject) {
  size_t n = 0;
  COFFRE_TRY(store_.Scan(Space::kCards, layout::SubjectPrefix(subject),
                         [&](std::string_view key, std::string_view) {
                           n += key.size() == layout::kSubjectPrefix.size() + 2 * layout::kIdBytes;
                           return true;
                         }));
  return n;
}

Status Cards::CompactIfShredded() {
  if (!shredded_.exchange(false)) return Ok();
  Status s = vault_ != nullptr ? vault_->CompactDeleted() : store_.CompactSpace(Space::kCards);
  if (!s) shredded_ = true;  // tried again next time
  return s;
}

}  // namespace coffre::cards
