// bench/breach: the breach report over a large audit log, against a raw
// RocksDB scan of the same entries, in the same run.
//
//   breach_bench [--entries 10000000] [--runs 3] [--dir /tmp] [--keep]
//   breach_bench --reuse /tmp/coffre-breach-bench-PID [--runs 3]   (a kept log)
//
// 1. Fills an audit log with N entries through AuditLog::AppendBatch (groups
//    of 10,000 entries, one synced write each; the server's path appends one
//    request at a time): 1,000 principals, one of them heavy (10% of the
//    entries: a stolen credential reading ~700,000 people), realistic entries
//    (reads with the people schema's fields, some masked; searches with
//    several hits; denials; one second of log time per group), checkpoints
//    every 1,000 entries and the anchor file, exactly as the server writes
//    them.
// 2. Times, per run: the breach report for the heavy principal over the whole
//    window (verification of the chain from the first checkpoint, decoding,
//    collection, and the JSON rendering), and the reference: a raw RocksDB
//    scan of the same entry keys and values (no decoding, no hashing).
//    Runs alternate between the two; the report gives medians and the ratio.
// Output: a Markdown block for bench/RESULTS.md on stdout, progress on stderr.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "audit/audit_log.h"
#include "bench/machine.h"
#include "report/breach_report.h"
#include "report/render.h"
#include "schema/schema.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using namespace coffre;

namespace {

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// CPU time of the process (all threads), user and system.
double CpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

struct Rng {
  uint64_t s = 0x2545F4914F6CDD1DULL;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  uint64_t Below(uint64_t n) { return Next() % n; }
};

// Ids as the vault makes them: 8-byte time-ordered sequence, 8 random bytes.
std::string SubjectId(uint64_t n) {
  std::string id(16, '\0');
  for (int i = 0; i < 8; ++i)
    id[static_cast<size_t>(i)] = static_cast<char>((n + 1'000'000) >> (56 - 8 * i));
  uint64_t r = n * 0x9E3779B97F4A7C15ULL + 0x1234567;
  std::memcpy(id.data() + 8, &r, 8);
  return id;
}

constexpr const char* kFields[] = {"first_name", "last_name", "sex",   "birth_date",
                                   "nir",        "email",     "phone", "postal_address",
                                   "iban",       "agency"};

const char kSchema[] = R"(
version = 1
[collections.people]
fields = [
  { name = "first_name", type = "name", required = true },
  { name = "last_name", type = "name", required = true },
  { name = "sex", type = "enum", required = true, values = ["F", "M"] },
  { name = "birth_date", type = "date", required = true },
  { name = "nir", type = "nir", required = true, searchable = true },
  { name = "email", type = "email", required = true, searchable = true, unique = true },
  { name = "phone", type = "phone", required = true, searchable = true },
  { name = "postal_address", type = "postal_address", required = true },
  { name = "iban", type = "iban", required = true },
  { name = "agency", type = "text", required = true },
]
)";

constexpr uint64_t kPrincipals = 1000;
constexpr uint64_t kPopulation = 5'000'000;  // people in the vault
constexpr uint64_t kHeavyPopulation = 1'000'000;
const std::string kHeavy = "stolen-app";

audit::Entry MakeEntry(Rng& rng, bool heavy) {
  audit::Entry e;
  e.principal = heavy ? kHeavy : "svc-" + std::to_string(rng.Below(kPrincipals - 1));
  if (!heavy && rng.Below(4) == 0) e.on_behalf_of = "user-" + std::to_string(rng.Below(5000));
  e.collection = "people";
  e.purpose = heavy ? "support" : (rng.Below(2) ? "support" : "follow_up");
  e.source = "https:10.0." + std::to_string(rng.Below(256)) + "." + std::to_string(rng.Below(256));
  uint64_t kind = rng.Below(20);
  uint64_t pool = heavy ? kHeavyPopulation : kPopulation;
  if (kind < 15) {  // read: one subject, the role's fields
    e.action = "read";
    e.record_id = SubjectId(rng.Below(pool) + 7'000'000);
    e.subjects = {SubjectId(rng.Below(pool))};
    bool support = e.purpose == "support";
    for (const char* f : kFields) {
      std::string_view name(f);
      if (support && name == "iban") continue;
      bool masked = support && (name == "email" || name == "phone" || name == "nir");
      e.fields.push_back({std::string(name), masked ? audit::kViewMasked : audit::kViewClear});
    }
    e.outcome = "allowed";
  } else if (kind < 18) {  // search: the field and its hits
    e.action = "search";
    uint64_t hits = rng.Below(4);
    for (uint64_t i = 0; i < hits; ++i) e.subjects.push_back(SubjectId(rng.Below(pool)));
    e.fields = {{"email", audit::kViewMasked}};
    e.outcome = "allowed";
  } else {  // denied: out of scope
    e.action = "read";
    e.record_id = SubjectId(rng.Below(pool) + 7'000'000);
    e.outcome = "denied";
    e.reason = "record outside the row scope agency = principal.agency of role 'adviser'";
  }
  return e;
}

