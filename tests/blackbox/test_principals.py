"""The lifecycle of principals (issue 13, item 3 and part of item 9), with
and without a running server: `principal update`, `rotate-key --grace`,
`reset-totp`, `unlock`, `usage`, `resume` emptying the quota windows, and
the human enrolment showing its TOTP secret once, on stderr.
"""
import base64
import json
import re

import pytest

from conftest import (POLICY, build_vault, error_of, stop_checked, strong_password,
                      totp_key_from_stderr)

RECORD = "/v1/collections/people/records"
HARD = 3


def small_limits_policy(root):
    """The example policy with support agents suspended past 3 people an hour."""
    text = POLICY.read_text()
    text, n = re.subn(r'subjects  = \[ \{ window = "1h",  soft = 50,  hard = 100 \},\n'
                      r'\s+\{ window = "24h", soft = 300, hard = 600 \} \]',
                      'subjects  = [ { window = "1h", soft = 2, hard = 3 },\n'
                      '              { window = "24h", soft = 5, hard = 10 } ]', text)
    assert n == 1, "the support_agent limits of the example policy changed"
    path = root / "small-limits.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def pv(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=8, find=range(8), principals=[
        ("agent", "service", "support_agent", None),
        ("hana", "human", "support_agent", None, strong_password())])
    s.vault.cli("policy", "load", s.vault.dir, small_limits_policy(vault_root))
    yield s
    if s.vault.running():
        stop_checked(s.vault)


def audit_entries(v, action):
    r = v.cli("audit", "list", v.dir)
    return [e for e in map(json.loads, r.stdout.splitlines()) if e["action"] == action]


def read(v, principal, ref):
    c = v.client(principal, "support")
    try:
        return c.get(f"{RECORD}/{ref['id']}")
    finally:
        c.close()


def test_enrolment_shows_the_secret_once_on_stderr(pv, coffre_bin):
    """Before, the secret was on stdout twice (URI line and JSON), the QR
    code was drawn for dark terminals only, and the issuer was always
    "coffre"."""
    v = pv.vault
    password = strong_password()
    r = v.cli("principal", "add", v.dir, "zoe", "--kind", "human", "--role", "support_agent",
              "--totp-issuer", "ACME Vault", "--qr", "light", input=password + "\n")
    key = totp_key_from_stderr(r.stderr)
    key_b32 = base64.b32encode(key).decode().rstrip("=")
    # stdout: one JSON line, without the secret in any form.
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1, r.stdout
    out = json.loads(lines[0])
    assert out == {"name": "zoe", "kind": "human", "role": "support_agent"}, out
    assert key_b32 not in r.stdout
    # stderr: the key once, and a QR code drawn dark on light (no colours).
    assert r.stderr.count(key_b32) == 1, r.stderr
    assert "\u2584" in r.stderr and "\x1b[" not in r.stderr
    # --qr ansi sets the colours itself: black modules on white, for any
    # terminal; --qr dark draws the light modules as ink.
    r2 = v.cli("principal", "reset-totp", v.dir, "zoe", "--qr", "ansi")
    assert "\x1b[30;107m" in r2.stderr and "\x1b[0m" in r2.stderr
    r3 = v.cli("principal", "reset-totp", v.dir, "zoe", "--qr", "dark", "--totp-issuer", "ACME")
    assert "\x1b[" not in r3.stderr and "\u2588" in r3.stderr
    assert v.last_json(r3) == {"name": "zoe"}
    # A bad issuer is refused before anything is written.
    bad = v.cli("principal", "add", v.dir, "zed", "--kind", "human", "--role", "support_agent",
                "--totp-issuer", "a:b", input=password + "\n", check=False)
    assert bad.returncode == 2 and "issuer" in bad.stderr, bad.stderr
    assert "zed" not in v.cli("principal", "list", v.dir).stdout
    v.cli("principal", "remove", v.dir, "zoe")


def test_resume_empties_the_windows_and_usage_shows_them(pv):
    """Before, `principal resume` left the window full, so the next new
    person suspended the service again."""
    v = pv.vault
    v.start()
    try:
        for i in range(HARD):
            assert read(v, "agent", pv.refs[i]).status_code == 200
        usage = v.last_json(v.cli("principal", "usage", v.dir, "agent"))
        assert usage["subjects"] == [{"window": "1h", "count": 3, "soft": 2, "hard": 3},
                                     {"window": "24h", "count": 3, "soft": 5, "hard": 10}], usage
        assert usage["searches"]["count"] == 0 and usage["denials"]["window"] == "10m"
        error_of(read(v, "agent", pv.refs[HARD]), 403, "suspended")
        v.cli("principal", "resume", v.dir, "agent")
        usage = v.last_json(v.cli("principal", "usage", v.dir, "agent"))
        assert [w["count"] for w in usage["subjects"]] == [0, 0], usage
        assert usage["suspended"] is False
        # The next new person is served; the hard limit counts afresh.
        for i in range(HARD, 2 * HARD):
            r = read(v, "agent", pv.refs[i])
            assert r.status_code == 200, r.text
        error_of(read(v, "agent", pv.refs[2 * HARD]), 403, "suspended")
        v.cli("principal", "resume", v.dir, "agent")
    finally:
        stop_checked(v)
    resumes = audit_entries(v, "principal.resume")
    assert resumes and resumes[-1]["reason"] == "principal agent; quota windows cleared", resumes[-1]
    # Without a server the counts are those of no server: all 0, said so.
    r = v.cli("principal", "usage", v.dir, "agent")
    assert [w["count"] for w in v.last_json(r)["subjects"]] == [0, 0]
    assert "no server is running" in r.stderr


