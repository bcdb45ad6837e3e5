#!/usr/bin/env bash
# packaging/coffre@.service passes `systemd-analyze verify` without a single
# warning and `systemd-analyze security --offline=true --threshold=20` (an
# exposure of 2.0 or better), and keeps its write access to the vault, its
# erasure journal and its audit anchor. Two self-checks prove the checks can
# fail: a misspelt directive and a unit stripped of its sandbox.
#   tests/packaging/unit_test.sh packaging/coffre@.service
set -euo pipefail

unit=${1:?usage: unit_test.sh UNIT_FILE}
fail() { echo "FAIL: $*" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# verify checks that ExecStart's binary exists: in a scratch root holding a
# stand-in /usr/bin/coffre and the host's units (sysinit.target, ...), so the
# test needs no installed coffre. The man pages are checked by the package
# test (tests/packaging/deb_test.sh), where they are installed.
root=$tmp/root
mkdir -p "$root/usr/bin" "$root/bin" "$root/etc/systemd/system" "$root/lib/systemd"
cp -r /lib/systemd/system "$root/lib/systemd/"
printf '#!/bin/sh\nexit 0\n' >"$root/usr/bin/coffre"
chmod 0755 "$root/usr/bin/coffre"
cp /bin/kill "$root/bin/kill"

# verify UNIT_FILE: nothing on stdout or stderr, exit 0.
verify() {
  cp "$1" "$root/etc/systemd/system/coffre@.service"
  systemd-analyze verify --root="$root" --man=no coffre@people.service 2>&1
}
# security UNIT_FILE: exit status of systemd-analyze security; its last line on stdout.
security() {
  mkdir -p "$tmp/sec"
  cp "$1" "$tmp/sec/coffre@.service"
  ln -sf coffre@.service "$tmp/sec/coffre@people.service"
  local rc=0
  out=$(systemd-analyze security --offline=true --threshold=20 --no-pager \
    "$tmp/sec/coffre@people.service" 2>&1) || rc=$?
  echo "$out" | grep 'Overall exposure level'
  return $rc
}

out=$(verify "$unit") || fail "systemd-analyze verify failed: $out"
[[ -z "$out" ]] || fail "systemd-analyze verify warns: $out"

line=$(security "$unit") || fail "systemd-analyze security above 2.0: $line"
exposure=$(sed -E 's/.*: ([0-9]+\.[0-9]+) .*/\1/' <<<"$line")
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure above 2.0"
echo "exposure $exposure"

# The claims of the unit, by directive.
want() { grep -qxF "$1" "$unit" || fail "$unit lacks '$1'"; }
want 'User=coffre'
want 'ExecStart=/usr/bin/coffre serve /var/lib/coffre/%i --config /etc/coffre/%i.toml'
want 'ReadWritePaths=/var/lib/coffre/%i /var/lib/coffre/%i.erasures /var/lib/coffre/%i.audit-anchor'
want 'ProtectSystem=strict'
want 'CapabilityBoundingSet='
want 'NoNewPrivileges=yes'
want 'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'
want 'UMask=0077'
[[ $(grep -c '^ReadWritePaths=' "$unit") -eq 1 ]] || fail "more than one ReadWritePaths="
! grep -qE '^(StateDirectory|RuntimeDirectory|LogsDirectory|CacheDirectory)=' "$unit" ||
  fail "a *Directory= would make more of /var writable"

# Self-check 1: a misspelt directive is a warning, and the test sees it.
sed 's/^ProtectSystem=/ProtectSytem=/' "$unit" >"$tmp/typo.service"
out=$(verify "$tmp/typo.service") || true
[[ "$out" == *"Unknown key"* ]] || fail "self-check: a misspelt directive went unnoticed"

# Self-check 2: without its sandbox the unit fails the threshold.
sed -n '1,/^# The file system/p' "$unit" | grep -v '^# The file system' >"$tmp/bare.service"
if line=$(security "$tmp/bare.service"); then
  fail "self-check: an unsandboxed unit passed: $line"
fi
echo "ok"
