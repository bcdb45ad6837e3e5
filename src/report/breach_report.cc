#include "report/breach_report.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <unordered_map>

#include "audit/entry.h"
#include "common/clock.h"
#include "common/time_text.h"

namespace coffre::report {
namespace {

using SubjectKey = std::array<char, 16>;

// The walk uses the machine's cores, up to this many.
constexpr unsigned kMaxThreads = 4;

struct SubjectHash {
  size_t operator()(const SubjectKey& k) const {
    // Ids are an 8-byte time-ordered sequence then 8 random bytes
    // (vault/id_source.h): hash the random half, mixed.
    uint64_t lo = 0;
    uint64_t hi = 0;
    std::memcpy(&hi, k.data(), 8);
    std::memcpy(&lo, k.data() + 8, 8);
    uint64_t x = lo ^ (hi * 0x9E3779B97F4A7C15ull);
    x ^= x >> 31;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    return static_cast<size_t>(x);
  }
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

// One view byte per interned field: 0 not exposed, 1 masked, 2 clear.
constexpr uint8_t kNotExposed = 0;
constexpr uint8_t kMasked = 1;
constexpr uint8_t kClear = 2;
constexpr uint32_t kNoCollection = UINT32_MAX;

// Small maps from interned ids to bytes: inline for the first ids (a
// vault's fields and collections), a vector beyond, so that a subject costs
// one allocation (its hash node) in the usual case.
template <size_t kInline>
class ByteSlots {
 public:
  uint8_t Get(uint32_t i) const {
    if (i < kInline) return inline_[i];
    i -= kInline;
    return i < more_.size() ? more_[i] : kNotExposed;
  }
  void Raise(uint32_t i, uint8_t v) {  // max: clear wins over masked
    uint8_t* slot;
    if (i < kInline) {
      slot = &inline_[i];
    } else {
      i -= kInline;
      if (more_.size() <= i) more_.resize(i + 1, kNotExposed);
      slot = &more_[i];
    }
    if (*slot < v) *slot = v;
  }

 private:
  std::array<uint8_t, kInline> inline_{};
  std::vector<uint8_t> more_;
};

struct Accumulated {
  ByteSlots<24> views;       // by interned field
  ByteSlots<8> collections;  // by interned collection: 1 if exposed
  uint64_t actions = 0;      // bit per interned action
  uint64_t entries = 0;
  uint64_t last_seq = 0;
  int64_t first_ms = 0;
  int64_t last_ms = 0;
};

// Subjects to their accumulated exposure: open addressing over a dense
// vector, so that a subject costs no allocation of its own and the walk's
// lookups stay in a few cache lines. Not thread-safe (one per part).
class SubjectTable {
 public:
  // The entry of `key`, created empty if absent; `fresh` says which.
  Accumulated& Get(const SubjectKey& key, bool& fresh) {
    if ((values_.size() + 1) * 2 > slots_.size()) Grow();
    size_t mask = slots_.size() - 1;
    for (size_t i = SubjectHash{}(key)&mask;; i = (i + 1) & mask) {
      uint32_t v = slots_[i];
      if (v == kEmpty) {
        slots_[i] = static_cast<uint32_t>(values_.size());
        keys_.push_back(key);
        fresh = true;
        return values_.emplace_back();
      }
      if (keys_[v] == key) {
        fresh = false;
        return values_[v];
      }
    }
  }
  size_t size() const { return values_.size(); }
  const SubjectKey& key(size_t i) const { return keys_[i]; }
  const Accumulated& value(size_t i) const { return values_[i]; }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  void Grow() {
    std::vector<uint32_t> slots(std::max<size_t>(1024, slots_.size() * 2), kEmpty);
    size_t mask = slots.size() - 1;
    for (uint32_t v = 0; v < keys_.size(); ++v) {
      size_t i = SubjectHash{}(keys_[v]) & mask;
      while (slots[i] != kEmpty) i = (i + 1) & mask;
      slots[i] = v;
    }
    slots_ = std::move(slots);
  }
  std::vector<uint32_t> slots_;  // index into keys_/values_, or kEmpty; size a power of two
  std::vector<SubjectKey> keys_;
  std::vector<Accumulated> values_;
};

struct InternedField {
  std::string collection;
  std::string field;
  uint32_t collection_id = 0;
  Category category = Category::kOther;
};

// Reads every verified entry once; keeps what the query asks for. No
// allocation per entry once its fields, collections and actions are known.
class alignas(64) Collector {  // parts write their own: no shared cache line
 public:
  Collector(const BreachQuery& q, const schema::Schema& schema) : q_(q), schema_(schema) {}

