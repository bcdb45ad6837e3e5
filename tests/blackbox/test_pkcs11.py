"""A vault whose master key is in a PKCS#11 token (docs/key-hierarchy.md),
served by the real `coffre serve`, with SoftHSM2 as the token: its own token
directory (SOFTHSM2_CONF), initialised with softhsm2-util.
"""
import json
import os
import subprocess
import time

import pytest

from conftest import EXIT_DENIED, EXIT_OK, Vault, child_env, stop_checked

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PEOPLE = "/v1/collections/people/records"
PIN = "5821-test-pin"


class Token:
    def __init__(self, root):
        self.root = root
        (root / "tokens").mkdir()
        self.conf = root / "softhsm2.conf"
        self.conf.write_text(f"directories.tokendir = {root}/tokens\n"
                             "objectstore.backend = file\nlog.level = ERROR\n")
        self.pin_file = root / "pin"
        self.pin_file.write_text(PIN + "\n")
        os.chmod(self.pin_file, 0o600)
        self.util("--init-token", "--free", "--label", "coffre", "--pin", PIN, "--so-pin", "so-" + PIN)

    def util(self, *args):
        subprocess.run(["softhsm2-util", *args], check=True, capture_output=True, timeout=60,
                       env={**os.environ, "SOFTHSM2_CONF": str(self.conf)})

    def uri(self, obj, pin_file=None):
        return (f"pkcs11:token=coffre;object={obj}?module-path={MODULE}"
                f"&pin-source=file:{pin_file or self.pin_file}")


class TokenVault(Vault):
    """Every command and the server name the key with COFFRE_KEY_PKCS11 (the
    CLI) or --key-pkcs11 (serve)."""

    def __init__(self, binary, root, token, obj="master"):
        super().__init__(binary, root)
        self.token = token
        self.key_uri = token.uri(obj)

    def cli(self, *args, input=None, check=True, timeout=120, env=None):
        extra = {"SOFTHSM2_CONF": str(self.token.conf), "COFFRE_KEY_PKCS11": self.key_uri}
        extra.update(env or {})
        return super().cli(*args, input=input, check=check, timeout=timeout, env=extra)

    def start(self, extra_args=()):
        return super().start(["--key-pkcs11", self.key_uri, *extra_args])


@pytest.fixture(scope="module")
def token(vault_root):
    t = Token(vault_root)
    # serve inherits the environment minus COFFRE_*: SoftHSM2 finds its token there.
    old = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(t.conf)
    yield t
    if old is None:
        os.environ.pop("SOFTHSM2_CONF", None)
    else:
        os.environ["SOFTHSM2_CONF"] = old


