#!/usr/bin/env bash
# scripts/check-format passes a formatted file and fails (naming it) on a copy
# with one deviation from .clang-format; the repo's style applies to files
# outside the tree.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cp "$root/src/common/status.h" "$tmp/good.h"
clang-format-14 --style="file:$root/.clang-format" -i "$tmp/good.h"
"$root/scripts/check-format" "$tmp/good.h" >"$tmp/out" 2>&1 || fail "formatted file rejected: $(cat "$tmp/out")"

# One deviation: a declaration indented by 3 spaces and a 120-column line.
cp "$tmp/good.h" "$tmp/bad.h"
printf 'namespace x {\n   int  y = 1;\n}  // namespace x\n' >>"$tmp/bad.h"
if "$root/scripts/check-format" "$tmp/good.h" "$tmp/bad.h" >"$tmp/out" 2>&1; then
  fail "misformatted file accepted"
fi
grep -q "not formatted: $tmp/bad.h" "$tmp/out" || fail "bad.h not named: $(cat "$tmp/out")"
grep -q "not formatted: $tmp/good.h" "$tmp/out" && fail "good.h named: $(cat "$tmp/out")"

# Google style is the base: a Google-formatted file that LLVM style would
# change (pointer alignment, 100 columns) passes.
printf 'int* p = nullptr;\nvoid F(int aaaaaaaaaaaaaaaaaaaa, int bbbbbbbbbbbbbbbbbbbbbbbb, int cccccccccccccccccccccccc);\n' >"$tmp/style.cc"
"$root/scripts/check-format" "$tmp/style.cc" >"$tmp/out" 2>&1 || fail "repo style not applied: $(cat "$tmp/out")"
echo "check_format_test: ok"
