"""Drill of issue 15 item 6 (online backup and restore), against the real
server and CLI (docs/backup.md, ADR 0036):

- a thread writes people over HTTPS, recording when each write was
  acknowledged, while `coffre backup` runs through the server's admin
  socket;
- after the backup a person that is in it is erased;
- the server stops; the backup is restored into a new directory with the
  master key and the live erasure journal, and served;
- every write acknowledged before the backup started is there, the person
  erased after it is not (404), `coffre audit verify` passes and the log
  names the restore;
- a backup with one byte changed, a file added or removed, or opened with
  another vault's key is refused (exit 6 naming the file, exit 5), and a
  refused restore leaves nothing behind;
- without a server, `coffre backup` opens the vault itself, and a restore in
  place keeps the old anchor as evidence.

People come from `coffre gen`.
"""
import hashlib
import json
import os
import shutil
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import (EXIT_DENIED, EXIT_EXISTS, EXIT_INTEGRITY, EXIT_NOT_FOUND, POLICY, Vault,
                      stop_checked, wait_for)

PEOPLE = "/v1/collections/people/records"

# A writer without subject limits (a role without `limits` is not counted).
LOADER_POLICY = """
[roles.loader]
description = "backup drill writer"

[roles.loader.collections.people]
actions  = ["create", "read"]
purposes = ["admin"]
fields   = { "*" = "clear" }
"""


@pytest.fixture(scope="module")
def vault(coffre_bin, vault_root):
    v = Vault(coffre_bin, vault_root)
    policy = vault_root / "policy.toml"
    policy.write_text(POLICY.read_text() + LOADER_POLICY)
    v.init(policy=policy)
    v.add_principal("loader", "service", "loader")
    yield v
    if v.running():
        stop_checked(v)


def leftovers(root, name):
    """Temporary directories and files a backup or restore must not leave."""
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith(name + ".tmp-") or p.name.startswith(name + ".restore-tmp-"))


def check_manifest(backup):
    """Every file listed with its size and SHA-256, and nothing else."""
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["format"] == "coffre-backup" and manifest["version"] == 1
    listed = {f["path"]: f for f in manifest["files"]}
    on_disk = {str(p.relative_to(backup)) for p in backup.rglob("*") if p.is_file()}
    assert on_disk == set(listed) | {"manifest.json", "manifest.sig"}
    for path, f in listed.items():
        data = (backup / path).read_bytes()
        assert len(data) == f["size"] and hashlib.sha256(data).hexdigest() == f["sha256"], path
    assert "erasures" in listed and "audit-anchor" in listed
    assert any(p.startswith("data/MANIFEST-") for p in listed)
    assert "data/CURRENT" in listed and "data/tls/cert.pem" in listed
    assert not any(p.endswith(".key") or p.endswith("LOCK") or "admin.sock" in p for p in listed)
    return manifest