  void Visit(const audit::EntryView& e) {
    if (e.time_ms < q_.from_ms || e.time_ms > q_.to_ms) return;
    if (q_.principal && e.principal != *q_.principal) return;
    if (q_.user && e.on_behalf_of != *q_.user) return;
    // Seqs rise within a part of a chain; a cluster vault's chains come one
    // after another (audit::VerifyAllChains), each from its own seq 1, so a
    // seq that does not rise starts another chain: an epoch keeps an entry
    // of one chain from being taken for another's with the same seq.
    if (e.seq <= last_visited_seq_) ++epoch_;
    last_visited_seq_ = e.seq;
    const uint64_t entry_tag = e.seq | (epoch_ << 48);
    ++matched_;
    if (e.outcome == "denied") ++denied_;
    if (e.outcome != "allowed" || e.subject_count() == 0) return;
    const bool id_exposing = e.action == "read" || e.action == "search" || e.action == "export";
    if (e.field_count == 0 && !id_exposing) return;  // a write: nothing new went out
    ++exposing_;

    // The entry's fields, interned. A principal's entries mostly repeat the
    // same fields and views (its role's): the last entry's are reused when
    // the encoded bytes are the same.
    if (e.collection != last_collection_ || e.fields != last_fields_) {
      fields_.clear();
      audit::FieldCursor cursor = e.field_cursor();
      std::string_view name;
      char view = 0;
      while (cursor.Next(name, view)) {
        fields_.emplace_back(FieldId(e.collection, name),
                             view == audit::kViewClear ? kClear : kMasked);
      }
      last_collection_.assign(e.collection);
      last_fields_.assign(e.fields);
    }
    const uint32_t action = ActionId(e.action);
    const uint32_t collection = e.collection.empty() ? kNoCollection : CollectionId(e.collection);

    for (size_t i = 0; i < e.subject_count(); ++i) {
      SubjectKey key;
      std::memcpy(key.data(), e.subject(i).data(), key.size());
      bool fresh = false;
      Accumulated& a = subjects_.Get(key, fresh);
      // Minimum and maximum: chains are not visited in time order.
      if (fresh || e.time_ms < a.first_ms) a.first_ms = e.time_ms;
      if (fresh || a.last_seq != entry_tag) {
        ++a.entries;
        a.last_seq = entry_tag;
      }
      if (fresh || e.time_ms > a.last_ms) a.last_ms = e.time_ms;
      a.actions |= uint64_t{1} << action;
      if (collection != kNoCollection) a.collections.Raise(collection, 1);
      for (const auto& [field, v] : fields_) {
        a.views.Raise(field, v);
        a.collections.Raise(interned_[field].collection_id, 1);
      }
    }
  }

  // Adds what `other` (a later part of the walk) collected.
  void Absorb(const Collector& other) {
    matched_ += other.matched_;
    exposing_ += other.exposing_;
    denied_ += other.denied_;
    // Its interned ids, in ours.
    std::vector<uint32_t> field_map, collection_map, action_map;
    for (const InternedField& f : other.interned_) {
      field_map.push_back(f.collection.empty() ? FieldId("", f.field)
                                               : FieldId(f.collection, f.field));
    }
    for (const std::string& c : other.collections_) collection_map.push_back(CollectionId(c));
    for (const std::string& a : other.actions_) action_map.push_back(ActionId(a));
    for (size_t i = 0; i < other.subjects_.size(); ++i) {
      const Accumulated& theirs = other.subjects_.value(i);
      bool fresh = false;
      Accumulated& a = subjects_.Get(other.subjects_.key(i), fresh);
      if (fresh || theirs.first_ms < a.first_ms) a.first_ms = theirs.first_ms;
      if (fresh || theirs.last_ms > a.last_ms) a.last_ms = theirs.last_ms;
      a.entries += theirs.entries;
      for (uint32_t b = 0; b < action_map.size(); ++b) {
        if (theirs.actions & (uint64_t{1} << b)) a.actions |= uint64_t{1} << action_map[b];
      }
      for (uint32_t c = 0; c < collection_map.size(); ++c) {
        if (theirs.collections.Get(c) != 0) a.collections.Raise(collection_map[c], 1);
      }
      for (uint32_t f = 0; f < field_map.size(); ++f) {
        if (uint8_t v = theirs.views.Get(f); v != kNotExposed) a.views.Raise(field_map[f], v);
      }
    }
  }

