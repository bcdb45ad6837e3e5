"""No seeded personal value (nor a secret) leaves the vault except in the
response of an allowed read: not in the server's log, not in error
messages, not in the audit log (CLI or HTTP), not in any file of the data
directory or beside it. Requests here put personal values where a careless
server would log them: paths, query strings, headers, invalid bodies.
"""
import base64
import json
import os
import urllib.parse

import pytest

from conftest import build_vault, canonical, seeded_values, stop_checked, strong_password

PEOPLE = "/v1/collections/people/records"


@pytest.fixture(scope="module")
def leaked(coffre_bin, vault_root):
    """Seeds, sends leak-prone traffic, stops the server; returns what the
    tests search and where."""
    s = build_vault(coffre_bin, vault_root, people=30, find=(0, 1), principals=[
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("auditor", "service", "auditor", None),
        ("crm", "service", "crm_backend", None),
        ("nina", "human", "support_agent", None, strong_password()),
    ])
    v = s.vault
    v.start()
    messages, audit_http = [], ""
    try:
        messages, audit_http, tokens = _traffic(s)
    finally:
        stop_rc = v.stop()
    assert stop_rc == 0, f"serve exited {stop_rc}: {v.log_tail()}"
    audit_cli = v.cli("audit", "list", v.dir).stdout
    verify_out = v.cli("audit", "verify", v.dir, check=False)
    people = s.people + s.spare[:6]
    values = set()
    for p in people:
        values |= seeded_values(p)
    secrets_ = {v.key(n) for n in ("admin", "support", "auditor", "crm")}
    secrets_ |= {v.principals["nina"]["password"], *tokens}
    totp_key = v.principals["nina"]["totp_key"]
    secrets_.add(base64.b32encode(totp_key).decode().rstrip("="))
    return {
        "seeded": s, "values": values, "secrets": secrets_, "totp_key": totp_key,
        "messages": messages, "audit_http": audit_http, "audit_cli": audit_cli,
        "verify": verify_out.stdout + verify_out.stderr,
    }


def _traffic(s):
    v = s.vault
    messages = []
    tokens = []

    def note(r):
        if r.status_code >= 400:
            messages.append(r.text)
        return r

    admin = v.client("admin", "admin")
    support = v.client("support", "support")
    # Creates and reads in clear (the responses may hold values; nothing else).
    created = []
    for p in s.spare[:3]:
        r = admin.post(PEOPLE, json={"fields": p})
        assert r.status_code == 201, r.text
        created.append(r.json())
        assert admin.get(f"{PEOPLE}/{r.json()['id']}").status_code == 200
    p0, p1 = s.people[0], s.people[1]
    # Searches carry values in their bodies.
    for field in ("email", "nir", "phone"):
        note(support.post("/v1/collections/people/search", json={"field": field, "value": p0[field]}))
    # Invalid values: a NIR in the email field, an email in the phone field...
    bad = dict(s.spare[3])
    for field, value in (("email", p1["nir"]), ("phone", p1["email"]), ("nir", p1["phone"]),
                         ("iban", p1["email"])):
        note(admin.post(PEOPLE, json={"fields": {**bad, field: value}}))
    # A taken email.
    note(admin.post(PEOPLE, json={"fields": {**s.spare[4], "email": p1["email"]}}))
    # Values in paths, queries and headers.
    for value in (p1["email"], p1["nir"], p1["iban"].replace(" ", "")):
        q = urllib.parse.quote(value, safe="@")
        note(admin.get(f"{PEOPLE}/{q}"))
        note(admin.get(f"/v1/subjects/{q}"))
        note(admin.get(f"/v1/nowhere/{q}?email={q}"))
        note(v.client().get(f"{PEOPLE}/{q}"))  # unauthenticated
        note(admin.get(f"{PEOPLE}/{s.refs[0]['id']}", headers={"X-Coffre-Purpose": value}))
        note(v.client("crm", "follow_up").get(f"{PEOPLE}/{s.refs[0]['id']}",
                                                headers={"X-Coffre-On-Behalf-Of": value}))
    auditor = v.client("auditor", "investigation")
    note(auditor.get(f"/v1/audit?subject={urllib.parse.quote(p1['nir'])}"))
    note(auditor.get(f"/v1/audit?principal={urllib.parse.quote(p1['email'])}"))
    # Logins: a personal value as the password, then a real one.
    c = v.client()
    note(c.post("/v1/sessions", json={"name": "nina", "password": p1["email"], "totp": "000000"}))
    note(c.post("/v1/sessions", json={"name": p1["email"], "password": p1["nir"], "totp": "1"}))
    r = v.login("nina")
    assert r.status_code == 201, r.text
    tokens.append(r.json()["token"])
    nina = v.client(token=tokens[-1], purpose="support")
    assert nina.get(f"{PEOPLE}/{s.refs[1]['id']}").status_code == 200
    # An update and an erasure.
    r = admin.patch(f"{PEOPLE}/{created[0]['id']}", json={"fields": {"phone": s.spare[5]["phone"]}})
    assert r.status_code == 200, r.text
    r = admin.delete(f"/v1/subjects/{created[1]['subject']}")
    messages.append("" if r.status_code < 400 else r.text)
    r = auditor.get("/v1/audit?limit=1000")
    assert r.status_code == 200, r.text
    for cl in (admin, support, auditor, c, nina):
        cl.close()
    return messages, r.text, tokens


