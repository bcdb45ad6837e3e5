#!/usr/bin/env bash
# scripts/lint picks the files changed against the previous main: HEAD^1 of a
# merge, else the first parent of the newest merge (follow-ups included), or
# LINT_BASE; whitespace-only changes are skipped; a header brings the .cc and
# _test.cc beside it. Checked on a scratch repository (no clang-tidy run).
set -euo pipefail
# The scratch repository has none of the caller's commits: a LINT_BASE set
# for the real run (CI, a fresh-clone check) must not leak into these cases.
unset LINT_BASE
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
cd "$tmp"
git init -q -b main .
g() { git -c user.name=t -c user.email=t@example.org "$@"; }
mkdir -p scripts src/a src/b build
cp "$root/scripts/lint" scripts/lint
for f in src/a/x.cc src/a/x_test.cc src/b/y.cc src/b/z.cc; do printf 'int %s = 1;\n' "v$RANDOM" >"$f"; done
printf 'int x();\n' >src/a/x.h
python3 - <<'PY'
import json
files = ["src/a/x.cc", "src/a/x_test.cc", "src/b/y.cc", "src/b/z.cc"]
json.dump([{"directory": ".", "file": f, "command": "c++ -c " + f} for f in files],
          open("build/compile_commands.json", "w"))
PY
printf 'build/\n' >.gitignore
g add -A && g commit -qm "main 1"
g checkout -qb topic
printf 'int y = 2;\n' >src/b/y.cc            # a real change
sed -i 's/ = 1;/  =  1;/' src/b/z.cc          # whitespace only
printf 'int x(int);\n' >src/a/x.h            # a header
g commit -qam "topic"
g checkout -q main
g merge -q --no-ff -m "merge topic" topic

run() { CLANG_TIDY=true LINT_BUILD_DIR="$tmp/build" scripts/lint --list 2>/dev/null | tr '\n' ' '; }
got=$(run)
[[ "$got" == "src/a/x.cc src/a/x_test.cc src/b/y.cc " ]] || fail "merge HEAD: got '$got'"

printf 'int z = 3;\n' >src/b/z.cc            # a follow-up commit on main
g commit -qam "follow-up"
got=$(run)
[[ "$got" == "src/a/x.cc src/a/x_test.cc src/b/y.cc src/b/z.cc " ]] || fail "follow-up: got '$got'"

got=$(LINT_BASE=HEAD^ run)
[[ "$got" == "src/b/z.cc " ]] || fail "LINT_BASE: got '$got'"
echo "lint_selection_test: ok"
