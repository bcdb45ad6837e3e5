#!/usr/bin/env bash
# The Debian package, for real (issue 15): packs the build (cpack), then
#   dpkg -i      installs the binary, a man page per command group (each
#                renders without a groff warning and has a NAME line), the
#                unit (systemd-analyze verify, man pages included), the
#                example config, the system user coffre and /var/lib/coffre;
#   dpkg -r      removes the package's files, keeps the vault under
#                /var/lib/coffre byte for byte, and an operator's file in
#                /etc/coffre;
#   dpkg -i, dpkg --purge   the same, and purge keeps them too.
# The vault is made by the installed `coffre init`, run as root: it is the
# user coffre's.
# Needs root and dpkg; leaves the machine as it found it (no package, no user
# it created, no directory it created). Exit 77 (skipped) when it cannot run.
#   tests/packaging/deb_test.sh BUILD_DIR CPACK SOURCE_DIR
set -euo pipefail

build=${1:?usage: deb_test.sh BUILD_DIR CPACK SOURCE_DIR}
cpack=${2:?usage: deb_test.sh BUILD_DIR CPACK SOURCE_DIR}
src=${3:?usage: deb_test.sh BUILD_DIR CPACK SOURCE_DIR}
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }

[[ $(id -u) -eq 0 ]] || skip "dpkg -i needs root"
command -v dpkg >/dev/null || skip "no dpkg on this machine"
# One package test at a time on this machine, whichever tree runs it.
exec 9>/var/lock/coffre-deb-test.lock
flock -w 300 9 || fail "another package test holds /var/lock/coffre-deb-test.lock"
if dpkg-query -W -f='${Status}' coffre 2>/dev/null | grep -q 'installed'; then
  skip "a coffre package is installed here; the test would remove it"
fi

had_user=0; getent passwd coffre >/dev/null && had_user=1
had_group=0; getent group coffre >/dev/null && had_group=1
had_lib=0; [[ -e /var/lib/coffre ]] && had_lib=1
had_etc=0; [[ -e /etc/coffre ]] && had_etc=1
vault=/var/lib/coffre/debtest-$$
operator_file=/etc/coffre/debtest-$$.toml
tmp=$(mktemp -d)

