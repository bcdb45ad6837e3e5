"""Every request, allowed or denied, is in the audit log (GET /v1/audit for
the auditor) with principal, purpose, outcome, subjects and fields with their
views; and a stored entry that is edited, deleted or moved makes
`coffre audit verify` fail (exit 6) at exactly that entry.
"""
import json
import shutil
import subprocess

import pytest

from conftest import EXIT_INTEGRITY, EXIT_OK, build_vault, error_of, stop_checked

PEOPLE = "/v1/collections/people/records"


def _pick(s):
    s.ia = 0
    s.ib = next(i for i, p in enumerate(s.people) if p["agency"] != s.people[0]["agency"])
    return [s.ia, s.ib]


def _principals(s):
    agency = s.people[s.ia]["agency"]
    return [
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("adviser-a", "service", "adviser", {"agency": agency}),
        ("auditor", "service", "auditor", None),
        ("crm", "service", "crm_backend", None),
        ("user-a", "user", "adviser", {"agency": agency}),
    ]


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=10, find=_pick, principals=_principals)
    s.vault.start()
    s.traffic = make_traffic(s)
    yield s
    if s.vault.running():
        stop_checked(s.vault)


def make_traffic(s):
    """Requests whose entries the tests look for. Returns what was done."""
    v = s.vault
    a, b = s.refs[s.ia], s.refs[s.ib]
    done = {}
    c = v.client("support", "support")
    assert c.get(f"{PEOPLE}/{a['id']}").status_code == 200
    assert c.post("/v1/collections/people/search",
                  json={"field": "email", "value": s.people[s.ia]["email"]}).status_code == 200
    error_of(c.get(f"{PEOPLE}/{a['id']}", headers={"X-Coffre-Purpose": ""}), 403)
    c.close()
    c = v.client("adviser-a", "follow_up")
    error_of(c.get(f"{PEOPLE}/{b['id']}"), 403, "forbidden")
    c.close()
    c = v.client("crm", "follow_up", on_behalf_of="user-a")
    assert c.get(f"{PEOPLE}/{a['id']}").status_code == 200
    c.close()
    c = v.client("admin", "admin")
    r = c.post(PEOPLE, json={"fields": s.spare[0]})
    assert r.status_code == 201, r.text
    done["created"] = r.json()
    c.close()
    return done