  void Finish(BreachReport& r, const std::function<bool(std::string_view)>& is_canary) {
    r.entries_matched = matched_;
    r.entries_exposing = exposing_;
    r.entries_denied = denied_;
    // Canaries are planted records, not people: counted, never listed, and
    // what only they received is not in the report's tables either.
    std::vector<uint32_t> order;
    order.reserve(subjects_.size());
    for (uint32_t i = 0; i < subjects_.size(); ++i) {
      const SubjectKey& k = subjects_.key(i);
      if (is_canary && is_canary(std::string_view(k.data(), k.size()))) {
        ++r.canaries;
      } else {
        order.push_back(i);
      }
    }
    // Byte order (as unsigned), which is the order of their hex forms.
    std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
      return std::memcmp(subjects_.key(a).data(), subjects_.key(b).data(), sizeof(SubjectKey)) < 0;
    });

    // The report's tables, sorted, and our interned ids' places in them.
    // Only what some subject was exposed to goes in.
    std::vector<bool> field_used(interned_.size(), false),
        collection_used(collections_.size(), false);
    uint64_t actions_used = 0;
    for (uint32_t k : order) {
      const Accumulated& a = subjects_.value(k);
      actions_used |= a.actions;
      for (uint32_t f = 0; f < interned_.size(); ++f)
        field_used[f] = field_used[f] || a.views.Get(f) != kNotExposed;
      for (uint32_t c = 0; c < collections_.size(); ++c) {
        collection_used[c] = collection_used[c] || a.collections.Get(c) != 0;
      }
    }
    std::vector<uint32_t> field_order, collection_order, action_order;
    for (uint32_t f = 0; f < interned_.size(); ++f)
      if (field_used[f]) field_order.push_back(f);
    std::sort(field_order.begin(), field_order.end(), [&](uint32_t a, uint32_t b) {
      return std::tie(interned_[a].collection, interned_[a].field) <
             std::tie(interned_[b].collection, interned_[b].field);
    });
    for (uint32_t c = 0; c < collections_.size(); ++c)
      if (collection_used[c]) collection_order.push_back(c);
    std::sort(collection_order.begin(), collection_order.end(),
              [&](uint32_t a, uint32_t b) { return collections_[a] < collections_[b]; });
    for (uint32_t b = 0; b < actions_.size(); ++b)
      if (actions_used & (uint64_t{1} << b)) action_order.push_back(b);
    std::sort(action_order.begin(), action_order.end(),
              [&](uint32_t a, uint32_t b) { return actions_[a] < actions_[b]; });
    std::vector<uint32_t> collection_slot(collections_.size(), 0);
    for (uint32_t i = 0; i < collection_order.size(); ++i) {
      collection_slot[collection_order[i]] = i;
      r.collections.push_back(collections_[collection_order[i]]);
    }
    for (uint32_t f : field_order) {
      const InternedField& def = interned_[f];
      r.fields.push_back({def.collection, def.field, def.category});
    }
    std::vector<uint32_t> action_bit(actions_.size(), 0);
    for (uint32_t i = 0; i < action_order.size(); ++i) {
      action_bit[action_order[i]] = i;
      r.actions.push_back(actions_[action_order[i]]);
    }
    for (uint32_t i = 0; i < field_order.size(); ++i) {
      r.categories[static_cast<size_t>(interned_[field_order[i]].category)].fields.push_back(
          r.fields[i].Name());
    }