cleanup() {
  dpkg --purge coffre >/dev/null 2>&1 || true
  rm -rf "$vault" "$vault".* "$operator_file"
  ((had_user)) || userdel coffre >/dev/null 2>&1 || true
  ((had_group)) || groupdel coffre >/dev/null 2>&1 || true
  ((had_lib)) || rmdir /var/lib/coffre 2>/dev/null || true
  ((had_etc)) || rmdir /etc/coffre 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Pack what the build made: stripped and uncompressed, the quickest to pack
# and unpack (make deb's is a stripped Release binary, xz).
"$cpack" -G DEB -B "$tmp/out" --config "$build/CPackConfig.cmake" \
  -D CPACK_DEBIAN_COMPRESSION_TYPE=none -D CPACK_STRIP_FILES=ON >"$tmp/cpack.log" 2>&1 ||
  fail "cpack: $(cat "$tmp/cpack.log")"
version=$("$build/coffre" --version | head -n1 | cut -d' ' -f2)
deb=$tmp/out/coffre_${version}_amd64.deb
[[ -f "$deb" ]] || fail "no $deb: $(ls "$tmp/out")"

install_deb() {
  dpkg -i "$deb" >"$tmp/dpkg.log" 2>&1 || fail "dpkg -i: $(cat "$tmp/dpkg.log")"
}

# The package's files, as installed; with "full", the man pages and the unit too.
check_installed() {
  [[ -x /usr/bin/coffre ]] || fail "no /usr/bin/coffre"
  [[ $(/usr/bin/coffre --version | head -n1) == "coffre $version" ]] || fail "coffre --version"
  [[ -f /lib/systemd/system/coffre@.service ]] || fail "no unit"
  [[ -f /etc/coffre/coffre.example.toml ]] || fail "no example config"
  getent passwd coffre >/dev/null || fail "no user coffre"
  local uid home shell
  IFS=: read -r _ _ uid _ _ home shell < <(getent passwd coffre)
  ((uid < 1000)) || fail "coffre is not a system user (uid $uid)"
  [[ "$home" == /var/lib/coffre ]] || fail "coffre's home is $home"
  [[ "$shell" == */nologin || "$shell" == /bin/false ]] || fail "coffre has a login shell: $shell"
  getent group coffre >/dev/null || fail "no group coffre"
  [[ $(stat -c '%U:%G %a' /var/lib/coffre) == "coffre:coffre 750" ]] ||
    fail "/var/lib/coffre is $(stat -c '%U:%G %a' /var/lib/coffre)"
  [[ $(stat -c '%U:%G %a' /etc/coffre) == "root:coffre 750" ]] ||
    fail "/etc/coffre is $(stat -c '%U:%G %a' /etc/coffre)"
  [[ "${1:-}" == full ]] || return 0
  # A man page per command group of `coffre --help`, and coffre(1).
  local groups page
  groups=$(/usr/bin/coffre --help | sed -n '/^Subcommands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }')
  [[ -n "$groups" ]] || fail "no command groups in coffre --help"
  for page in coffre $(sed 's/^/coffre-/' <<<"$groups"); do
    local f=/usr/share/man/man1/$page.1.gz
    [[ -f "$f" ]] || fail "no man page $f"
    local warnings
    warnings=$(zcat "$f" | groff -man -Tutf8 -ww -z 2>&1) || fail "groff $f"
    [[ -z "$warnings" ]] || fail "groff warns on $f: $warnings"
    lexgrog "$f" | grep -q "\"$page - " || fail "$f has no NAME line: $(lexgrog "$f")"
    man -l "$f" 2>/dev/null | grep -q "^SYNOPSIS" || fail "man -l $f shows no SYNOPSIS"
  done
  # The installed unit, with the real binary and man pages.
  local out
  out=$(systemd-analyze verify coffre@debtest.service 2>&1) || fail "systemd-analyze verify: $out"
  [[ -z "$out" ]] || fail "systemd-analyze verify warns: $out"
}

# Files dpkg put in place are gone; the vault, its journal and anchor, and
# the operator's file are as they were.
check_removed() {
  local f
  for f in /usr/bin/coffre /lib/systemd/system/coffre@.service /usr/share/man/man1/coffre.1.gz \
    /usr/share/man/man1/coffre-serve.1.gz; do
    [[ ! -e "$f" ]] || fail "$1 left $f"
  done
  (cd /var/lib/coffre && find "$(basename "$vault")"* -type f -exec sha256sum {} + | sort) \
    >"$tmp/after" || fail "$1 removed the vault"
  diff "$tmp/before" "$tmp/after" >&2 || fail "$1 changed the vault"
  [[ $(stat -c '%U:%G' "$vault") == "coffre:coffre" ]] || fail "$1 changed the vault's owner"
  [[ -f "$operator_file" ]] || fail "$1 removed an operator's $operator_file"
}

install_deb
check_installed full

# A vault, made by the installed coffre run as root: it runs as coffre, the
# owner of /var/lib/coffre, so the vault is the service's (src/cli/run_as_owner.h).
chmod 0755 "$tmp"
install -m 0644 "$src/examples/people.toml" "$tmp/people.toml"
/usr/bin/coffre init "$vault" --schema "$tmp/people.toml" >"$tmp/init.log" 2>&1 ||
  fail "coffre init $vault: $(cat "$tmp/init.log")"
strays=$(find "$vault" "$vault".* \( ! -user coffre -o ! -group coffre \) -printf '%p %u:%g\n')
[[ -z "$strays" ]] || fail "coffre init as root left files not coffre's: $strays"
echo 'listen = "127.0.0.1:8443"' >"$operator_file"
(cd /var/lib/coffre && find "$(basename "$vault")"* -type f -exec sha256sum {} + | sort) >"$tmp/before"

dpkg -r coffre >"$tmp/dpkg.log" 2>&1 || fail "dpkg -r: $(cat "$tmp/dpkg.log")"
check_removed "dpkg -r"
# A conffile stays until purge (Debian policy).
[[ -f /etc/coffre/coffre.example.toml ]] || fail "dpkg -r removed the example config (a conffile)"
getent passwd coffre >/dev/null || fail "dpkg -r removed the user coffre"

install_deb
check_installed
dpkg --purge coffre >"$tmp/dpkg.log" 2>&1 || fail "dpkg --purge: $(cat "$tmp/dpkg.log")"
check_removed "dpkg --purge"
[[ ! -e /etc/coffre/coffre.example.toml ]] || fail "dpkg --purge left the example config"
# The user stays: the vaults it owns remain (docs/adr/0031-debian-package.md).
getent passwd coffre >/dev/null || fail "dpkg --purge removed the user coffre"
dpkg-query -W -f='${Status}' coffre 2>/dev/null | grep -q 'installed' && fail "still installed"
echo "ok"
