"""Breach reports, two-person approvals and bulk exports against the real
server (issue 4, docs/exfiltration.md).

Several principals read known sets of people through the API (masked and
clear views, searches, denied reads, a service acting for a user), before,
during and after a window. The breach report of one principal over the
window, from the CLI (over the admin socket while the server runs) and from
the API, lists exactly the people it received, no more and no fewer, with
the fields and views it got. Approvals need two distinct admins; a bulk
export and the art. 34 notification list come back sealed to a recipient
and open with its key only; an audit entry tampered with inside the window
makes the report fail (exit 6 / 500 integrity_failure).
"""
import json
import shutil
import subprocess

import pytest

from conftest import (EXIT_DENIED, EXIT_EXISTS, EXIT_INTEGRITY, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK,
                      SCHEMA, Client, Vault,
                      build_vault, canonical, error_of, stop_checked, strong_password)

PEOPLE = "/v1/collections/people/records"
SEARCH = "/v1/collections/people/search"

# What support_agent sees (examples/people-policy.toml): iban hidden, the
# identifiers masked, the rest clear.
SUPPORT_VIEWS = {
    "people.first_name": "clear", "people.last_name": "clear", "people.sex": "clear",
    "people.birth_date": "clear", "people.postal_address": "clear", "people.agency": "clear",
    "people.nir": "masked", "people.email": "masked", "people.phone": "masked",
}
# crm_backend for an adviser: the adviser's clear view, narrowed by the
# service's masks.
CRM_VIEWS = {f: "clear" for f in SUPPORT_VIEWS}
CRM_VIEWS.update({"people.nir": "masked", "people.iban": "masked"})
ADVISER_VIEWS = {f: "clear" for f in SUPPORT_VIEWS}
ADVISER_VIEWS["people.iban"] = "clear"


def _pick(s):
    """Indexes of the people the tests read: two of the adviser's agency (the
    most common one), eight of others."""
    agencies = [p["agency"] for p in s.people]
    s.agency = max(sorted(set(agencies)), key=agencies.count)
    same = [i for i, p in enumerate(s.people) if p["agency"] == s.agency]
    other = [i for i, p in enumerate(s.people) if p["agency"] != s.agency]
    assert len(same) >= 2 and len(other) >= 8, "the generated agencies do not spread as expected"
    s.same, s.other = same, other
    return sorted(set(same[:2] + other[:8]))