def test_backup_under_load_then_restore_keeps_every_acknowledged_write_and_every_erasure(vault):
    v = vault
    people = v.gen(4000, 1506, v.root / "people.ndjson")  # more than the writer reaches
    v.start()
    acked = []          # (monotonic time acknowledged, {"id","subject"})
    failures = []
    stop = threading.Event()

    def writer():
        client = v.client("loader", "admin")
        try:
            for p in people:
                if stop.is_set():
                    break
                r = client.post(PEOPLE, json={"fields": p})
                if r.status_code != 201:
                    failures.append(r.status_code)
                    break
                acked.append((time.monotonic(), r.json()))
        finally:
            client.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(acked) >= 40 or failures, "40 acknowledged writes")
        backup = v.root / "nightly"
        started = time.monotonic()
        r = v.cli("backup", v.dir, backup)
        written_during = len(acked)
    finally:
        stop.set()
        thread.join()
    assert not failures, failures
    out = v.last_json(r)
    assert out["backup"] == str(backup) and out["files"] > 5 and out["bytes"] > 0
    before = [ref for t, ref in acked if t < started]
    assert len(before) >= 40 and written_during > len(before), "the writes went on during it"
    manifest = check_manifest(backup)
    # Writes still in the server's memtables are in the copied write-ahead log.
    assert any(f["path"].endswith(".log") and f["size"] > 0 for f in manifest["files"])
    assert manifest["backup_id"] == out["backup_id"]
    assert manifest["audit"]["last_seq"] == out["audit_last_seq"] > 0
    assert leftovers(v.root, "nightly") == []

    # The server audited it, naming the backup and the chain head.
    listing = v.cli("audit", "list", v.dir).stdout.splitlines()
    done = [json.loads(line) for line in listing if '"backup"' in line]
    assert any(e["action"] == "backup" and out["backup_id"] in e["reason"]
               and e["outcome"] == "allowed" for e in done), done

    # A person in the backup is erased afterwards.
    victim = before[3]
    v.cli("erase-subject", v.dir, victim["subject"])
    stop_checked(v)

    # A backup never replaces anything.
    r = v.cli("backup", v.dir, backup, check=False)
    assert r.returncode == EXIT_EXISTS, r.stderr
    assert leftovers(v.root, "nightly") == []

    restored = Vault(v.bin, v.root, name="restored")
    common = ["--key-file", v.key_file, "--journal-from", v.root / "vault.erasures"]

    # Without a journal to keep or to copy, the restore refuses (it would
    # bring back everyone erased since the backup).
    r = v.cli("restore", backup, restored.dir, "--key-file", v.key_file, check=False)
    assert r.returncode == EXIT_NOT_FOUND and "--journal-from" in r.stderr, r.stderr
    assert not restored.dir.exists()

    # The real restore.
    r = v.cli("restore", backup, restored.dir, *common)
    done = v.last_json(r)
    assert done["backup_id"] == manifest["backup_id"]
    assert done["audit_last_seq"] > manifest["audit"]["last_seq"]
    assert (v.root / f"restored.audit-anchor.backup-{manifest['backup_id']}").is_file()
    assert leftovers(v.root, "restored") == []
    shutil.copy(v.key_file, restored.key_file)
    os.chmod(restored.key_file, 0o600)
    restored.principals = v.principals

    r = restored.cli("audit", "verify", restored.dir)
    assert restored.last_json(r)["ok"] is True
    entries = [json.loads(line)
               for line in restored.cli("audit", "list", restored.dir).stdout.splitlines()]
    restore_entries = [e for e in entries if e["action"] == "backup.restore"]
    assert len(restore_entries) == 1
    reason = restore_entries[0]["reason"]
    assert manifest["backup_id"] in reason and manifest["audit"]["hash"] in reason
    assert f"chain head {manifest['audit']['last_seq']} " in reason

    restored.start()
    try:
        client = restored.client("loader", "admin")
        missing = []
        for ref in before:
            r = client.get(f"{PEOPLE}/{ref['id']}")
            if ref is victim:
                assert r.status_code == 404, r.text
            elif r.status_code != 200:
                missing.append((ref["id"], r.status_code))
        assert missing == [], missing
        client.close()
    finally:
        stop_checked(restored)


