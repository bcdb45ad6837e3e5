#!/usr/bin/env bash
# Run as root on a vault another user owns, a command runs as that user and
# leaves no root-owned file behind (issue 15; src/cli/run_as_owner.h), with a
# throwaway system user standing in for coffre:
#   - init in a directory the user owns makes the user's vault;
#   - import, principal add and erase-subject as root write only files of the user;
#   - serve as root runs as the user (its /proc status, its admin socket);
#   - a file only root can read is refused: the command really is the user;
#   - a root-owned vault stays root's.
# Exit 77 (skipped) when not root.
#   tests/packaging/run_as_owner_test.sh COFFRE SOURCE_DIR
set -euo pipefail

coffre=${1:?usage: run_as_owner_test.sh COFFRE SOURCE_DIR}
src=${2:?usage: run_as_owner_test.sh COFFRE SOURCE_DIR}
skip() { echo "SKIPPED: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
[[ $(id -u) -eq 0 ]] || skip "switching to the vault's owner needs root"

user=cofown$$
tmp=$(mktemp -d)
server=""
cleanup() {
  [[ -n "$server" ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null
  rm -rf "$tmp"
  userdel "$user" >/dev/null 2>&1 || true
  groupdel "$user" >/dev/null 2>&1 || true
}
trap cleanup EXIT
useradd --system --user-group --no-create-home --home-dir /nonexistent \
  --shell /usr/sbin/nologin "$user"
uid=$(id -u "$user")

chmod 0755 "$tmp"
cp "$src/examples/people.toml" "$src/examples/people-policy.toml" "$tmp/"
chmod 0644 "$tmp"/*.toml
"$coffre" gen --count 20 >"$tmp/people.ndjson"
chmod 0644 "$tmp/people.ndjson"
lib=$tmp/lib
install -d -m 0750 -o "$user" -g "$user" "$lib"
vault=$lib/people

# Nothing under lib (the vault, its key, journal and anchor) is not the user's.
only_user() {
  local strays
  strays=$(find "$lib" \( ! -user "$user" -o ! -group "$user" \) -printf '%p %u:%g\n')
  [[ -z "$strays" ]] || fail "$1 left files of another owner: $strays"
}

cd "$lib"
"$coffre" init "$vault" --schema "$tmp/people.toml" --policy "$tmp/people-policy.toml" \
  >"$tmp/init.out" 2>&1 || fail "init: $(cat "$tmp/init.out")"
[[ -f "$vault.key" && -f "$vault.erasures" && -f "$vault.audit-anchor" ]] || fail "init made no vault"
only_user "init"

"$coffre" import "$vault" people "$tmp/people.ndjson" --ids-out "$lib/ids.ndjson" \
  >"$tmp/import.out" 2>&1 || fail "import: $(cat "$tmp/import.out")"
only_user "import"
"$coffre" principal add "$vault" crm --kind service --role support_agent \
  >"$tmp/add.out" 2>&1 || fail "principal add: $(cat "$tmp/add.out")"
only_user "principal add"
subject=$(head -n1 "$lib/ids.ndjson" | sed -E 's/.*"subject":"([0-9a-f]+)".*/\1/')
"$coffre" erase-subject "$vault" "$subject" >"$tmp/erase.out" 2>&1 ||
  fail "erase-subject: $(cat "$tmp/erase.out")"
only_user "erase-subject"
"$coffre" audit verify "$vault" >"$tmp/verify.out" 2>&1 || fail "audit verify: $(cat "$tmp/verify.out")"

# The command runs as the user: a file only root may read is not readable.
cp "$tmp/people.ndjson" "$tmp/secret.ndjson"
chmod 0600 "$tmp/secret.ndjson"
if "$coffre" import "$vault" people "$tmp/secret.ndjson" >"$tmp/secret.out" 2>&1; then
  fail "import read a file only root may read: the command ran as root"
fi
grep -qi "permission denied" "$tmp/secret.out" || fail "import's refusal: $(cat "$tmp/secret.out")"
only_user "a refused import"

# serve, started as root, runs as the user.
"$coffre" serve "$vault" --listen 127.0.0.1:0 >"$tmp/serve.out" 2>&1 &
server=$!
for _ in $(seq 1 300); do
  [[ -S "$vault/admin.sock" ]] && break
  kill -0 "$server" 2>/dev/null || fail "serve exited: $(cat "$tmp/serve.out")"
  sleep 0.1
done
[[ -S "$vault/admin.sock" ]] || fail "serve made no admin socket: $(cat "$tmp/serve.out")"
read -r _ ruid euid suid fsuid < <(grep '^Uid:' "/proc/$server/status")
[[ "$ruid $euid $suid $fsuid" == "$uid $uid $uid $uid" ]] ||
  fail "serve runs as uids $ruid $euid $suid $fsuid, not $uid"
[[ $(stat -c %U "$vault/admin.sock") == "$user" ]] || fail "the admin socket is not the user's"
# A command as root reaches the server it runs as (the socket serves its own user only).
"$coffre" principal list "$vault" >"$tmp/list.out" 2>&1 || fail "principal list: $(cat "$tmp/list.out")"
kill "$server"
wait "$server" 2>/dev/null || true
server=""
only_user "serve"

# A root-owned vault stays root's.
cd "$tmp"
"$coffre" init "$tmp/rootvault" --schema "$tmp/people.toml" >"$tmp/rootinit.out" 2>&1 ||
  fail "init as root: $(cat "$tmp/rootinit.out")"
"$coffre" import "$tmp/rootvault" people "$tmp/secret.ndjson" >"$tmp/rootimport.out" 2>&1 ||
  fail "import as root into a root vault: $(cat "$tmp/rootimport.out")"
[[ -z $(find "$tmp/rootvault" "$tmp"/rootvault.* ! -user root) ]] || fail "a root vault changed owner"
echo "ok"