@pytest.mark.parametrize("running", [True, False])
def test_update_changes_role_and_attributes(pv, running):
    v = pv.vault
    if running:
        v.start()
    try:
        out = v.last_json(v.cli("principal", "update", v.dir, "hana", "--role", "adviser",
                                "--attr", "agency=A042", "--attr", "team=b"))
        assert out["role"] == "adviser" and out["attrs"] == {"agency": "A042", "team": "b"}, out
        out = v.last_json(v.cli("principal", "update", v.dir, "hana", "--role", "support_agent",
                                "--remove-attr", "agency", "--remove-attr", "team"))
        assert out["role"] == "support_agent" and out["attrs"] == {}, out
        for args, code in ((["--role", "no_such_role"], 2), ([], 2), (["--remove-attr", "agency"], 3)):
            r = v.cli("principal", "update", v.dir, "hana", *args, check=False)
            assert r.returncode == code, (args, r.returncode, r.stderr)
        r = v.cli("principal", "update", v.dir, "ghost", "--role", "adviser", check=False)
        assert r.returncode == 3, r.stderr
        # Something typed by mistake as the name is not written to the audit log.
        r = v.cli("principal", "update", v.dir, "Sunny Pass-1!", "--role", "adviser", check=False)
        assert r.returncode == 2, r.stderr
    finally:
        if running:
            stop_checked(v)
    updates = [e for e in audit_entries(v, "principal.update") if e["outcome"] == "allowed"]
    assert updates[-1]["reason"] == "principal hana; role support_agent; attributes removed agency,team"
    # Attribute values never reach the audit log, nor invalid names.
    assert all("A042" not in e["reason"] for e in updates)
    assert "Sunny" not in v.cli("audit", "list", v.dir).stdout


def test_rotate_key_keeps_the_old_key_for_its_grace(pv):
    v = pv.vault
    old = v.key("agent")
    v.start()
    try:
        r = v.cli("principal", "rotate-key", v.dir, "agent", "--grace", "1h")
        out = v.last_json(r)
        new = out["api_key"]
        assert new != old and new.startswith("coffre_sk_") and "previous_valid_until" in out, out
        assert "shown once" in r.stderr
        for key in (old, new):
            c = v.client(token=key, purpose="support")
            try:
                assert c.get(f"{RECORD}/{pv.refs[7]['id']}").status_code in (200, 403)
                assert c.get("/v1/openapi.json").status_code == 200
            finally:
                c.close()
        v.advance(3601)
        c = v.client(token=old)
        try:
            error_of(c.get("/v1/openapi.json"), 401, "unauthenticated")
        finally:
            c.close()
    finally:
        stop_checked(v)
    # Without a server, and without grace: the key stops at once.
    newest = v.last_json(v.cli("principal", "rotate-key", v.dir, "agent"))["api_key"]
    v.principals["agent"]["api_key"] = newest
    v.start()
    try:
        c = v.client(token=new)
        try:
            error_of(c.get("/v1/openapi.json"), 401, "unauthenticated")
        finally:
            c.close()
        assert v.client("agent").get("/v1/openapi.json").status_code == 200
    finally:
        stop_checked(v)
    for args, code in ((["hana"], 2), (["ghost"], 3), (["agent", "--grace", "8d"], 2),
                       (["agent", "--grace", "soon"], 2)):
        r = v.cli("principal", "rotate-key", v.dir, *args, check=False)
        assert r.returncode == code, (args, r.stderr)
    rotations = [e for e in audit_entries(v, "principal.rotate-key") if e["outcome"] == "allowed"]
    assert [e["reason"].split(";")[1].strip()[:22] for e in rotations] == \
        ["old key valid until 20", "old key revoked"], rotations
    assert all("coffre_sk_" not in e["reason"] for e in rotations)


def test_reset_totp_and_unlock_without_a_server(pv):
    v = pv.vault
    assert not v.running()
    r = v.cli("principal", "reset-totp", v.dir, "hana")
    v.principals["hana"]["totp_key"] = totp_key_from_stderr(r.stderr)
    v.last_totp_step.pop("hana", None)
    v.start()
    try:
        r = v.login("hana", source_ip="127.0.5.1")
        assert r.status_code == 201, r.text
        for i in range(10):
            error_of(v.login("hana", source_ip=f"127.0.6.{i + 1}", password="Wrong-Password-1!"),
                     401, "unauthenticated")
        error_of(v.login("hana", source_ip="127.0.5.2"), 429, "throttled")
    finally:
        stop_checked(v)
    # The lock is stored: lifted with the directory opened by the CLI.
    assert v.last_json(v.cli("principal", "unlock", v.dir, "hana")) == {"name": "hana", "was_locked": True}
    v.start()
    try:
        r = v.login("hana", source_ip="127.0.5.3")
        assert r.status_code == 201, r.text
    finally:
        stop_checked(v)
    unlocks = audit_entries(v, "principal.unlock")
    assert unlocks[-1]["reason"] == "principal hana; was locked" and unlocks[-1]["principal"] == "local"
    assert audit_entries(v, "principal.reset-totp")[-1]["reason"] == "principal hana"
    for verb in ("reset-totp", "unlock"):
        r = v.cli("principal", verb, v.dir, "agent", check=False)
        assert r.returncode in (2, 3), (verb, r.stderr)