def _hits(text, needles):
    return sorted(n for n in needles if n in text)


def test_error_messages_hold_no_value(leaked):
    for m in leaked["messages"]:
        assert not _hits(m, leaked["values"]), m


def test_server_log_holds_no_value_and_no_secret(leaked):
    v = leaked["seeded"].vault
    log = v.log_text()
    assert log.strip(), "the server logged nothing at all"
    assert not _hits(log, leaked["values"]), "personal values in the server log"
    assert not _hits(log, leaked["secrets"]), "secrets in the server log"
    out = "\n".join(v.stdout_lines)
    assert not _hits(out, leaked["values"] | leaked["secrets"])


def test_audit_log_holds_no_value(leaked):
    assert json.loads(leaked["audit_http"])["entries"], "the audit log is empty"
    assert leaked["audit_cli"].strip(), "coffre audit list printed nothing"
    for text in (leaked["audit_http"], leaked["audit_cli"], leaked["verify"]):
        assert not _hits(text, leaked["values"]), "personal values in the audit log"
        assert not _hits(text, leaked["secrets"]), "secrets in the audit log"


def _files_beside(v):
    """Every file of DIR, and the files beside it that coffre writes."""
    paths = []
    for dirpath, _, files in os.walk(v.dir):
        paths += [os.path.join(dirpath, f) for f in files]
    for extra in (v.anchor, v.root / "vault.erasures", v.log_path):
        if os.path.exists(extra):
            paths.append(str(extra))
    return paths


def test_no_value_or_secret_in_any_file(leaked):
    """RocksDB does not compress here (docs/storage-layout.md), so a value
    written in clear would be found byte for byte."""
    v = leaked["seeded"].vault
    needles = {n.encode() for n in leaked["values"] | leaked["secrets"]}
    needles.add(leaked["totp_key"])
    found = {}
    for path in _files_beside(v):
        with open(path, "rb") as f:
            data = f.read()
        hits = [n for n in needles if n in data]
        if hits:
            found[os.path.relpath(path, v.root)] = len(hits)
        for marker in (b"PRIVATE KEY-----",):
            assert marker not in data, f"{path} holds a private key in clear"
    assert not found, f"values or secrets in clear in: {found}"


def test_the_search_still_works_after_restart(leaked):
    """The files hold no value, yet the vault still finds people (the test
    above is not passing because nothing was stored)."""
    s = leaked["seeded"]
    p = canonical(s.people[5])
    refs = s.vault.find("email", p["email"])
    assert len(refs) == 1
