#include "retention/retention.h"

#include <algorithm>
#include <set>

#include "common/bytes.h"
#include "storage/store.h"

namespace coffre::retention {
namespace {

using storage::Space;

constexpr std::string_view kHoldPrefix = "hold/";
constexpr size_t kPage = 512;

std::string HoldKey(std::string_view subject) {
  std::string k(kHoldPrefix);
  k += subject;
  return k;
}

// "delete_after 3y from last_contact": names and periods, never a value.
std::string RuleText(const schema::RetentionRule& r, bool del) {
  std::string t = del ? "delete_after " + schema::FormatDuration(r.delete_after)
                      : "archive_after " + schema::FormatDuration(*r.archive_after);
  t += " from " + r.from;
  if (r.category != schema::RetentionRule::Category::kNone) {
    t += " (" + std::string(schema::CategoryName(r.category)) + ")";
  }
  return t;
}

}  // namespace

// One record seen by a walk: where it is and when its next action falls.
struct Retention::Visit {
  const schema::Collection* collection;
  const vault::Record* record;
  bool archived;
  std::optional<int64_t> base;  // nullopt: not due (client without end date)
  bool activity_unknown;
};

Result<size_t> HoldEraser::AddErasure(std::string_view subject, storage::Store& store,
                                      storage::WriteBatch& batch) {
  COFFRE_ASSIGN_OR_RETURN(auto hold, store.Get(Space::kRetention, HoldKey(subject)));
  if (!hold) return size_t{0};
  batch.Delete(Space::kRetention, HoldKey(subject));
  return size_t{1};
}

Status Retention::SetHold(std::string_view subject, std::string_view by) {
  COFFRE_ASSIGN_OR_RETURN(bool known, vault_.HasSubject(subject));
  if (!known) return Fail(ErrorCode::kNotFound, "unknown subject");
  std::string v;
  AppendBigEndian64(v, static_cast<uint64_t>(clock_.NowUnixSeconds()));
  v += by;
  auto batch = holds_.NewBatch();
  batch->Put(Space::kRetention, HoldKey(subject), v);
  // A sweep re-reads the hold under the same lock before it acts on a
  // record: once this returns, no record of the subject is archived or
  // deleted.
  std::lock_guard lock(act_mu_);
  return holds_.Write(*batch);
}

Status Retention::ReleaseHold(std::string_view subject) {
  if (subject.size() != kIdBytes)
    return Fail(ErrorCode::kInvalidArgument, "a subject id is 16 bytes");
  COFFRE_ASSIGN_OR_RETURN(auto h, holds_.Get(Space::kRetention, HoldKey(subject)));
  if (!h) return Fail(ErrorCode::kNotFound, "the subject is not under a legal hold");
  auto batch = holds_.NewBatch();
  batch->Delete(Space::kRetention, HoldKey(subject));
  return holds_.Write(*batch);
}

Result<std::optional<Hold>> Retention::GetHold(std::string_view subject) {
  if (subject.size() != kIdBytes)
    return Fail(ErrorCode::kInvalidArgument, "a subject id is 16 bytes");
  COFFRE_ASSIGN_OR_RETURN(auto v, holds_.Get(Space::kRetention, HoldKey(subject)));
  if (!v) return std::optional<Hold>();
  if (v->size() < 8) return Fail(ErrorCode::kDataLoss, "a legal hold entry is malformed");
  return std::optional<Hold>(
      Hold{std::string(subject), static_cast<int64_t>(ReadBigEndian64(*v)), v->substr(8)});
}

Result<std::vector<Hold>> Retention::ListHolds() {
  std::vector<Hold> out;
  bool bad = false;
  COFFRE_TRY(
      holds_.Scan(Space::kRetention, kHoldPrefix, [&](std::string_view k, std::string_view v) {
        if (k.size() != kHoldPrefix.size() + kIdBytes || v.size() < 8) {
          bad = true;
          return false;
        }
        out.push_back({std::string(k.substr(kHoldPrefix.size())),
                       static_cast<int64_t>(ReadBigEndian64(v)), std::string(v.substr(8))});
        return true;
      }));
  if (bad) return Fail(ErrorCode::kDataLoss, "a legal hold entry is malformed");
  return out;
}

Result<std::optional<int64_t>> Retention::BaseOf(const schema::Collection& c,
                                                 const vault::Record& r, bool& activity_unknown) {
  const schema::RetentionRule& rule = *c.retention;
  activity_unknown = false;
  if (!rule.FromLastActivity()) {
    for (const vault::FieldValue& f : r.fields) {
      if (f.name == rule.from) {
        if (auto date = schema::DateToUnixSeconds(f.value)) return std::optional<int64_t>(*date);
      }
    }
    // A client's relationship without an end goes on: not due.
    if (rule.category == schema::RetentionRule::Category::kClient) return std::optional<int64_t>();
  }
  COFFRE_ASSIGN_OR_RETURN(auto last, vault_.LastActivity(r.subject, c.name, r.id));
  activity_unknown = !last;
  return last;
}

template <typename F>
Status Retention::ForEachRecord(F&& visit, Missed& missed) {
  for (const schema::Collection& c : vault_.schema().collections()) {
    if (!c.retention) continue;
    for (bool archived : {false, true}) {
      std::string after;
      while (true) {
        // One record that no longer opens must not keep every other past
        // its rule online.
        COFFRE_ASSIGN_OR_RETURN(vault::RecordPage page,
                                vault_.WalkRecords(c.name, archived, after, kPage));
        missed.gone += page.gone;
        missed.unreadable += page.unreadable.size();
        for (const vault::Record& r : page.records) {
          Visit v{&c, &r, archived, std::nullopt, false};
          auto base = BaseOf(c, r, v.activity_unknown);
          if (IsNotFound(base)) {
            ++missed.gone;  // its membership went with a deletion or an erasure since
            continue;
          }
          if (!base) return Fail(base.error());
          v.base = *base;
          COFFRE_TRY(visit(v));
        }
        if (!page.more) break;
        after = page.last;
      }
    }
  }
  return Ok();
}

// One sweep's state: what it found and did so far.
struct Retention::Sweeping {
  SweepResult out;
  std::set<std::string> held;      // subjects under a hold when the sweep began
  std::set<std::string> held_due;  // held subjects with a record due
  Missed missed;
};

namespace {

// A record deleted or erased since the walk read it (kNotFound: EraseSubject
// does not take act_mu_) or one that does not open (kDataLoss) is counted
// and skipped: true then. Any other failure stops the sweep.
template <typename R>
bool CountedAsMissed(const R& r, size_t& gone, size_t& unreadable) {
  size_t* count = IsNotFound(r)                                  ? &gone
                  : !r && r.error().code == ErrorCode::kDataLoss ? &unreadable
                                                                 : nullptr;
  if (count != nullptr) ++*count;
  return count != nullptr;
}

// Whether a record whose period started at `base` is due at `now`; `del`
// says whether for deletion (else for archiving). nullopt: never due.
bool Due(const schema::RetentionRule& rule, bool archived, int64_t now,
         const std::optional<int64_t>& base, bool& del) {
  if (!base) return false;
  del = now >= schema::AddDuration(*base, rule.delete_after);
  return del || (!archived && rule.archive_after &&
                 now >= schema::AddDuration(*base, *rule.archive_after));
}

}  // namespace

Result<SweepResult> Retention::Sweep() {
  std::lock_guard lock(sweep_mu_);
  Sweeping s;
  s.out.at = clock_.NowUnixSeconds();
  COFFRE_ASSIGN_OR_RETURN(std::vector<Hold> holds, ListHolds());
  for (Hold& h : holds) s.held.insert(std::move(h.subject));
  Status walked = ForEachRecord([&](Visit& v) { return SweepRecord(s, v); }, s.missed);
  SweepResult& out = s.out;
  out.skipped = s.missed.gone;
  out.unreadable = s.missed.unreadable;
  // Whatever happened, shredded keys must not linger in older files, nor
  // the index entries of archived records (ADR 0012: a copied index
  // reveals nothing about the archive).
  Status compacted = out.deleted > 0 || out.archived > 0 ? vault_.CompactDeleted() : Ok();
  out.held_subjects.assign(s.held_due.begin(), s.held_due.end());
  audit::Entry summary;
  summary.principal = std::string(kPrincipal);
  summary.action = "retention.sweep";
  summary.outcome = walked && compacted ? "allowed" : "error";
  summary.reason =
      std::to_string(out.archived) + " archived, " + std::to_string(out.deleted) + " deleted, " +
      std::to_string(out.held) + " held" +
      (out.unreadable > 0 ? ", " + std::to_string(out.unreadable) + " unreadable" : "");
  summary.source = std::string(kSource);
  auto appended = audit_.Append(std::move(summary));
  if (!walked) return Fail(walked.error());
  if (!compacted) return Fail(compacted.error());
  if (!appended) return Fail(appended.error());
  return std::move(out);
}

Status Retention::SweepRecord(Sweeping& s, Visit& v) {
  const schema::RetentionRule& rule = *v.collection->retention;
  if (v.activity_unknown) {
    // Written before coffre tracked activity: its period starts now.
    Status stamped =
        vault_.StampUnknownActivity(v.record->subject, v.collection->name, v.record->id, s.out.at);
    if (IsNotFound(stamped)) {
      ++s.missed.gone;
      return Ok();
    }
    COFFRE_TRY(stamped);
    ++s.out.stamped;
    v.base = s.out.at;
  }
  bool del = false;
  if (!Due(rule, v.archived, s.out.at, v.base, del)) return Ok();
  // Decided on what the walk read, which may be a page old: under
  // act_mu_, the hold and (for an online record, which can be written)
  // the record are read again, so that a hold set or a write made since
  // is seen (docs/retention.md, "Sweep").
  std::lock_guard act(act_mu_);
  bool is_held = s.held.count(v.record->subject) != 0;
  if (!is_held) {
    COFFRE_ASSIGN_OR_RETURN(auto h, holds_.Get(Space::kRetention, HoldKey(v.record->subject)));
    is_held = h.has_value();
  }
  if (is_held) {
    ++s.out.held;
    s.held_due.insert(v.record->subject);
    return Ok();
  }
  if (!v.archived) {
    auto now = vault_.Get(v.collection->name, v.record->id);
    if (CountedAsMissed(now, s.missed.gone, s.missed.unreadable)) return Ok();
    if (!now) return Fail(now.error());
    bool unknown = false;
    auto base = BaseOf(*v.collection, *now, unknown);
    if (IsNotFound(base)) {
      ++s.missed.gone;
      return Ok();
    }
    if (!base) return Fail(base.error());
    if (unknown) *base = s.out.at;  // stamped above
    if (!Due(rule, v.archived, s.out.at, *base, del)) return Ok();
  }
  return Act(s, v, del);
}

Status Retention::Act(Sweeping& s, const Visit& v, bool del) {
  const std::string& collection = v.collection->name;
  const std::string& id = v.record->id;
  // Deletions are journalled one by one and compacted once, after the sweep.
  Status done = !del         ? vault_.ArchiveRecord(collection, id)
                : v.archived ? vault_.DeleteArchived(collection, id, vault::Compaction::kDeferred)
                             : vault_.DeleteRecord(collection, id, vault::Compaction::kDeferred);
  if (CountedAsMissed(done, s.missed.gone, s.missed.unreadable)) return Ok();
  COFFRE_TRY(done);
  ++(del ? s.out.deleted : s.out.archived);
  audit::Entry e;
  e.principal = std::string(kPrincipal);
  e.action = del ? "retention.delete" : "retention.archive";
  e.collection = collection;
  e.record_id = id;
  e.subjects = {v.record->subject};
  e.outcome = "allowed";
  e.reason =
      RuleText(*v.collection->retention, del) + (del && v.archived ? ", from the archive" : "");
  e.source = std::string(kSource);
  COFFRE_TRY(audit_.Append(std::move(e)));
  return Ok();
}

Result<Plan> Retention::Report(size_t limit) {
  Plan plan;
  plan.now = clock_.NowUnixSeconds();
  COFFRE_ASSIGN_OR_RETURN(std::vector<Hold> holds, ListHolds());
  std::set<std::string> held;
  for (Hold& h : holds) held.insert(std::move(h.subject));
  CollectionPlan* current = nullptr;
  auto by_due = [](const PlannedRecord& a, const PlannedRecord& b) {
    return a.due != b.due ? a.due < b.due : a.id < b.id;
  };
  auto trim = [&](CollectionPlan& cp, size_t keep) {
    if (cp.records.size() <= keep) return;
    std::nth_element(cp.records.begin(), cp.records.begin() + static_cast<std::ptrdiff_t>(keep),
                     cp.records.end(), by_due);
    cp.records.resize(keep);
    cp.truncated = true;
  };
  Missed missed;  // the report lists what it can read
  COFFRE_TRY(ForEachRecord(
      [&](Visit& v) -> Status {
        if (current == nullptr || current->collection != v.collection->name) {
          if (current != nullptr) trim(*current, limit);
          plan.collections.push_back({});
          current = &plan.collections.back();
          current->collection = v.collection->name;
          current->rule = *v.collection->retention;
        }
        CollectionPlan& cp = *current;
        (v.archived ? cp.archived : cp.online)++;
        if (v.activity_unknown) v.base = plan.now;
        if (!v.base) {
          ++cp.undated;
          return Ok();
        }
        const schema::RetentionRule& rule = cp.rule;
        PlannedRecord p;
        p.id = v.record->id;
        p.subject = v.record->subject;
        p.archived = v.archived;
        p.activity_unknown = v.activity_unknown;
        p.held = held.count(p.subject) != 0;
        const int64_t delete_due = schema::AddDuration(*v.base, rule.delete_after);
        if (!v.archived && rule.archive_after &&
            schema::AddDuration(*v.base, *rule.archive_after) < delete_due &&
            plan.now < delete_due) {
          p.action = "archive";
          p.due = schema::AddDuration(*v.base, *rule.archive_after);
        } else {
          p.action = "delete";
          p.due = delete_due;
        }
        if (p.due <= plan.now) {
          ++cp.due_now;
          if (p.held) ++cp.held;
        }
        cp.records.push_back(std::move(p));
        if (cp.records.size() > 2 * limit + 64) trim(cp, limit);
        return Ok();
      },
      missed));
  if (current != nullptr) trim(*current, limit);
  // Collections with a rule but no record are listed too.
  std::vector<CollectionPlan> ordered;
  for (const schema::Collection& c : vault_.schema().collections()) {
    if (!c.retention) continue;
    auto it = std::find_if(plan.collections.begin(), plan.collections.end(),
                           [&](const CollectionPlan& cp) { return cp.collection == c.name; });
    if (it != plan.collections.end()) {
      ordered.push_back(std::move(*it));
    } else {
      ordered.push_back({});
      ordered.back().collection = c.name;
      ordered.back().rule = *c.retention;
    }
    std::sort(ordered.back().records.begin(), ordered.back().records.end(), by_due);
  }
  plan.collections = std::move(ordered);
  return plan;
}

}  // namespace coffre::retention