def test_a_token_vault_serves_reads_and_refuses_a_key_file(coffre_bin, vault_root, token):
    v = TokenVault(coffre_bin, vault_root, token)
    init = v.init()
    out = v.last_json(init)
    assert out["key_pkcs11"] == "pkcs11:token=coffre;object=master", out
    assert "key_file" not in out
    assert not v.key_file.exists()
    assert not [p for p in vault_root.rglob("*.key")], "a key file was written"

    s = build_seeded(v, vault_root)
    ref = s.refs[0]
    v.start()
    try:
        support = v.client("support", "support")
        t0 = time.monotonic()
        r = support.get(f"{PEOPLE}/{ref['id']}")
        assert r.status_code == 200, r.text[:300]
        assert r.json()["fields"]["first_name"] == s.people[0]["first_name"]
        # A command while the server runs goes through it (the admin socket):
        # no key needed in this process.
        got = v.cli("get", v.dir, "people", ref["id"], env={"COFFRE_KEY_PKCS11": ""})
        assert json.loads(got.stdout.splitlines()[-1])["id"] == ref["id"]
        assert time.monotonic() - t0 < 60
    finally:
        stop_checked(v)

    # Stopped: a key file (or none) is refused, naming what the vault needs.
    v.key_file.write_text("coffre-master-key v1 " + "ab" * 32 + "\n")
    os.chmod(v.key_file, 0o600)
    r = v.cli("get", v.dir, "people", ref["id"], "--key-file", v.key_file, check=False)
    assert r.returncode == EXIT_DENIED, r.stderr
    assert "--key-pkcs11" in r.stderr and "pkcs11:token=coffre;object=master" in r.stderr
    v.key_file.unlink()

    # A wrong PIN: serve does not start, exit 5, the PIN not in the log.
    wrong = vault_root / "wrong-pin"
    wrong.write_text("0000-not-it\n")
    os.chmod(wrong, 0o600)
    p = subprocess.run([str(coffre_bin), "serve", str(v.dir), "--listen", "127.0.0.1:0",
                        "--key-pkcs11", token.uri("master", wrong)],
                       capture_output=True, text=True, timeout=120, env=child_env(),
                       cwd=vault_root)
    assert p.returncode == EXIT_DENIED, p.stderr
    assert "wrong PIN" in p.stderr and "0000-not-it" not in p.stderr and PIN not in p.stderr

    # A key the token does not hold: exit 5, and the open created nothing.
    r = v.cli("get", v.dir, "people", ref["id"], check=False,
              env={"COFFRE_KEY_PKCS11": token.uri("typo")})
    assert r.returncode == EXIT_DENIED, r.stderr
    assert "has no key" in r.stderr

    # pin-value is refused: a PIN in argv is seen by every local user.
    r = v.cli("get", v.dir, "people", ref["id"], check=False,
              env={"COFFRE_KEY_PKCS11": f"pkcs11:token=coffre;object=master?module-path={MODULE}"
                                        f"&pin-value={PIN}"})
    assert r.returncode == 2 and "pin-value is refused" in r.stderr and PIN not in r.stderr

    # Rotation to another token key; the old one no longer opens the vault.
    rot = v.cli("keys", "rotate", v.dir, "--new-key-pkcs11", token.uri("master-2027"))
    assert v.last_json(rot)["key_source"] == "pkcs11:token=coffre;object=master-2027"
    r = v.cli("get", v.dir, "people", ref["id"], check=False)
    assert r.returncode == EXIT_DENIED and "does not open this vault" in r.stderr, r.stderr
    v.key_uri = token.uri("master-2027")
    assert v.cli("get", v.dir, "people", ref["id"]).returncode == EXIT_OK
    v.start()
    try:
        support = v.client("support", "support")
        assert support.get(f"{PEOPLE}/{ref['id']}").status_code == 200
    finally:
        stop_checked(v)


def build_seeded(v, root):
    everyone = v.gen(10, 5, root / "people-all.ndjson")
    with open(root / "people.ndjson", "w", encoding="utf-8") as f:
        for p in everyone[:5]:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    summary = v.import_people(root / "people.ndjson")
    assert summary.get("imported") == 5, summary

    class S:
        pass
    s = S()
    s.people = everyone[:5]
    s.refs = {0: v.find("email", everyone[0]["email"])[0]}
    v.add_principal("support", "service", "support_agent")
    return s


def test_a_key_file_vault_moves_into_the_token(coffre_bin, tmp_path, token):
    v = Vault(coffre_bin, tmp_path)
    v.init()
    everyone = v.gen(2, 9, tmp_path / "p.ndjson")
    v.import_people(tmp_path / "p.ndjson")
    ref = v.find("email", everyone[0]["email"])[0]
    env = {"SOFTHSM2_CONF": str(token.conf)}
    rot = v.cli("keys", "rotate", v.dir, "--new-key-pkcs11", token.uri("migrated"), env=env)
    out = v.last_json(rot)
    assert out["key_source"] == "pkcs11:token=coffre;object=migrated", out
    assert not v.key_file.exists()
    assert out["retired_key_file"].startswith(str(v.key_file) + ".old-")
    r = v.cli("get", v.dir, "people", ref["id"], "--key-file", out["retired_key_file"],
              check=False, env=env)
    assert r.returncode == EXIT_DENIED, r.stderr
    got = v.cli("get", v.dir, "people", ref["id"], "--key-pkcs11", token.uri("migrated"), env=env)
    assert json.loads(got.stdout.splitlines()[-1])["id"] == ref["id"]