def flip_one_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_changed_added_or_missing_file_or_another_key_is_refused_and_leaves_nothing(vault):
    v = vault
    backup = v.root / "checked"
    v.cli("backup", v.dir, backup)  # no server: the CLI opens the vault
    manifest = check_manifest(backup)
    target = v.root / "refused"
    args = ["--key-file", v.key_file, "--journal-from", v.root / "vault.erasures"]

    def refused(copy, expect_code, expect_text, extra=()):
        r = v.cli("restore", copy, target, *(list(extra) or args), check=False)
        assert r.returncode == expect_code, r.stderr
        assert expect_text in r.stderr, r.stderr
        assert not target.exists() and leftovers(v.root, "refused") == []
        assert not (v.root / "refused.erasures").exists()
        assert not list(v.root.glob("refused.audit-anchor*"))

    sst = sorted((backup / "data").glob("*.sst"), key=lambda p: -p.stat().st_size)[0]
    cases = {
        "one byte of a table file": (lambda c: flip_one_byte(c / "data" / sst.name),
                                     f"data/{sst.name}"),
        "one byte of the journal copy": (lambda c: flip_one_byte(c / "erasures"), "erasures"),
        "a file added": (lambda c: (c / "data" / "000999.sst").write_bytes(b"x"),
                         "data/000999.sst"),
        "a file removed": (lambda c: (c / "data" / "CURRENT").unlink(), "data/CURRENT"),
        "the manifest edited": (lambda c: (c / "manifest.json").write_text(
            (c / "manifest.json").read_text().replace(manifest["created"], "2020-01-01T00:00:00Z")),
            "signature"),
    }
    for name, (damage, named) in cases.items():
        copy = v.root / "damaged"
        shutil.copytree(backup, copy)
        damage(copy)
        refused(copy, EXIT_INTEGRITY, named)
        shutil.rmtree(copy)

    # A forger without the master key changes a file, recomputes the
    # manifest and signs it with a key of their own: the signature checks
    # out under the key manifest.sig names, but that key is not the one the
    # vault's keyring derives, so the restore refuses it.
    copy = v.root / "forged"
    shutil.copytree(backup, copy)
    flip_one_byte(copy / "data" / sst.name)
    forged = json.loads((copy / "manifest.json").read_text())
    forger = Ed25519PrivateKey.generate()
    public = forger.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()
    forged["audit"]["public_key"] = public
    for f in forged["files"]:
        data = (copy / f["path"]).read_bytes()
        f["size"], f["sha256"] = len(data), hashlib.sha256(data).hexdigest()
    text = json.dumps(forged) + "\n"
    (copy / "manifest.json").write_text(text)
    signature = forger.sign(b"coffre-backup-manifest v1\n" + text.encode()).hex()
    (copy / "manifest.sig").write_text(f"coffre-backup-signature v1 {public} {signature}\n")
    refused(copy, EXIT_INTEGRITY, "not signed by this vault's audit key")
    shutil.rmtree(copy)

    # Another vault's master key does not open it: exit 5.
    other = Vault(v.bin, v.root, name="other")
    other.init()
    refused(backup, EXIT_DENIED, "", extra=["--key-file", other.key_file,
                                             "--journal-from", v.root / "vault.erasures"])

    # A directory that holds something is never restored into.
    target.mkdir()
    (target / "keep").write_text("x")
    r = v.cli("restore", backup, target, *args, check=False)
    assert r.returncode == EXIT_EXISTS and (target / "keep").read_text() == "x"
    shutil.rmtree(target)

    # The untouched backup restores.
    v.cli("restore", backup, target, *args)
    assert (target / "CURRENT").is_file()
    assert (v.root / "refused.erasures").read_bytes() == (v.root / "vault.erasures").read_bytes()

    # A journal that exists is never replaced, not even on request.
    again = v.root / "again"
    (v.root / "again.erasures").write_bytes((v.root / "vault.erasures").read_bytes())
    r = v.cli("restore", backup, again, *args, check=False)
    assert r.returncode == EXIT_EXISTS and "is kept" in r.stderr, r.stderr
    assert not again.exists()
    (v.root / "again.erasures").unlink()
    # The backup's own (older) copy, only when asked for by name.
    v.cli("restore", backup, again, "--key-file", v.key_file, "--journal-from", "backup")
    assert (v.root / "again.erasures").read_bytes() == (backup / "erasures").read_bytes()


def test_restore_in_place_keeps_the_journal_and_the_old_anchor(vault):
    v = vault
    backup = v.root / "in-place"
    v.cli("backup", v.dir, backup)
    old_anchor = v.anchor.read_text()
    journal_before = (v.root / "vault.erasures").read_bytes()
    moved = v.root / "vault-broken"
    os.rename(v.dir, moved)
    r = v.cli("restore", backup, v.dir)  # DIR.key, DIR.erasures (kept), DIR.audit-anchor
    done = v.last_json(r)
    assert (v.root / "vault.erasures").read_bytes() == journal_before
    kept = done["previous_anchor"]
    assert open(kept).read() == old_anchor
    assert v.anchor.read_text() != old_anchor
    assert v.last_json(v.cli("audit", "verify", v.dir))["ok"] is True
    shutil.rmtree(moved)