    std::vector<std::pair<uint8_t, uint32_t>> category_collection;  // reused per subject
    r.subjects.reserve(order.size());
    for (uint32_t k : order) {
      const Accumulated& a = subjects_.value(k);
      SubjectExposure s;
      s.subject = subjects_.key(k);
      s.entries = a.entries;
      s.first_ms = a.first_ms;
      s.last_ms = a.last_ms;
      for (uint32_t b = 0; b < actions_.size(); ++b) {
        if (a.actions & (uint64_t{1} << b)) s.actions |= uint64_t{1} << action_bit[b];
      }
      size_t n = 0;
      for (uint32_t c : collection_order) n += a.collections.Get(c) != 0;
      s.collections.reserve(n);
      for (uint32_t c : collection_order) {
        if (a.collections.Get(c) != 0) s.collections.push_back(collection_slot[c]);
      }
      r.records += s.collections.size();
      n = 0;
      for (uint32_t f : field_order) n += a.views.Get(f) != kNotExposed;
      s.fields.reserve(n);
      // Per category: any field, any clear field, and the collections.
      std::array<bool, kCategoryCount> any{}, clear{};
      category_collection.clear();
      for (uint32_t i = 0; i < field_order.size(); ++i) {
        uint8_t v = a.views.Get(field_order[i]);
        if (v == kNotExposed) continue;
        const InternedField& def = interned_[field_order[i]];
        s.fields.push_back({i, v == kClear ? audit::kViewClear : audit::kViewMasked});
        size_t c = static_cast<size_t>(def.category);
        any[c] = true;
        clear[c] = clear[c] || v == kClear;
        category_collection.emplace_back(static_cast<uint8_t>(c), def.collection_id);
      }
      std::sort(category_collection.begin(), category_collection.end());
      category_collection.erase(std::unique(category_collection.begin(), category_collection.end()),
                                category_collection.end());
      for (const auto& [c, coll] : category_collection) ++r.categories[c].records;
      for (size_t c = 0; c < kCategoryCount; ++c) {
        if (!any[c]) continue;
        ++r.categories[c].people;
        if (clear[c]) ++r.categories[c].people_clear;
      }
      r.subjects.push_back(std::move(s));
    }
  }

 private:
  uint32_t CollectionId(std::string_view name) {
    if (auto it = collection_index_.find(name); it != collection_index_.end()) return it->second;
    uint32_t id = static_cast<uint32_t>(collections_.size());
    collections_.emplace_back(name);
    collection_index_.emplace(std::string(name), id);
    return id;
  }

  uint32_t ActionId(std::string_view name) {
    for (uint32_t i = 0; i < actions_.size(); ++i) {
      if (actions_[i] == name) return i;
    }
    // 64 distinct exposing actions would be a new API surface each; the
    // last bit takes any beyond (never reached by coffre's own actions).
    if (actions_.size() == 64) return 63;
    actions_.emplace_back(name);
    return static_cast<uint32_t>(actions_.size() - 1);
  }

  // A read names the collection in the entry and bare fields; an export of
  // a subject spans collections and names fields "collection.field".
  uint32_t FieldId(std::string_view collection, std::string_view name) {
    qualified_.assign(collection);
    if (!collection.empty()) qualified_ += '.';
    qualified_ += name;
    if (auto it = field_index_.find(std::string_view(qualified_)); it != field_index_.end()) {
      return it->second;
    }
    InternedField f;
    size_t dot = qualified_.find('.');
    f.collection = dot == std::string::npos ? std::string() : qualified_.substr(0, dot);
    f.field = dot == std::string::npos ? qualified_ : qualified_.substr(dot + 1);
    f.collection_id = CollectionId(f.collection);
    if (const schema::Collection* c = schema_.Find(f.collection)) {
      if (const schema::FieldDef* d = c->Find(f.field)) f.category = CategoryOf(d->type);
    }
    uint32_t id = static_cast<uint32_t>(interned_.size());
    interned_.push_back(std::move(f));
    field_index_.emplace(qualified_, id);
    return id;
  }

  const BreachQuery& q_;
  const schema::Schema& schema_;
  uint64_t matched_ = 0;
  uint64_t exposing_ = 0;
  uint64_t denied_ = 0;
  SubjectTable subjects_;
  std::vector<InternedField> interned_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> field_index_;
  std::vector<std::string> collections_;
  std::unordered_map<std::string, uint32_t, StringHash, std::equal_to<>> collection_index_;
  std::vector<std::string> actions_;
  std::string qualified_;                             // reused: no allocation per entry
  std::vector<std::pair<uint32_t, uint8_t>> fields_;  // reused: the entry's fields
  std::string last_collection_;                       // the entry fields_ was made from
  std::string last_fields_;
  uint64_t last_visited_seq_ = 0;
  uint64_t epoch_ = 0;
};

}  // namespace