def _principals(s):
    agency = s.agency
    return [
        ("admin-a", "service", "admin", None),
        # The second person of an approval is a human (password and TOTP).
        ("admin-b", "human", "admin", None, strong_password()),
        ("admin-c", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("adviser", "service", "adviser", {"agency": agency}),
        ("crm", "service", "crm_backend", None),
        ("user-a", "user", "adviser", {"agency": agency}),
        ("auditor", "service", "auditor", None),
    ]


@pytest.fixture(scope="module")
def drill(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=40, find=_pick, principals=_principals, seed=23)
    v = s.vault
    v.start()
    o = s.other
    s.support_window = [o[0], o[1], o[2]]      # read (o[0] twice)
    s.support_search = o[3]                      # found by a search
    s.support_before, s.support_after = o[4], o[5]
    s.adviser_ok, s.adviser_denied = s.same[1], o[6]
    s.crm_read = s.same[0]

    support = v.client("support", "support")
    # Before the window.
    assert support.get(f"{PEOPLE}/{s.refs[s.support_before]['id']}").status_code == 200
    v.advance(10)
    s.t1 = int(v.now())
    # The window.
    for i in s.support_window + [s.support_window[0]]:
        r = support.get(f"{PEOPLE}/{s.refs[i]['id']}")
        assert r.status_code == 200, r.text
    r = support.post(SEARCH, json={"field": "email", "value": s.people[s.support_search]["email"]})
    assert r.status_code == 200 and len(r.json()["results"]) == 1, r.text
    r = support.post(SEARCH, json={"field": "email", "value": "nobody.at.all@example.fr"})
    assert r.status_code == 200 and r.json()["results"] == [], r.text
    # Denied: no purpose it may use; refused iban search.
    error_of(support.get(f"{PEOPLE}/{s.refs[o[7]]['id']}", headers={"X-Coffre-Purpose": "admin"}), 403)
    error_of(support.post(SEARCH, json={"field": "iban", "value": s.people[o[7]]["iban"]}), 403)
    adviser = v.client("adviser", "follow_up")
    assert adviser.get(f"{PEOPLE}/{s.refs[s.adviser_ok]['id']}").status_code == 200
    error_of(adviser.get(f"{PEOPLE}/{s.refs[s.adviser_denied]['id']}"), 403, "forbidden")
    crm = v.client("crm", "follow_up", on_behalf_of="user-a")
    assert crm.get(f"{PEOPLE}/{s.refs[s.crm_read]['id']}").status_code == 200
    s.t2 = int(v.now())
    v.advance(10)
    # After the window.
    assert support.get(f"{PEOPLE}/{s.refs[s.support_after]['id']}").status_code == 200
    for c in (support, adviser, crm):
        c.close()
    yield s
    if v.running():
        stop_checked(v)


def iso(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def window(s, **extra):
    return {"from": iso(s.t1), "to": iso(s.t2), **extra}


def subjects_of(s, indexes):
    return sorted({s.refs[i]["subject"] for i in indexes})


def cli_report(s, *args, db=None, check_exit=EXIT_OK):
    v = s.vault
    r = v.cli("breach-report", db or v.dir, *args, check=False)
    assert r.returncode == check_exit, (r.returncode, r.stdout[-500:], r.stderr[-1000:])
    return r


def cli_json(s, principal, *more, db=None):
    r = cli_report(s, "--principal", principal, "--from", iso(s.t1), "--to", iso(s.t2),
                   "--format", "json", *more, db=db)
    return json.loads(r.stdout)


def api_report(s, body):
    c = s.vault.client("auditor", "investigation")
    try:
        return c.post("/v1/breach-reports", json=body)
    finally:
        c.close()


def exposures(report):
    return {x["subject"]: x for x in report["exposures"]}


# ---------------------------------------------------------------------------

def test_cli_report_lists_exactly_the_people_returned_with_their_views(drill):
    s = drill
    report = cli_json(s, "support")
    assert report["verification"]["ok"] is True
    assert report["verification"]["anchored"] is True
    assert report["verification"]["entries"] >= 8
    want = subjects_of(s, s.support_window + [s.support_search])
    assert report["subjects"] == want, "the report lists other people than those read"
    assert report["people"] == 4
    x = exposures(report)
    for i in s.support_window:
        assert x[s.refs[i]["subject"]]["fields"] == SUPPORT_VIEWS
        assert x[s.refs[i]["subject"]]["actions"] == ["read"]
    assert x[s.refs[s.support_window[0]]["subject"]]["entries"] == 2
    hit = x[s.refs[s.support_search]["subject"]]
    assert hit["fields"] == {"people.email": "masked"} and hit["actions"] == ["search"]
    # Reads outside the window and denied reads are not in it.
    for i in (s.support_before, s.support_after, s.other[7]):
        assert s.refs[i]["subject"] not in report["subjects"]
    assert report["entries"]["denied"] >= 2
    cats = report["categories"]
    # Contact: the postal address is clear for support, email and phone masked.
    assert cats["contact"]["people"] == 4 and cats["contact"]["people_clear"] == 3
    assert cats["identity"]["people_clear"] == 3
    assert cats["financial"]["people"] == 0, "support never saw an IBAN"
    assert cats["national_id"]["people"] == 3 and cats["national_id"]["people_clear"] == 0


def test_api_report_agrees_with_the_cli_and_carries_ids_only(drill):
    s = drill
    r = api_report(s, window(s, principal="support", format="json"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("application/json")
    api = r.json()
    cli = cli_json(s, "support")
    for key in ("subjects", "exposures", "categories", "people", "records"):
        assert api[key] == cli[key], key
    # No personal value of anyone, in any format.
    for fmt in ("json", "md", "csv"):
        text = api_report(s, window(s, principal="support", format=fmt)).text
        for p in s.people:
            c = canonical(p)
            for field in ("email", "nir", "phone", "iban", "last_name"):
                assert c[field] not in text, (fmt, field)
    csv = api_report(s, window(s, principal="support", format="csv"))
    assert csv.headers["Content-Type"].startswith("text/csv")
    rows = csv.text.strip().splitlines()
    assert rows[0] == "subject,collections,fields"
    assert sorted(row.split(",")[0] for row in rows[1:]) == api["subjects"]
    md = api_report(s, window(s, principal="support", format="md", contact="DPO, dpo@example.org"))
    assert md.headers["Content-Type"].startswith("text/markdown")
    assert "art. 33(3)" in md.text and "DPO, dpo@example.org" in md.text
    assert "Approximate number of data subjects concerned: 4" in md.text


def test_denied_reads_expose_nothing_and_users_are_reported_apart(drill):
    s = drill
    adviser = cli_json(s, "adviser")
    assert adviser["subjects"] == subjects_of(s, [s.adviser_ok])
    assert exposures(adviser)[s.refs[s.adviser_ok]["subject"]]["fields"] == ADVISER_VIEWS
    assert adviser["entries"]["denied"] == 1
    # The end user's report: what was read on its behalf, by any service.
    for report in (cli_json(s, "user-a"), cli_json(s, "crm", "--user", "user-a"),
                   api_report(s, window(s, principal="user-a")).json()):
        assert report["subjects"] == subjects_of(s, [s.crm_read])
        assert exposures(report)[s.refs[s.crm_read]["subject"]]["fields"] == CRM_VIEWS
    # No request was ever made on behalf of admin-a: a mistake, not a report of no one.
    r = cli_report(s, "--principal", "crm", "--user", "admin-a", "--from", iso(s.t1), "--to", iso(s.t2),
                   check_exit=EXIT_NOT_FOUND)
    assert not r.stdout


def test_only_the_auditor_asks_for_reports(drill):
    s = drill
    body = window(s, principal="support")
    for who, purpose in (("support", "support"), ("admin-a", "admin"), ("auditor", "support")):
        c = s.vault.client(who, purpose)
        error_of(c.post("/v1/breach-reports", json=body), 403, "forbidden")
        c.close()
    c = s.vault.client("auditor", "investigation")
    error_of(c.post("/v1/breach-reports", json={"principal": "support", "from": "soon", "to": iso(s.t2)}),
             400, "invalid_request")
    error_of(c.post("/v1/breach-reports", json={**body, "format": "pdf"}), 400, "invalid_request")
    error_of(c.get("/v1/breach-reports"), 405)
    c.close()


def iso_offset(t, hours):
    """The same instant as iso(t), written in another offset (RFC 3339)."""
    import datetime
    tz = datetime.timezone(datetime.timedelta(hours=hours))
    return datetime.datetime.fromtimestamp(t, tz).isoformat()


def day(t):
    import datetime
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%d")


def test_times_take_any_offset_and_plain_dates(drill):
    """Issue 13, item 5: every time parameter takes RFC 3339 with any offset
    and a plain date (a UTC day, whole as `from` and as `to`)."""
    s = drill
    v = s.vault
    want = cli_json(s, "support")["subjects"]
    # The same window written with +01:00 and -05:30 offsets (lowercase t and z elsewhere).
    r = cli_report(s, "--principal", "support", "--from", iso_offset(s.t1, 1), "--to", iso_offset(s.t2, -5.5),
                   "--format", "json")
    assert json.loads(r.stdout)["subjects"] == want
    body = {"principal": "support", "from": iso(s.t1).lower(), "to": iso_offset(s.t2, 2)}
    r = api_report(s, body)
    assert r.status_code == 200, r.text
    assert r.json()["subjects"] == want
    # Plain dates: the whole UTC days around the window (support read more then).
    r = cli_report(s, "--principal", "support", "--from", day(s.t1 - 3600), "--to", day(s.t2 + 3600),
                   "--format", "json")
    by_day = json.loads(r.stdout)
    assert set(want) <= set(by_day["subjects"])
    assert by_day["from"].endswith("T00:00:00Z") and by_day["to"].endswith("T23:59:59Z"), by_day
    # /v1/audit and /v1/alerts: an offset, even with its '+' left unescaped in the URL, and dates.
    from_plus = iso_offset(s.t1, 1)
    entries = _audit(s, f"principal=support&from={from_plus}&to={iso(s.t2)}&limit=1000")
    encoded = _audit(s, f"principal=support&from={from_plus.replace('+', '%2B')}&to={iso(s.t2)}&limit=1000")
    exact = _audit(s, f"principal=support&from={iso(s.t1)}&to={iso(s.t2)}&limit=1000")
    assert entries == encoded == exact and entries
    assert _audit(s, f"principal=support&from={day(s.t1)}&to={day(s.t2)}&limit=1000")
    c = v.client("auditor", "investigation")
    try:
        error_of(c.get("/v1/audit?from=2026-02-30"), 400, "invalid_request")
        assert "2026-02 has no day 30" in c.get("/v1/audit?from=2026-02-30").text
        error_of(c.get("/v1/audit?to=2026-12-01T10:00:00"), 400, "invalid_request")
        error_of(c.post("/v1/breach-reports", json={**body, "from": "2026-02-29"}), 400, "invalid_request")
        r = c.get(f"/v1/alerts?from={day(s.t1)}&to={iso_offset(s.t2, 1)}")
        assert r.status_code == 200 and "alerts" in r.json(), r.text
        error_of(c.get("/v1/alerts?from=2026-12-01T25:00:00Z"), 400, "invalid_request")
    finally:
        c.close()
    r = cli_report(s, "--principal", "support", "--from", "2026-02-30", "--to", iso(s.t2), check_exit=EXIT_INVALID)
    assert "2026-02 has no day 30" in r.stderr
    r = v.cli("alerts", v.dir, "--from", "2026-13-01", check=False)
    assert r.returncode == EXIT_INVALID and "month 13" in r.stderr, r.stderr


def test_a_name_never_used_is_not_found_and_a_quiet_window_is_no_one(drill):
    """Issue 13, item 6."""
    s = drill
    r = cli_report(s, "--principal", "suport", "--from", iso(s.t1), "--to", iso(s.t2), check_exit=EXIT_NOT_FOUND)
    assert "no audit entry has ever named this principal" in r.stderr and not r.stdout
    error_of(api_report(s, window(s, principal="suport")), 404, "not_found")
    error_of(api_report(s, window(s, principal="crm", user="nobody-ever")), 404, "not_found")
    # support was named, but not in this window: a report of no one, and no draft to send.
    quiet = {"from": iso(s.t1 - 3), "to": iso(s.t1 - 2)}
    r = api_report(s, {"principal": "support", **quiet, "format": "json"})
    assert r.status_code == 200, r.text
    assert r.json()["people"] == 0 and r.json()["subjects"] == []
    md = api_report(s, {"principal": "support", **quiet, "format": "md"}).text
    assert "there is no notification to draft" in md and "(a) Nature" not in md


def test_notification_drafts_in_french(drill):
    """Issue 13, item 6: --lang fr / "lang": "fr"; English by default."""
    s = drill
    r = cli_report(s, "--principal", "support", "--from", iso(s.t1), "--to", iso(s.t2), "--lang", "fr")
    fr = r.stdout
    for part in ("Projet de notification à l'autorité de contrôle (RGPD, art. 33)",
                 "Nombre approximatif de personnes concernées : 4",
                 "Projet d'information des personnes concernées (RGPD, art. 34)", "Madame, Monsieur,", "CNIL"):
        assert part in fr, part
    assert "TO BE COMPLETED" not in fr
    api = api_report(s, window(s, principal="support", format="md", lang="fr"))
    assert api.status_code == 200 and "RGPD, art. 33" in api.text
    en = api_report(s, window(s, principal="support", format="md")).text
    assert "Draft notice to the people concerned (GDPR art. 34)" in en and "RGPD" not in en
    error_of(api_report(s, window(s, principal="support", format="md", lang="de")), 400, "invalid_request")
    cli_report(s, "--principal", "support", "--from", iso(s.t1), "--to", iso(s.t2), "--lang", "de",
               check_exit=EXIT_INVALID)


def _human(s, name, purpose):
    r = s.vault.login(name)
    assert r.status_code == 201, r.text
    return Client(s.vault.url, s.vault.cert, token=r.json()["token"], purpose=purpose)


def _approve(s, action, params):
    a = s.vault.client("admin-a", "admin")
    b = _human(s, "admin-b", "admin")
    c = s.vault.client("admin-c", "admin")
    try:
        r = a.post("/v1/approvals", json={"action": action, "params": params})
        assert r.status_code == 201, r.text
        approval = r.json()
        assert approval["state"] == "pending" and approval["requester"] == "admin-a"
        error_of(a.post(f"/v1/approvals/{approval['id']}/approve"), 403, "forbidden")
        # Issue 13: what waits is listed; a service key is no second person.
        r = b.get("/v1/approvals", params={"state": "pending"})
        assert r.status_code == 200, r.text
        assert approval["id"] in [p["id"] for p in r.json()["approvals"]]
        assert all(p["state"] == "pending" for p in r.json()["approvals"])
        msg = error_of(c.post(f"/v1/approvals/{approval['id']}/approve"), 403, "forbidden")
        assert "human" in msg, msg
        r = b.post(f"/v1/approvals/{approval['id']}/approve")
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "approved" and r.json()["approver"] == "admin-b"
        return approval["id"]
    finally:
        a.close()
        b.close()
        c.close()


def _keygen(s, name):
    r = s.vault.cli("keygen", "--out-secret", s.vault.root / f"{name}.secret")
    return s.vault.last_json(r)["public_key"]


def _decrypt(s, name, sealed):
    r = s.vault.cli("decrypt", "--secret-key", s.vault.root / f"{name}.secret", sealed)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def _audit(s, query):
    c = s.vault.client("auditor", "investigation")
    try:
        r = c.get(f"/v1/audit?{query}")
        assert r.status_code == 200, r.text
        return r.json()["entries"]
    finally:
        c.close()


def test_bulk_export_needs_two_admins_and_comes_back_sealed(drill):
    s = drill
    v = s.vault
    pk = _keygen(s, "export")
    out = v.root / "people.sealed"
    # Not approved yet: refused.
    a = v.client("admin-a", "admin")
    r = a.post("/v1/approvals", json={"action": "bulk_export", "params": {"collection": "people"}})
    a.close()
    assert r.status_code == 201
    pending = r.json()["id"]
    r = v.cli("bulk-export", v.dir, "people", "--approval", pending, "--recipient", pk, "--out", out, check=False)
    assert r.returncode == EXIT_DENIED, r.stderr
    assert not out.exists()

    approval = _approve(s, "bulk_export", {"collection": "people"})
    r = v.cli("bulk-export", v.dir, "people", "--approval", approval, "--recipient", pk, "--out", out)
    summary = v.last_json(r)
    assert summary["records"] == len(s.people)
    raw = out.read_bytes()
    for p in s.people:
        assert canonical(p)["email"].encode() not in raw
    lines = _decrypt(s, "export", out)
    assert len(lines) == len(s.people)
    assert {canonical(p)["email"] for p in s.people} == {x["fields"]["email"] for x in lines}
    exported = {x["subject"] for x in lines}
    # The audit log lists every exported subject.
    audited = set()
    for e in _audit(s, "principal=local&limit=1000"):
        if e["action"] == "bulk_export":
            audited.update(e["subjects"])
    assert audited == exported
    # The migration path (docs/import.md): the decrypted export imports into a
    # new vault with every record and subject id kept, the values unchanged.
    plain = v.root / "people.export.ndjson"
    v.cli("decrypt", "--secret-key", v.root / "export.secret", "--out", plain, out)
    new_dir = v.root / "migrated"
    v.cli("init", new_dir, "--schema", SCHEMA)
    r = v.cli("import", new_dir, "people", plain, "--format", "export")
    assert v.last_json(r)["imported"] == len(lines) and v.last_json(r)["rejected"] == 0
    for x in lines[:5] + lines[-5:]:
        got = v.last_json(v.cli("get", new_dir, "people", x["id"]))
        assert got["subject"] == x["subject"] and got["fields"] == x["fields"]
    # Once only: the collection now holds those ids.
    r = v.cli("import", new_dir, "people", plain, "--format", "export", check=False)
    assert r.returncode == EXIT_EXISTS, r.stderr
    plain.unlink()
    # Single use; another key cannot open it.
    r = v.cli("bulk-export", v.dir, "people", "--approval", approval, "--recipient", pk,
              "--out", v.root / "again.sealed", check=False)
    assert r.returncode == EXIT_DENIED
    _keygen(s, "stranger")
    r = v.cli("decrypt", "--secret-key", v.root / "stranger.secret", out, check=False)
    assert r.returncode == EXIT_INTEGRITY and not r.stdout


def test_notification_list_holds_the_contact_channels_of_exactly_the_exposed(drill):
    s = drill
    v = s.vault
    pk = _keygen(s, "dpo")
    out = v.root / "notify.sealed"
    args = ["--principal", "support", "--from", iso(s.t1), "--to", iso(s.t2), "--format", "json",
            "--notify-file", out, "--recipient", pk]
    # An approval for another window does not do.
    other = _approve(s, "breach_notification", {"principal": "support", "from": iso(s.t1), "to": iso(s.t2 + 60)})
    cli_report(s, *args, "--approval", other, check_exit=EXIT_DENIED)
    assert not out.exists()
    approval = _approve(s, "breach_notification", {"principal": "support", "from": iso(s.t1), "to": iso(s.t2)})
    r = cli_report(s, *args, "--approval", approval)
    assert json.loads(r.stdout)["subjects"] == subjects_of(s, s.support_window + [s.support_search])
    lines = _decrypt(s, "dpo", out)
    header, people = lines[0], lines[1:]
    assert header["people"] == 4 and header["principal"] == "support"
    by_subject = {x["subject"]: x for x in people}
    assert sorted(by_subject) == subjects_of(s, s.support_window + [s.support_search])
    for i in s.support_window + [s.support_search]:
        x = by_subject[s.refs[i]["subject"]]
        c = canonical(s.people[i])
        assert x["contact"]["people.email"] == c["email"]
        assert x["contact"]["people.phone"] == c["phone"]
        assert x["contact"]["people.postal_address"]
        assert set(x["contact"]) == {"people.email", "people.phone", "people.postal_address"}
    # Its decryptions are audited as reads by local; the approval is spent.
    reads = [e for e in _audit(s, "principal=local&limit=1000")
             if e["action"] == "read" and "breach notification" in e.get("reason", "")]
    assert sorted({sub for e in reads for sub in e["subjects"]}) == sorted(by_subject)
    cli_report(s, *args[:-4], "--notify-file", v.root / "notify2.sealed", "--recipient", pk,
               "--approval", approval, check_exit=EXIT_DENIED)


# -- tampering (stops the server: keep last) ---------------------------------------------------

def _ldb(db, *args):
    r = subprocess.run(["ldb", f"--db={db}", "--column_family=audit", "--hex", *args],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"ldb {args[0]}: {r.stdout[-300:]} {r.stderr[-300:]}"
    return r.stdout.strip()


def test_a_tampered_entry_in_the_window_fails_the_report(drill, coffre_bin):
    s = drill
    v = s.vault
    seq = next(e["seq"] for e in _audit(s, "principal=support&limit=1000")
               if e["action"] == "read" and e["outcome"] == "allowed"
               and e["subjects"] == [s.refs[s.support_window[1]]["subject"]])
    stop_checked(v)
    name = "tampered"
    db = _copy(v, name)
    key = "0x65" + f"{seq:016X}"
    raw = bytearray.fromhex(_ldb(db, "get", key)[2:])
    raw[-33] ^= 0x01  # the last byte of the entry, before its stored hash
    _ldb(db, "put", key, "0x" + raw.hex().upper())

    # The untouched vault still reports; the copy does not.
    assert cli_json(s, "support")["verification"]["ok"] is True
    r = cli_report(s, "--principal", "support", "--from", iso(s.t1), "--to", iso(s.t2), "--format", "json",
                   db=db, check_exit=EXIT_INTEGRITY)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ok"] is False and out["first_bad_seq"] == seq, out
    assert "subjects" not in out

    # The same through the API of a server on the tampered copy.
    t = Vault(coffre_bin, v.root, name)
    t.principals = v.principals
    t.set_clock(v.offset)
    t.start()
    try:
        error = error_of(api_report(s_with(t), window(s, principal="support")), 500, "integrity_failure")
        assert "verification" in error and str(seq) in error
    finally:
        stop_checked(t)


def _copy(v, name):
    db = v.root / name
    subprocess.run(["cp", "-a", str(v.dir), str(db)], check=True, timeout=60)
    shutil.copy2(v.anchor, v.root / f"{name}.audit-anchor")
    shutil.copy2(v.key_file, v.root / f"{name}.key")
    shutil.copy2(v.root / "vault.erasures", v.root / f"{name}.erasures")
    return db


def _varint(b, i):
    value = shift = 0
    while True:
        c = b[i]
        i += 1
        value |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return value, i


def _enc_varint(v):
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _scan(db, tag):
    """{seq: value bytes} of the audit space's keys with this tag ('e', 'c')."""
    out = {}
    for line in _ldb(db, "scan", f"--from=0x{ord(tag):02X}", f"--to=0x{ord(tag) + 1:02X}").splitlines():
        key, sep, value = line.partition(" : ")
        if not sep:
            continue
        k = bytes.fromhex(key.strip()[2:])
        out[int.from_bytes(k[1:9], "big")] = bytes.fromhex(value.strip()[2:])
    return out


def test_shifted_entry_times_never_give_an_ok_report_with_fewer_people(drill):
    """Issue 13, item 11: someone holding DIR moves the times of the window's
    entries (and of those up to the next checkpoint) before the window,
    keeping their stored hashes. The time search then starts the report at
    that later checkpoint: today's main said ok with 0 people. The report
    must fail (exit 6) or list everyone."""
    s = drill
    v = s.vault
    assert not v.running()  # stopped by the test above
    want = subjects_of(s, s.support_window + [s.support_search])
    db = _copy(v, "shifted")
    entries = _scan(db, "e")
    times = {}
    for seq, value in entries.items():
        b = value[:-32]
        assert b[0] in (1, 2), "entry format version (2 carries a request id after the same fields)"
        _, i = _varint(b, 1)
        times[seq], _ = _varint(b, i)
    first = min(seq for seq, t in times.items() if t >= s.t1 * 1000)
    last = max(seq for seq, t in times.items() if t <= s.t2 * 1000 + 999)
    after = min(seq for seq in _scan(db, "c") if seq >= last)
    for seq in range(first, after + 1):
        value = entries[seq]
        b, stored_hash = value[:-32], value[-32:]
        _, i = _varint(b, 1)
        _, j = _varint(b, i)
        shifted = b[:i] + _enc_varint(s.t1 * 1000 - 1000) + b[j:]
        _ldb(db, "put", "0x65" + f"{seq:016X}", "0x" + (shifted + stored_hash).hex().upper())
    r = v.cli("breach-report", db, "--principal", "support", "--from", iso(s.t1), "--to", iso(s.t2),
              "--format", "json", check=False)
    if r.returncode == EXIT_OK:
        assert json.loads(r.stdout)["subjects"] == want, "an ok report that lost exposures"
    assert r.returncode == EXIT_INTEGRITY, (r.returncode, r.stdout[-300:], r.stderr[-300:])
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["ok"] is False and first <= out["first_bad_seq"] <= after, out


def s_with(vault):
    """Something api_report takes, for another vault."""
    class View:
        pass
    x = View()
    x.vault = vault
    return x