def audit(s, query="limit=1000"):
    c = s.vault.client("auditor", "investigation")
    try:
        r = c.get(f"/v1/audit?{query}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"entries"}, body.keys()
        return body["entries"]
    finally:
        c.close()


def fields_of(entry):
    """An entry's fields as {name: view}, whether listed or mapped."""
    f = entry.get("fields") or {}
    if isinstance(f, dict):
        return f
    return {x["name"]: x["view"] for x in f}


def find(entries, **want):
    out = []
    for e in entries:
        if all(e.get(k) == v for k, v in want.items()):
            out.append(e)
    return out


def test_entries_have_the_contract_shape(seeded):
    entries = audit(seeded)
    assert entries, "no audit entries after traffic"
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for e in entries:
        for key in ("seq", "time", "principal", "action", "purpose", "outcome"):
            assert key in e, f"entry without {key}: {e}"
        assert e["outcome"] in ("allowed", "denied", "error")
        assert e["time"].endswith("Z")
        for sub in e.get("subjects") or []:
            assert len(sub) == 32 and all(ch in "0123456789abcdef" for ch in sub)


def test_allowed_read_is_audited_with_fields_and_views(seeded):
    a = seeded.refs[seeded.ia]
    hits = find(audit(seeded), principal="support", action="read", outcome="allowed")
    hits = [e for e in hits if e.get("record_id") == a["id"]]
    assert len(hits) == 1, hits
    e = hits[0]
    assert e["purpose"] == "support"
    assert e.get("collection") == "people"
    assert e.get("subjects") == [a["subject"]]
    views = fields_of(e)
    assert views.get("email") == "masked" and views.get("nir") == "masked"
    assert views.get("phone") == "masked" and views.get("first_name") == "clear"
    assert "iban" not in views, "a field the caller did not see is listed"
    assert not e.get("on_behalf_of")


def test_search_is_audited_with_the_subjects_found(seeded):
    a = seeded.refs[seeded.ia]
    hits = find(audit(seeded), principal="support", action="search", outcome="allowed")
    assert len(hits) == 1, hits
    assert hits[0].get("subjects") == [a["subject"]]


def test_denials_are_audited_with_their_reason(seeded):
    entries = audit(seeded)
    scope = find(entries, principal="adviser-a", outcome="denied")
    assert len(scope) == 1, scope
    assert scope[0]["purpose"] == "follow_up"
    assert "agency" in scope[0].get("reason", "")
    assert not fields_of(scope[0]), "a denied read lists fields"
    purpose = find(entries, principal="support", outcome="denied")
    assert len(purpose) == 1, purpose
    assert purpose[0]["purpose"] == "" and purpose[0].get("reason")


def test_delegated_read_names_both(seeded):
    hits = find(audit(seeded), principal="crm", outcome="allowed")
    assert len(hits) == 1, hits
    assert hits[0].get("on_behalf_of") == "user-a"
    views = fields_of(hits[0])
    assert views.get("nir") == "masked" and views.get("iban") == "masked"


def test_create_is_audited(seeded):
    created = seeded.traffic["created"]
    hits = find(audit(seeded), principal="admin", action="create", outcome="allowed")
    assert [h.get("subjects") for h in hits] == [[created["subject"]]], hits


def test_filters(seeded):
    a = seeded.refs[seeded.ia]
    by_principal = audit(seeded, "principal=support&limit=1000")
    assert by_principal and all(e["principal"] == "support" for e in by_principal)
    # The on-behalf-of user is found by name too.
    assert any(e["principal"] == "crm" for e in audit(seeded, "principal=user-a"))
    by_subject = audit(seeded, f"subject={a['subject']}&limit=1000")
    assert len(by_subject) >= 3
    assert all(a["subject"] in e["subjects"] for e in by_subject)
    assert len(audit(seeded, "limit=2")) == 2
    assert audit(seeded, "from=2099-01-01T00:00:00Z") == []
    assert audit(seeded, "to=2000-01-01T00:00:00Z") == []
    everything = audit(seeded, "from=2000-01-01T00:00:00Z&to=2099-01-01T00:00:00Z&limit=1000")
    assert len(everything) >= len(by_principal)


def test_reading_the_log_is_audited(seeded):
    audit(seeded, "limit=1")
    hits = find(audit(seeded), principal="auditor", outcome="allowed")
    assert hits and all(e["purpose"] == "investigation" for e in hits)


def test_unauthenticated_failures_are_summarised_not_logged_one_by_one(seeded):
    v = seeded.vault
    before = len(find(audit(seeded), action="unauthenticated"))
    c = v.client(token="coffre_sk_not-a-key", purpose="admin")
    for _ in range(5):
        error_of(c.get(f"{PEOPLE}/{seeded.refs[seeded.ia]['id']}"), 401)
    c.close()
    v.advance(61)  # the minute is over: the next append or flush writes the summary
    audit(seeded, "limit=1")
    summaries = find(audit(seeded), action="unauthenticated")
    assert before <= len(summaries) <= before + 2, summaries
    assert len(summaries) > before, "5 failed requests left no summary after a minute"
    assert summaries[-1]["outcome"] == "denied"


def test_verify_while_serving(seeded):
    v = seeded.vault
    r = v.cli("audit", "verify", v.dir, check=False)
    assert r.returncode == EXIT_OK, r.stderr
    report = v.last_json(r)
    assert report["ok"] is True and report["entries"] >= 5


# -- tampering (stops the server: keep last) -------------------------------------------------------

def _ldb(db, *args):
    r = subprocess.run(["ldb", f"--db={db}", "--column_family=audit", "--hex", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"ldb {args[0]}: {r.stdout[-300:]} {r.stderr[-300:]}"
    return r.stdout.strip()


def entry_key(seq):
    return "0x65" + f"{seq:016X}"  # 'e' || BE64(seq), docs/audit-log.md


def _copy(v, name):
    """A full copy of the vault: DIR, its anchor and key beside it."""
    dst = v.root / name
    subprocess.run(["cp", "-a", str(v.dir), str(dst)], check=True, timeout=60)
    shutil.copy2(v.anchor, v.root / f"{name}.audit-anchor")
    shutil.copy2(v.key_file, v.root / f"{name}.key")
    return dst


def _verify(v, db):
    r = v.cli("audit", "verify", db, "--audit-anchor", f"{db}.audit-anchor", check=False)
    return r.returncode, v.last_json(r), r


def test_tampering_is_found_at_the_entry(seeded):
    v = seeded.vault
    stop_checked(v)
    rc, report, r = _verify(v, v.dir)
    assert rc == EXIT_OK and report["ok"] is True, r.stdout + r.stderr
    n = report["entries"]
    assert n >= 8, report
    assert report.get("checkpoints", 0) >= 1, report

    copies = {name: _copy(v, name) for name in ("edited", "deleted", "swapped", "untouched")}

    value = _ldb(copies["edited"], "get", entry_key(3))
    raw = bytearray.fromhex(value[2:])
    raw[-33] ^= 0x01  # last byte of the entry bytes (before the 32-byte hash)
    _ldb(copies["edited"], "put", entry_key(3), "0x" + raw.hex().upper())

    _ldb(copies["deleted"], "delete", entry_key(4))

    five = _ldb(copies["swapped"], "get", entry_key(5))
    six = _ldb(copies["swapped"], "get", entry_key(6))
    assert five != six
    _ldb(copies["swapped"], "put", entry_key(5), six)
    _ldb(copies["swapped"], "put", entry_key(6), five)

    for name, seq in (("edited", 3), ("deleted", 4), ("swapped", 5)):
        rc, report, r = _verify(v, copies[name])
        assert rc == EXIT_INTEGRITY, (name, rc, r.stdout, r.stderr)
        assert report["ok"] is False and report["first_bad_seq"] == seq, (name, report)
        assert str(seq) in report["problem"], (name, report)

    rc, report, r = _verify(v, copies["untouched"])
    assert rc == EXIT_OK and report["ok"] is True and report["entries"] == n, r.stdout + r.stderr