Result<BreachQuery> MakeQuery(std::optional<std::string> principal, std::optional<std::string> user,
                              std::string_view from, std::string_view to) {
  COFFRE_ASSIGN_OR_RETURN(int64_t f, ParseTime(from, TimeBound::kFrom, "'from'"));
  COFFRE_ASSIGN_OR_RETURN(int64_t t, ParseTime(to, TimeBound::kTo, "'to'"));
  if (t < f) return Fail(ErrorCode::kInvalidArgument, "'to' is before 'from'");
  if (!principal && !user)
    return Fail(ErrorCode::kInvalidArgument, "a breach report names a principal");
  return BreachQuery{std::move(principal), std::move(user), f, t};
}

Result<BreachReport> BuildBreachReport(storage::SpaceHandle store, const schema::Schema& schema,
                                       const std::string& anchor_path, const BreachQuery& query,
                                       int64_t now_ms, const BuildOptions& options) {
  if (!query.principal && !query.user) {
    return Fail(ErrorCode::kInvalidArgument, "a breach report names a principal or a user");
  }
  if (query.to_ms < query.from_ms) {
    return Fail(ErrorCode::kInvalidArgument,
                "the window ends before it starts ('to' is before 'from')");
  }
  BreachReport r;
  r.query = query;
  r.generated_ms = now_ms;
  r.anchor_path = anchor_path;
  // One collector per part of the walk (parts run on their own threads).
  const unsigned threads = options.threads != 0
                               ? options.threads
                               : std::clamp(std::thread::hardware_concurrency(), 1u, kMaxThreads);
  std::vector<std::unique_ptr<Collector>> collectors;
  for (unsigned i = 0; i < threads; ++i)
    collectors.push_back(std::make_unique<Collector>(query, schema));
  COFFRE_ASSIGN_OR_RETURN(
      r.verification, audit::VerifyAllChains(store, anchor_path, options.chain_id,
                                             {.from_ms = query.from_ms,
                                              .to_ms = query.to_ms,
                                              .threads = threads,
                                              .min_part_entries = options.min_part_entries,
                                              .visit = [&](size_t part, const audit::EntryView& e) {
                                                collectors[part]->Visit(e);
                                              }}));
  // Nothing read from a log that fails verification is reported: the
  // report says where the log was altered instead.
  if (!r.verification.ok) return r;
  for (unsigned i = 1; i < threads; ++i) collectors[0]->Absorb(*collectors[i]);
  collectors[0]->Finish(r, options.is_canary);
  if (r.entries_matched > 0) return r;

  // A quiet window: was the name ever used at all? The index says yes at
  // once; its "no" is confirmed on the verified log (module comment).
  bool principal_named = !query.principal, user_named = !query.user;
  // A cluster vault's chains have their own indexes: the walk decides.
  const bool by_index = options.chain_id.empty();
  if (query.principal && by_index) {
    COFFRE_ASSIGN_OR_RETURN(principal_named, audit::IndexNames(store, false, *query.principal));
  }
  if (query.user && by_index) {
    COFFRE_ASSIGN_OR_RETURN(user_named, audit::IndexNames(store, true, *query.user));
  }
  if (!principal_named || !user_named) {
    std::atomic<bool> seen_principal = principal_named, seen_user = user_named;
    COFFRE_ASSIGN_OR_RETURN(
        audit::VerifyReport whole,
        audit::VerifyAllChains(store, anchor_path, options.chain_id,
                               {.threads = threads,
                                .min_part_entries = options.min_part_entries,
                                .visit = [&](size_t, const audit::EntryView& e) {
                                  if (query.principal && e.principal == *query.principal) {
                                    seen_principal.store(true, std::memory_order_relaxed);
                                  }
                                  if (query.user && e.on_behalf_of == *query.user) {
                                    seen_user.store(true, std::memory_order_relaxed);
                                  }
                                }}));
    if (!whole.ok) {
      // The answer cannot be trusted: the report fails as a tampered window does.
      r.verification = std::move(whole);
      return r;
    }
    principal_named = seen_principal.load();
    user_named = seen_user.load();
  }
  // The names are not repeated: an end user's name may be a person's.
  if (!principal_named) {
    return Fail(
        ErrorCode::kNotFound,
        "no audit entry has ever named this principal: it never made a request (check the name)");
  }
  if (!user_named) {
    return Fail(ErrorCode::kNotFound,
                "no audit entry has ever named this user: no request was ever made on its behalf "
                "(check the name)");
  }
  return r;
}

}  // namespace coffre::report