void Die(const std::string& what, const Error& e) {
  std::fprintf(stderr, "%s: %s\n", what.c_str(), e.ToString().c_str());
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t entries = 10'000'000;
  int runs = 3;
  std::string base = "/tmp";
  bool keep = false;
  std::string reuse;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--entries" && i + 1 < argc) {
      entries = std::stoull(argv[++i]);
    } else if (a == "--runs" && i + 1 < argc) {
      runs = std::stoi(argv[++i]);
    } else if (a == "--dir" && i + 1 < argc) {
      base = argv[++i];
    } else if (a == "--keep") {
      keep = true;
    } else if (a == "--reuse" && i + 1 < argc) {
      reuse = argv[++i];
      keep = true;
    } else {
      std::fprintf(stderr, "usage: breach_bench [--entries N] [--runs R] [--dir D] [--keep]\n");
      return 2;
    }
  }
  if (!crypto::Init()) return 1;
  const std::string load_at_start = bench::MachineDescription();
  std::string dir =
      reuse.empty() ? base + "/coffre-breach-bench-" + std::to_string(getpid()) : reuse;
  if (reuse.empty()) fs::create_directories(dir);
  const std::string db = dir + "/db";
  const std::string anchor = dir + "/db.audit-anchor";
  auto schema = schema::Schema::Parse(kSchema);
  if (!schema) Die("schema", schema.error());

  // ---- fill
  FakeClock clock(1'767'225'600);  // 2026-01-01
  uint64_t heavy_entries = 0;
  double fill_seconds = 0;
  if (!reuse.empty()) {
    // The heavy principal's entries are counted by the report itself.
    std::fprintf(stderr, "reusing the log in %s\n", dir.c_str());
  } else {
    auto store = storage::OpenRocksStore(
        {.path = db, .create_if_missing = true, .write_buffer_bytes = 256u << 20});
    if (!store) Die("store", store.error());
    auto seed = crypto::SecretKey::Random();
    auto log = audit::AuditLog::Open(storage::SpaceHandle(**store, "audit", audit::kAuditSpaces),
                                     crypto::SigningKey::FromSeed(seed),
                                     {.anchor_path = anchor, .clock = &clock});
    if (!log) Die("audit log", log.error());
    Rng rng;
    auto start = std::chrono::steady_clock::now();
    constexpr uint64_t kGroup = 10'000;
    std::vector<audit::Entry> group;
    for (uint64_t done = 0; done < entries;) {
      group.clear();
      uint64_t n = std::min(kGroup, entries - done);
      for (uint64_t i = 0; i < n; ++i) {
        bool heavy = rng.Below(10) == 0;
        heavy_entries += heavy;
        group.push_back(MakeEntry(rng, heavy));
      }
      auto last = (*log)->AppendBatch(std::move(group));
      group = {};
      if (!last) Die("append", last.error());
      done += n;
      clock.Advance(1);
      if (done % 1'000'000 == 0) {
        std::fprintf(stderr, "filled %llu entries (%.0f s)\n",
                     static_cast<unsigned long long>(done), Seconds(start));
      }
    }
    if (auto s = (*log)->Checkpoint(); !s) Die("checkpoint", s.error());
    log->reset();
    if (auto s = (*store)->Flush(); !s) Die("flush", s.error());
    fill_seconds = Seconds(start);
  }
  std::fprintf(stderr, "filled %llu entries in %.0f s (%llu by %s)\n",
               static_cast<unsigned long long>(entries), fill_seconds,
               static_cast<unsigned long long>(heavy_entries), kHeavy.c_str());

  // ---- measure
  auto store = storage::OpenRocksStore({.path = db, .read_only = true});
  if (!store) Die("store", store.error());
  std::vector<double> report_s, raw_s, verify_s, render_s, cpu_s, verify_cpu_s, ratios;
  uint64_t people = 0, verified = 0, raw_entries = 0, json_bytes = 0;
  for (int run = 0; run < runs; ++run) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t n = 0, bytes = 0;
    auto st =
        (*store)->ScanRangeOnce(storage::Space::kAudit, std::string(1, 'e'), std::string(1, 'f'),
                                [&](std::string_view k, std::string_view v) {
                                  ++n;
                                  bytes += k.size() + v.size();
                                  return true;
                                });
    if (!st) Die("raw scan", st.error());
    double raw = Seconds(t0);
    raw_entries = n;

    // Verification alone, over the same window: what the report adds to it.
    t0 = std::chrono::steady_clock::now();
    const double vcpu0 = CpuSeconds();
    auto v = audit::Verify(storage::SpaceHandle(**store, "audit", 0, audit::kAuditSpaces), anchor,
                           {.from_ms = 0, .to_ms = INT64_MAX, .threads = 2});
    if (!v || !v->ok) {
      std::fprintf(stderr, "verify failed\n");
      return 1;
    }
    verify_s.push_back(Seconds(t0));
    verify_cpu_s.push_back(CpuSeconds() - vcpu0);

    t0 = std::chrono::steady_clock::now();
    const double cpu0 = CpuSeconds();
    auto r = report::BuildBreachReport(
        storage::SpaceHandle(**store, "report", 0, audit::kAuditSpaces), *schema, anchor,
        {.principal = kHeavy, .from_ms = 0, .to_ms = INT64_MAX}, clock.NowUnixMillis());
    if (!r) Die("report", r.error());
    if (!r->verification.ok) {
      std::fprintf(stderr, "verification failed: %s\n", r->verification.problem.c_str());
      return 1;
    }
    auto t_render = std::chrono::steady_clock::now();
    std::string json = report::RenderJson(*r);
    double ours = Seconds(t0);
    render_s.push_back(Seconds(t_render));
    cpu_s.push_back(CpuSeconds() - cpu0);
    people = r->subjects.size();
    if (!reuse.empty()) heavy_entries = r->entries_matched;
    verified = r->verification.entries;
    json_bytes = json.size();
    report_s.push_back(ours);
    raw_s.push_back(raw);
    ratios.push_back(ours / raw);
    std::fprintf(
        stderr,
        "run %d: report %.2f s (render %.2f s, cpu %.2f s; %llu people, %llu entries verified), "
        "verify alone %.2f s (cpu %.2f s), raw scan %.2f s (%llu entries, %.0f MB), ratio %.2f\n",
        run + 1, ours, render_s.back(), cpu_s.back(), static_cast<unsigned long long>(people),
        static_cast<unsigned long long>(verified), verify_s.back(), verify_cpu_s.back(), raw,
        static_cast<unsigned long long>(n), static_cast<double>(bytes) / 1e6, ours / raw);
  }
  if (!reuse.empty()) entries = raw_entries;
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  uint64_t dir_bytes = 0;
  for (const auto& f : fs::recursive_directory_iterator(db)) {
    if (f.is_regular_file()) dir_bytes += f.file_size();
  }
  store->reset();
  if (!keep) fs::remove_all(dir);

  std::printf("### bench/breach — %s\n\n", bench::Today().c_str());
  std::printf("%s\n", load_at_start.c_str());
  std::printf(
      "Audit log of %llu entries (%.1f GB on disk; filled in %.0f s), 1,000 principals; the "
      "heavy one made %llu of them and was exposed to %llu people. %d runs, medians:\n\n",
      static_cast<unsigned long long>(entries), static_cast<double>(dir_bytes) / 1e9, fill_seconds,
      static_cast<unsigned long long>(heavy_entries), static_cast<unsigned long long>(people),
      runs);
  std::printf("| what | median | runs |\n|---|---|---|\n");
  auto row = [&](const char* what, const std::vector<double>& v, const char* unit) {
    std::printf("| %s | **%.2f%s** |", what, Median(v), unit);
    for (size_t i = 0; i < v.size(); ++i) std::printf("%s %.2f", i ? " ·" : "", v[i]);
    std::printf(" |\n");
  };
  row("breach report, heavy principal, whole window, verified, JSON", report_s, " s");
  row("… of which the JSON rendering", render_s, " s");
  row("… CPU time of the report (both cores)", cpu_s, " s");
  row("audit verification alone, same window (no report)", verify_s, " s");
  row("… CPU time of verification alone", verify_cpu_s, " s");
  row("raw RocksDB scan of the same entries", raw_s, " s");
  row("ratio report / raw", ratios, "");
  std::printf("| entries verified | %llu (raw scan: %llu) | |\n",
              static_cast<unsigned long long>(verified),
              static_cast<unsigned long long>(raw_entries));
  std::printf("| JSON report | %.1f MB | |\n", static_cast<double>(json_bytes) / 1e6);
  std::printf("| peak RSS of the benchmark | %ld MB | |\n\n", ru.ru_maxrss / 1024);
  return 0;
}
