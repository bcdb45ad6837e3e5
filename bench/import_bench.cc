// bench/import: coffre's bulk import against raw RocksDB, in the same run.
//
//   import_bench --coffre build/coffre [--count 1000000] [--runs 3] [--dir /tmp]
//
// For each run it
//   1. times `coffre import` of N generated people (the real binary, end to
//      end: parse, validate, normalise, seal, blind-index, unique checks,
//      durable ingestion), and reads its peak RSS;
//   2. measures the shapes of what that import wrote (number and sizes of
//      keys and values per space), then writes the same entries straight
//      into RocksDB with the same batching and durability: sorted files per
//      chunk of rows built on every core, index runs merged per commit group,
//      one atomic ingestion per group, same store options. No parsing,
//      validation, crypto or lookups.
// Runs alternate between the two so that machine noise hits both; the
// report gives medians. Output: a Markdown block for bench/RESULTS.md on
// stdout, progress on stderr.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "bench/machine.h"
#include "gen/people_gen.h"
#include "storage/sorted_file_writer.h"
#include "storage/store.h"

namespace fs = std::filesystem;
using coffre::storage::Space;

namespace {

struct Shape {
  // Per row, in import order: sizes of the record, data-key and membership
  // entries; and the index entries' sizes (any order: their keys are random).
  std::vector<std::pair<uint32_t, uint32_t>> records, keys, subjects, index;
};

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

struct ChildResult {
  int status = -1;
  std::string out;
  long max_rss_kb = 0;
  double cpu_seconds = 0;  // user + system, all threads
};

ChildResult RunChild(const std::vector<std::string>& args) {
  int pipefd[2];
  if (pipe(pipefd) != 0) std::abort();
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], STDOUT_FILENO);
    close(pipefd[0]);
    close(pipefd[1]);
    std::vector<char*> argv;
    argv.reserve(args.size() + 1);
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(pipefd[1]);
  ChildResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof buf)) > 0) r.out.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  struct rusage ru {};
  wait4(pid, &r.status, 0, &ru);
  r.max_rss_kb = ru.ru_maxrss;
  r.cpu_seconds = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                  static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
  return r;
}

Shape MeasureShape(const std::string& dir) {
  Shape shape;
  auto store = coffre::storage::OpenRocksStore({.path = dir, .read_only = true});
  if (!store) {
    std::fprintf(stderr, "cannot open %s: %s\n", dir.c_str(), store.error().ToString().c_str());
    std::exit(1);
  }
  auto collect = [&](Space s, std::vector<std::pair<uint32_t, uint32_t>>& out) {
    auto st = (*store)->Scan(s, "", [&](std::string_view k, std::string_view v) {
      out.emplace_back(static_cast<uint32_t>(k.size()), static_cast<uint32_t>(v.size()));
      return true;
    });
    if (!st) std::exit(1);
  };
  collect(Space::kRecords, shape.records);
  collect(Space::kKeys, shape.keys);
  collect(Space::kSubjects, shape.subjects);
  collect(Space::kIndex, shape.index);
  return shape;
}

// A fast non-cryptographic generator: the reference only needs bytes of the
// right sizes (compression is off, so their entropy does not matter).
struct Bytes {
  uint64_t s = 0x9e3779b97f4a7c15ULL;
  uint64_t Next() {
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return s;
  }
  void Fill(std::string& out, size_t n) {
    out.resize(n);
    for (size_t i = 0; i < n; i += 8) {
      uint64_t v = Next();
      std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
    }
  }
};

struct RawChunk {
  size_t seq = 0;
  std::vector<std::pair<Space, std::string>> files;
  std::vector<std::pair<std::string, std::string>> index;  // sorted
};

