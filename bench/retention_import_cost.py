#!/usr/bin/env python3
"""The import cost of last-activity tracking (docs/retention.md).

Every write of a record stamps its last activity in the subject membership
entry it writes anyway (8 bytes, one clock read per import chunk). This
times `coffre import` of COUNT generated people, end to end through the CLI,
in three variants, alternating them run by run so that machine noise hits
all three, and prints the medians as Markdown for bench/RESULTS.md:

  untracked   BIN_UNTRACKED, examples/people.toml without its rule: a build
              whose importer writes the membership value empty, as coffre
              did before retention (build it from this tree with
              `activity` set to "" in Pipeline::Prepare, src/vault/importer.cc)
  tracked     BIN, the same schema
  rule        BIN, the schema with a last-activity rule instead
              (delete_after = "3y", from last_activity)

Usage: bench/retention_import_cost.py BIN BIN_UNTRACKED [COUNT] [RUNS] [WORKDIR]
"""
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def schemas(work):
    text = (REPO / "examples" / "people.toml").read_text(encoding="utf-8")
    # The example's own rule (from a date field) removed: no rule at all.
    bare = re.sub(r"\n\[collections\.people\.retention\]\n(?:[^\n\[]+\n)*", "\n", text)
    assert "retention]" not in bare, "could not strip the example's rule"
    rule = bare + '\n[collections.people.retention]\ndelete_after = "3y"\n'
    paths = {"bare": work / "bare.toml", "rule": work / "rule.toml"}
    paths["bare"].write_text(bare, encoding="utf-8")
    paths["rule"].write_text(rule, encoding="utf-8")
    return paths


def env():
    return {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}


def import_once(binary, schema, data, work):
    vault = work / "v"
    for p in (vault, Path(f"{vault}.key"), Path(f"{vault}.erasures"), Path(f"{vault}.audit-anchor")):
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    subprocess.run([binary, "init", vault, "--schema", schema], check=True, capture_output=True, env=env())
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    r = subprocess.run([binary, "import", vault, "people", data], check=True, capture_output=True,
                       text=True, env=env())
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["rejected"] == 0, out
    return out["imported"], wall, cpu


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    binary, untracked = sys.argv[1], sys.argv[2]
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 200_000
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    work = Path(sys.argv[5] if len(sys.argv) > 5 else "/tmp/coffre-retention-bench")
    work.mkdir(parents=True, exist_ok=True)
    paths = schemas(work)
    data = work / "people.ndjson"
    with open(data, "w", encoding="utf-8") as f:
        subprocess.run([binary, "gen", "--count", str(count), "--seed", "1"], stdout=f, check=True, env=env())
    variants = [("untracked", untracked, paths["bare"]), ("tracked", binary, paths["bare"]),
                ("rule", binary, paths["rule"])]
    rates = {name: [] for name, _, _ in variants}
    cpus = {name: [] for name, _, _ in variants}  # CPU µs per person, all threads
    load = os.getloadavg()[0]
    for run in range(runs):
        for name, b, s in variants:
            imported, wall, cpu = import_once(b, s, data, work)
            assert imported == count
            rates[name].append(count / wall)
            cpus[name].append(cpu / count * 1e6)
            print(f"run {run + 1} {name}: {count / wall:,.0f} people/s, {cpu / count * 1e6:.2f} CPU us/person",
                  file=sys.stderr)
    base = statistics.median(rates["untracked"])
    base_cpu = statistics.median(cpus["untracked"])
    print(f"{count:,} people, {runs} runs, load average {load:.2f} at start "
          f"(wall: `coffre import` start to exit; CPU: user + system of all its threads):\n")
    print("| what | wall, median | runs | / untracked | CPU per person, median | runs | / untracked |")
    print("|---|---|---|---|---|---|---|")
    labels = {"untracked": "empty membership value (before retention)",
              "tracked": "last activity stamped, schema without a rule",
              "rule": "last activity stamped, last-activity rule"}
    for name, _, _ in variants:
        m = statistics.median(rates[name])
        c = statistics.median(cpus[name])
        shown = " · ".join(f"{r:,.0f}" for r in rates[name])
        shown_cpu = " · ".join(f"{x:.2f}" for x in cpus[name])
        print(f"| {labels[name]} | {m:,.0f} people/s | {shown} | {m / base:.3f} "
              f"| {c:.2f} µs | {shown_cpu} | {c / base_cpu:.3f} |")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