// The same pipeline shape as coffre's importer, minus everything but writing.
double RawImport(const std::string& dir, const Shape& shape, size_t chunk_rows, size_t commit_rows,
                 unsigned threads) {
  auto store_r = coffre::storage::OpenRocksStore({.path = dir, .create_if_missing = true});
  if (!store_r) std::exit(1);
  auto& store = **store_r;
  std::string tmp = dir + "/raw-tmp";
  fs::create_directories(tmp);
  size_t rows = shape.records.size();
  size_t chunks = (rows + chunk_rows - 1) / chunk_rows;
  size_t index_per_row = rows ? shape.index.size() / rows : 0;

  auto start = std::chrono::steady_clock::now();
  std::atomic<size_t> next_chunk{0};
  std::mutex mu;
  std::condition_variable cv;
  std::map<size_t, RawChunk> done;

  auto worker = [&](unsigned id) {
    Bytes rng;
    rng.s += id * 0x1234567ULL + 1;
    std::string key, value;
    while (true) {
      size_t c = next_chunk.fetch_add(1);
      if (c >= chunks) return;
      {
        // Bound memory like the importer: stay within a few chunks of the committer.
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return done.size() < 2 * threads + 2; });
      }
      RawChunk chunk;
      chunk.seq = c;
      size_t begin = c * chunk_rows, end = std::min(rows, begin + chunk_rows);
      const std::pair<Space, const std::vector<std::pair<uint32_t, uint32_t>>*> ordered[] = {
          {Space::kRecords, &shape.records},
          {Space::kKeys, &shape.keys},
          {Space::kSubjects, &shape.subjects}};
      for (auto [space, sizes] : ordered) {
        std::string path = tmp + "/" + std::string(coffre::storage::SpaceName(space)) + "-" +
                           std::to_string(c) + ".sst";
        auto w = coffre::storage::SortedFileWriter::Create(path, end - begin);  // as the importer
        for (size_t r = begin; r < end; ++r) {
          auto [kl, vl] = (*sizes)[r];
          // Increasing keys, as coffre's time-ordered ids give: row number first.
          rng.Fill(key, kl);
          uint64_t be = __builtin_bswap64(static_cast<uint64_t>(r));
          std::memcpy(key.data(), &be, std::min<size_t>(8, kl));
          rng.Fill(value, vl);
          if (!(*w)->Add(key, value)) std::exit(1);
        }
        if (!(*w)->Finish()) std::exit(1);
        chunk.files.emplace_back(space, path);
      }
      for (size_t i = begin * index_per_row; i < end * index_per_row && i < shape.index.size();
           ++i) {
        auto [kl, vl] = shape.index[i];
        rng.Fill(key, kl);
        rng.Fill(value, vl);
        chunk.index.emplace_back(key, value);
      }
      std::sort(chunk.index.begin(), chunk.index.end());
      {
        std::lock_guard lock(mu);
        done.emplace(c, std::move(chunk));
      }
      cv.notify_all();
    }
  };

  struct RawGroup {
    size_t number = 0;
    std::vector<std::vector<std::pair<std::string, std::string>>> runs;
    std::vector<std::pair<Space, std::string>> files;
  };
  std::optional<RawGroup> queued;
  bool finished = false;
  auto ingester = [&] {
    while (true) {
      RawGroup g;
      {
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return queued || finished; });
        if (!queued) return;
        g = std::move(*queued);
        queued.reset();
      }
      cv.notify_all();
      std::vector<coffre::storage::IngestSet> sets;
      std::string path = tmp + "/index-" + std::to_string(g.number) + ".sst";
      size_t entries = 0;
      for (const auto& run : g.runs) entries += run.size();
      auto w = coffre::storage::SortedFileWriter::Create(path, entries);  // as the importer
      using Head = std::pair<size_t, size_t>;
      auto after = [&](const Head& a, const Head& b) {
        return g.runs[a.first][a.second] > g.runs[b.first][b.second];
      };
      std::priority_queue<Head, std::vector<Head>, decltype(after)> heap(after);
      for (size_t r = 0; r < g.runs.size(); ++r)
        if (!g.runs[r].empty()) heap.push({r, 0});
      std::string last;
      while (!heap.empty()) {
        auto [r, i] = heap.top();
        heap.pop();
        const auto& e = g.runs[r][i];
        if (e.first != last) {  // random keys: skip the astronomically rare repeat
          if (!(*w)->Add(e.first, e.second)) std::exit(1);
          last = e.first;
        }
        if (i + 1 < g.runs[r].size()) heap.push({r, i + 1});
      }
      if (!(*w)->Finish()) std::exit(1);
      sets.push_back({Space::kIndex, {path}});
      for (Space s : {Space::kRecords, Space::kKeys, Space::kSubjects}) {
        coffre::storage::IngestSet set{s, {}};
        for (auto& [fs_space, p] : g.files)
          if (fs_space == s) set.paths.push_back(p);
        sets.push_back(std::move(set));
      }
      if (!store.IngestAtomically(sets)) std::exit(1);
    }
  };

  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) pool.emplace_back(worker, t);
  std::thread ing(ingester);
  RawGroup group;
  size_t group_rows = 0;
  for (size_t c = 0; c < chunks; ++c) {
    RawChunk chunk;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return done.count(c) > 0; });
      chunk = std::move(done[c]);
      done.erase(c);
    }
    cv.notify_all();
    group.runs.push_back(std::move(chunk.index));
    for (auto& f : chunk.files) group.files.push_back(std::move(f));
    group_rows += chunk_rows;
    if (group_rows >= commit_rows || c + 1 == chunks) {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return !queued; });
      size_t n = group.number;
      queued = std::move(group);
      group = RawGroup{};
      group.number = n + 1;
      group_rows = 0;
      cv.notify_all();
    }
  }
  {
    std::lock_guard lock(mu);
    finished = true;
  }
  cv.notify_all();
  for (auto& t : pool) t.join();
  ing.join();
  return Seconds(start);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string coffre_bin, base = "/tmp";
  uint64_t count = 1'000'000;
  int runs = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--coffre")
      coffre_bin = argv[i + 1];
    else if (a == "--count")
      count = std::stoull(argv[i + 1]);
    else if (a == "--runs")
      runs = std::stoi(argv[i + 1]);
    else if (a == "--dir")
      base = argv[i + 1];
  }
  if (coffre_bin.empty()) {
    std::fprintf(stderr, "usage: import_bench --coffre PATH [--count N] [--runs R] [--dir D]\n");
    return 2;
  }
  coffre_bin = fs::absolute(coffre_bin);
  std::string work = base + "/coffre-import-bench-" + std::to_string(getpid());
  fs::create_directories(work);
  std::string people = work + "/people.ndjson";
  {
    std::ofstream out(people, std::ios::binary);
    coffre::gen::WriteNdjson(out, count, 20261122);
  }
  std::string schema = fs::absolute(fs::path(COFFRE_SOURCE_DIR) / "examples/people.toml");
  const unsigned threads = std::max(1u, std::thread::hardware_concurrency());

  std::vector<double> ours, raw, ratios;
  std::vector<long> rss;
  std::vector<double> cpu_us;  // CPU per person of the whole import process
  double entries_per_person = 0;
  for (int run = 0; run < runs; ++run) {
    std::string vault = work + "/vault-" + std::to_string(run);
    std::string key = work + "/key-" + std::to_string(run);
    auto init = RunChild({coffre_bin, "init", vault, "--schema", schema, "--key-file", key});
    if (init.status != 0) {
      std::fprintf(stderr, "init failed\n");
      return 1;
    }
    auto imp = RunChild({coffre_bin, "import", vault, "people", people, "--key-file", key});
    if (imp.status != 0) {
      std::fprintf(stderr, "import failed\n");
      return 1;
    }
    auto last = imp.out.substr(imp.out.rfind('{'));
    double secs = std::stod(last.substr(last.find("\"seconds\":") + 10));
    unsigned long long imported = std::stoull(last.substr(last.find("\"imported\":") + 11));
    if (imported != count) {
      std::fprintf(stderr, "imported %llu of %llu\n", imported, (unsigned long long)count);
      return 1;
    }
    Shape shape = MeasureShape(vault);
    entries_per_person = static_cast<double>(shape.records.size() + shape.keys.size() +
                                             shape.subjects.size() + shape.index.size()) /
                         count;
    std::string rawdir = work + "/raw-" + std::to_string(run);
    double raw_secs = RawImport(rawdir, shape, 8192, 65536, threads);
    ours.push_back(count / secs);
    raw.push_back(count / raw_secs);
    ratios.push_back(raw_secs / secs);
    rss.push_back(imp.max_rss_kb);
    cpu_us.push_back(imp.cpu_seconds * 1e6 / count);
    std::fprintf(stderr,
                 "run %d: coffre %.0f people/s (%.2f s, %.2f us CPU per person, peak RSS %ld MB), "
                 "raw RocksDB %.0f rows/s (%.2f s), ratio %.2f\n",
                 run + 1, count / secs, secs, cpu_us.back(), imp.max_rss_kb / 1024,
                 count / raw_secs, raw_secs, raw_secs / secs);
    fs::remove_all(vault);
    fs::remove_all(rawdir);
    fs::remove(key);
  }
  fs::remove_all(work);

  std::printf("### bench/import — %s\n\n", coffre::bench::Today().c_str());
  std::printf("%s\n", coffre::bench::MachineDescription().c_str());
  std::printf(
      "%llu generated people (NDJSON, %.1f store entries per person), %d runs, medians:\n\n",
      static_cast<unsigned long long>(count), entries_per_person, runs);
  std::printf("| what | rate | \n|---|---|\n");
  std::printf("| coffre import (end to end, CLI) | %.0f people/s |\n", Median(ours));
  std::printf("| raw RocksDB, same entries and batching | %.0f rows/s |\n", Median(raw));
  std::printf("| ratio coffre / raw | %.2f |\n", Median(ratios));
  std::printf("| coffre import CPU per person (user + sys, process) | %.2f us |\n", Median(cpu_us));
  std::printf("| coffre import peak RSS | %ld MB |\n\n",
              *std::max_element(rss.begin(), rss.end()) / 1024);
  std::printf("Per run (coffre people/s, raw rows/s, ratio, coffre CPU us/person):");
  for (int i = 0; i < runs; ++i)
    std::printf(" %.0f/%.0f/%.2f/%.2f", ours[i], raw[i], ratios[i], cpu_us[i]);
  std::printf("\n");
  return 0;
}
