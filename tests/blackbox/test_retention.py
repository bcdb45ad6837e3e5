"""Retention drill (issue 5, docs/retention.md) against the real server, with
an injected clock.

The vault holds examples/people.toml's people (client rule: archived 3
years, deleted 5 years after `relationship_end`) under
examples/people-policy.toml, plus two drill collections: prospects counted
from a named date field (archive 1 year, delete 3 years: the CNIL's
default) and visits counted from their last write (archive 30 days,
delete 90 days). Records past their rule cannot be read after a sweep (an
allowed reader gets 404 not_found, as for any absent record; a reader
without rights still gets 403, so nothing is learnt); archived ones are
read only by the `archivist` role with the purpose `legal_claim`; a legal
hold keeps a subject, and after its release the next sweep removes it; the
report lists what will go and when, with ids and no values; `retention
run` sweeps expired cards as well.

The tests run in file order and share one vault: each one starts where the
previous one left it.
"""
import datetime
import json
import time

import pytest

from conftest import (EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, POLICY, SCHEMA, Vault, canonical, error_of,
                      luhn_complete, seeded_values, stop_checked)

PEOPLE = "/v1/collections/people/records"
DAY = 86400

DRILL_SCHEMA_EXTRA = """
[collections.prospects]
fields = [
  { name = "email",        type = "email", required = true, unique = true, searchable = true },
  { name = "last_contact", type = "date" },
  { name = "card",         type = "pan" },
]
[collections.prospects.retention]
category      = "prospect"
from          = "last_contact"
archive_after = "1y"

[collections.visits]
fields = [ { name = "note", type = "text", required = true } ]
[collections.visits.retention]
archive_after = "30d"
delete_after  = "90d"
"""

DRILL_POLICY_EXTRA = """
[roles.admin.collections.prospects]
actions  = ["create", "read", "update", "search"]
purposes = ["admin"]
fields   = { "*" = "clear" }

[roles.admin.collections.visits]
actions  = ["create", "read", "update"]
purposes = ["admin"]
fields   = { "*" = "clear" }
"""

# Indexes of imported people and what their relationship_end is set to.
P_DEL, P_ARCH, P_HELD, P_KEEP, P_SOON = range(5)
TEST_PAN = luhn_complete("497010" + "314159265")  # computed, never written out (conftest)


def server_date(v, years=0, days=0):
    """The server's today, moved by whole years (29 February -> 28) and days."""
    d = datetime.datetime.fromtimestamp(v.now(), datetime.timezone.utc).date()
    y = d.year + years
    try:
        d = d.replace(year=y)
    except ValueError:
        d = d.replace(year=y, day=28)
    return d + datetime.timedelta(days=days)


def plus_years(d, years):
    """RFC 3339 midnight of date `d` + calendar years (as the vault counts)."""
    y = d.year + years
    try:
        d = d.replace(year=y)
    except ValueError:
        d = d.replace(year=y, day=28)
    return d.isoformat() + "T00:00:00Z"


class Drill:
    pass


def record_path(collection, ref):
    return f"/v1/collections/{collection}/records/{ref['id']}"


@pytest.fixture(scope="module")
def drill(coffre_bin, vault_root):
    v = Vault(coffre_bin, vault_root)
    schema = vault_root / "schema.toml"
    schema.write_text(SCHEMA.read_text(encoding="utf-8") + DRILL_SCHEMA_EXTRA, encoding="utf-8")
    policy = vault_root / "policy.toml"
    policy.write_text(POLICY.read_text(encoding="utf-8") + DRILL_POLICY_EXTRA, encoding="utf-8")
    v.init(schema=schema, policy=policy)
    everyone = v.gen(24, 5, vault_root / "people-all.ndjson")
    people, spare = everyone[:12], everyone[12:]
    with open(vault_root / "people.ndjson", "w", encoding="utf-8") as f:
        for p in people:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    # `coffre gen` data imports into the example schema with its rule.
    summary = v.import_people(vault_root / "people.ndjson")
    assert summary["imported"] == 12 and summary["rejected"] == 0, summary
    d = Drill()
    d.v, d.people, d.spare = v, people, spare
    d.refs = [v.find("email", p["email"])[0] for p in people]
    for name, role in (("admin", "admin"), ("archivist", "archivist"), ("support", "support_agent"),
                       ("auditor", "auditor"), ("payment", "payment")):
        v.add_principal(name, "service", role)
    v.start()
    d.admin = v.client("admin", "admin")
    d.archivist = v.client("archivist", "legal_claim")
    d.auditor = v.client("auditor", "investigation")
    # The server sweeps once at start (ADR 0012): let that sweep pass
    # before anything becomes due, so that every later sweep is the test's.
    for _ in range(200):
        r = d.auditor.get("/v1/audit", params={"principal": "coffre", "limit": 1000})
        assert r.status_code == 200, r.text
        if any(e["action"] == "retention.sweep" for e in r.json()["entries"]):
            break
        time.sleep(0.05)
    else:
        raise AssertionError("the server did not sweep at start")

    # People: the end of the relationship, set by the application.
    d.ends = {P_DEL: server_date(v, years=-6), P_ARCH: server_date(v, years=-4),
              P_HELD: server_date(v, years=-6), P_SOON: server_date(v, years=-2)}
    for i, end in d.ends.items():
        r = d.admin.patch(record_path("people", d.refs[i]), json={"fields": {"relationship_end": end.isoformat()}})
        assert r.status_code == 200, r.text
    # Prospects, from their last contact.
    d.contacts = {"del": server_date(v, years=-4), "arch": server_date(v, years=-2),
                  "keep": server_date(v, days=-30), "nodate": None}
    d.prospects = {}
    for n, (key, contact) in enumerate(d.contacts.items()):
        fields = {"email": spare[n]["email"]}
        if contact is not None:
            fields["last_contact"] = contact.isoformat()
        if key == "arch":
            fields["card"] = TEST_PAN  # a card number, to be masked in the archive
        r = d.admin.post("/v1/collections/prospects/records", json={"fields": fields})
        assert r.status_code == 201, r.text
        d.prospects[key] = r.json()
    # Visits, from their last write.
    d.visits = {}
    for key in ("old", "touched", "read"):
        r = d.admin.post("/v1/collections/visits/records", json={"fields": {"note": f"visit {key}"}})
        assert r.status_code == 201, r.text
        d.visits[key] = r.json()
    d.values = set().union(*(seeded_values(p) for p in everyone))
    yield d
    for c in (d.admin, d.archivist, d.auditor):
        c.close()
    if v.running():
        stop_checked(v)


def hold_path(ref):
    return f"/v1/subjects/{ref['subject']}/hold"


def run(d, env=None):
    r = d.v.cli("retention", "run", d.v.dir, env=env)
    return d.v.last_json(r)


def no_values(d, text, what):
    leaked = [n for n, value in enumerate(sorted(d.values)) if value in text]
    assert not leaked, f"{what} carries {len(leaked)} personal values"


def test_a_legal_hold_is_set_by_the_archivist_only(drill):
    d = drill
    held = d.refs[P_HELD]
    r = d.archivist.request("PUT", hold_path(held))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["subject"] == held["subject"] and body["held"] is True and body["by"] == "archivist", body
    assert d.archivist.get(hold_path(held)).json()["held"] is True
    support = d.v.client("support", "support")
    wrong_purpose = d.v.client("archivist", "admin")
    anonymous = d.v.client()
    try:
        error_of(support.request("PUT", hold_path(d.refs[P_DEL])), 403, "forbidden")
        error_of(d.admin.request("PUT", hold_path(d.refs[P_DEL])), 403, "forbidden")
        error_of(wrong_purpose.request("PUT", hold_path(d.refs[P_DEL])), 403, "forbidden")
        error_of(anonymous.request("PUT", hold_path(d.refs[P_DEL])), 401, "unauthenticated")
    finally:
        for c in (support, wrong_purpose, anonymous):
            c.close()
    error_of(d.archivist.request("PUT", "/v1/subjects/not-hex/hold"), 400, "invalid_request")
    error_of(d.archivist.request("PUT", f"/v1/subjects/{'0' * 32}/hold"), 404, "not_found")
    error_of(d.archivist.delete(hold_path(d.refs[P_DEL])), 404, "not_found")
    # Nothing but the one hold was set.
    for i in (P_DEL, P_ARCH, P_KEEP):
        assert d.archivist.get(hold_path(d.refs[i])).json()["held"] is False


def test_the_report_lists_what_will_go_and_when_with_ids_only(drill):
    d = drill
    r = d.v.cli("retention", "report", d.v.dir)  # over the socket: the server runs
    no_values(d, r.stdout, "the report")
    report = d.v.last_json(r)
    by_name = {c["collection"]: c for c in report["collections"]}
    assert list(by_name) == ["people", "prospects", "visits"], list(by_name)

    people = by_name["people"]
    assert people["rule"] == {"from": "relationship_end", "delete_after": "5y", "archive_after": "3y",
                              "category": "client"}
    assert people["online"] == 12 and people["archived"] == 0
    assert people["undated"] == 8, "current clients (no relationship_end) are not counted down"
    assert people["due_now"] == 3 and people["held"] == 1
    planned = {p["id"]: p for p in people["records"]}
    assert set(planned) == {d.refs[i]["id"] for i in d.ends}
    for i, end in d.ends.items():
        p = planned[d.refs[i]["id"]]
        assert set(p) == {"id", "subject", "state", "action", "due", "held"}, p
        assert p["subject"] == d.refs[i]["subject"] and p["state"] == "online"
        assert p["held"] is (i == P_HELD)
        if i in (P_DEL, P_HELD):
            assert (p["action"], p["due"]) == ("delete", plus_years(end, 5)), p
        else:
            assert (p["action"], p["due"]) == ("archive", plus_years(end, 3)), p
    dues = [p["due"] for p in people["records"]]
    assert dues == sorted(dues), "soonest first"

    prospects = {p["id"]: p for p in by_name["prospects"]["records"]}
    assert len(prospects) == 4 and by_name["prospects"]["due_now"] == 2
    assert (prospects[d.prospects["del"]["id"]]["action"],
            prospects[d.prospects["del"]["id"]]["due"]) == ("delete", plus_years(d.contacts["del"], 3))
    assert (prospects[d.prospects["arch"]["id"]]["action"],
            prospects[d.prospects["arch"]["id"]]["due"]) == ("archive", plus_years(d.contacts["arch"], 1))
    # Without a last contact, the prospect counts from its last write (now).
    nodate = prospects[d.prospects["nodate"]["id"]]
    assert nodate["action"] == "archive" and nodate["due"] > plus_years(server_date(d.v, days=-1), 1)

    visits = by_name["visits"]
    assert visits["rule"] == {"from": "last_activity", "delete_after": "90d", "archive_after": "30d",
                              "category": None}
    assert visits["due_now"] == 0 and len(visits["records"]) == 3
    assert all(p["action"] == "archive" for p in visits["records"])
    # The report changed nothing.
    assert d.admin.get(record_path("people", d.refs[P_DEL])).status_code == 200


def test_after_a_sweep_records_past_their_rule_cannot_be_read(drill):
    d = drill
    out = run(d)
    assert (out["archived"], out["deleted"], out["held"]) == (2, 2, 1), out
    assert out["held_subjects"] == [d.refs[P_HELD]["subject"]]
    assert out["cards"] == {"expired": 0, "evidence_deleted": 0, "unreadable": 0}

    gone = [("people", d.refs[P_DEL]), ("people", d.refs[P_ARCH]),
            ("prospects", d.prospects["del"]), ("prospects", d.prospects["arch"])]
    kept = [("people", d.refs[P_HELD]), ("people", d.refs[P_KEEP]), ("people", d.refs[P_SOON]),
            ("prospects", d.prospects["keep"]), ("prospects", d.prospects["nodate"])]
    # Deleted or archived alike: an allowed reader finds no record (404, as
    # for any absent record, docs/api.md)...
    for collection, ref in gone:
        error_of(d.admin.get(record_path(collection, ref)), 404, "not_found")
    for collection, ref in kept:
        assert d.admin.get(record_path(collection, ref)).status_code == 200, (collection, ref["id"])
    support = d.v.client("support", "support")
    payment = d.v.client("payment", "payment")
    try:
        error_of(support.get(record_path("people", d.refs[P_DEL])), 404, "not_found")
        # ... and a reader without rights is refused first, for a swept
        # record as for a live one: the answer tells nothing.
        error_of(payment.get(record_path("people", d.refs[P_DEL])), 403, "forbidden")
        error_of(payment.get(record_path("people", d.refs[P_KEEP])), 403, "forbidden")
    finally:
        support.close()
        payment.close()
    # Not findable either: archiving drops the index entries, deleting shreds.
    for key in ("del", "arch"):
        r = d.admin.post("/v1/collections/prospects/search",
                         json={"field": "email", "value": d.spare[list(d.contacts).index(key)]["email"]})
        assert r.status_code == 200 and r.json()["results"] == [], r.text

    # Audited as principal coffre, ids and the rule, never a value.
    r = d.auditor.get("/v1/audit", params={"principal": "coffre", "limit": 1000})
    assert r.status_code == 200, r.text
    no_values(d, r.text, "the audit entries")
    entries = r.json()["entries"]
    done = {(e["action"], e["record_id"]) for e in entries if e["action"] in ("retention.delete", "retention.archive")}
    assert done == {("retention.delete", d.refs[P_DEL]["id"]), ("retention.delete", d.prospects["del"]["id"]),
                    ("retention.archive", d.refs[P_ARCH]["id"]), ("retention.archive", d.prospects["arch"]["id"])}
    for e in entries:
        if e["action"] == "retention.delete" and e["record_id"] == d.refs[P_DEL]["id"]:
            assert e["subjects"] == [d.refs[P_DEL]["subject"]] and e["fields"] == []
            assert e["reason"] == "delete_after 5y from relationship_end (client)", e


def test_archived_records_are_read_only_by_the_archivist_for_a_legal_claim(drill):
    d = drill
    ref = d.refs[P_ARCH]
    path = f"/v1/archive/people/{ref['id']}"
    r = d.archivist.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["archived"] is True and body["id"] == ref["id"] and body["subject"] == ref["subject"]
    want = canonical(d.people[P_ARCH])
    want["relationship_end"] = d.ends[P_ARCH].isoformat()
    assert body["fields"] == want, "the archive holds the record as it was, in clear"

    others = [d.v.client("archivist", "admin"), d.v.client("archivist", "follow_up"),
              d.v.client("admin", "admin"), d.v.client("support", "support"),
              d.v.client("auditor", "investigation"), d.v.client("payment", "payment")]
    anonymous = d.v.client()
    try:
        for c in others:
            error_of(c.get(path), 403, "forbidden")
        error_of(anonymous.get(path), 401, "unauthenticated")
    finally:
        for c in others + [anonymous]:
            c.close()
    # The archivist reads the archive, not the online base; deleted records
    # are in neither.
    error_of(d.archivist.get(record_path("people", d.refs[P_KEEP])), 403, "forbidden")
    error_of(d.archivist.get(f"/v1/archive/people/{d.refs[P_KEEP]['id']}"), 404, "not_found")
    error_of(d.archivist.get(f"/v1/archive/people/{d.refs[P_DEL]['id']}"), 404, "not_found")
    r = d.archivist.get(f"/v1/archive/prospects/{d.prospects['arch']['id']}")
    assert r.status_code == 200, r.text
    # Card numbers stay masked in the archive: only role payment with
    # purpose payment sees them in clear (ADR 0010), and it has no archive read.
    fields = r.json()["fields"]
    assert fields["card"] == TEST_PAN[:6] + "******" + TEST_PAN[-4:], fields
    assert "*" not in fields["email"] and fields["last_contact"] == d.contacts["arch"].isoformat()
    error_of(d.archivist.get(f"/v1/archive/prospects/{d.prospects['del']['id']}"), 404, "not_found")

    # Every archive read is audited with the fields shown.
    r = d.auditor.get("/v1/audit", params={"principal": "archivist", "limit": 1000})
    reads = [e for e in r.json()["entries"]
             if e["action"] == "archive.read" and e["record_id"] == ref["id"] and e["outcome"] == "allowed"]
    assert len(reads) == 1, reads
    assert reads[0]["subjects"] == [ref["subject"]]
    assert {f["name"] for f in reads[0]["fields"]} == set(want)
    assert all(f["view"] == "clear" for f in reads[0]["fields"]), reads[0]
    r = d.auditor.get("/v1/audit", params={"principal": "archivist", "limit": 1000})
    reads = [e for e in r.json()["entries"] if e["action"] == "archive.read" and e["outcome"] == "allowed"
             and e["record_id"] == d.prospects["arch"]["id"]]
    assert len(reads) == 1, reads
    assert {f["name"]: f["view"] for f in reads[0]["fields"]} == {
        "email": "clear", "last_contact": "clear", "card": "masked"}, reads[0]


def test_a_subject_whose_records_are_all_archived_can_still_be_erased(drill):
    # The right to erasure holds for archived data too: DELETE
    # /v1/subjects/{s} finds the archived record, checks the caller may
    # delete it, and shreds it. Runs after the archive test, which reads it.
    d = drill
    ref = d.refs[P_ARCH]
    support = d.v.client("support", "support")
    try:
        error_of(support.delete(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
    finally:
        support.close()
    assert d.archivist.get(f"/v1/archive/people/{ref['id']}").status_code == 200, "a denial erased nothing"
    r = d.admin.delete(f"/v1/subjects/{ref['subject']}")
    assert r.status_code == 200, r.text
    assert r.json() == {"subject": ref["subject"], "erased_records": 1, "erased_cards": 0}
    error_of(d.archivist.get(f"/v1/archive/people/{ref['id']}"), 404, "not_found")
    error_of(d.admin.delete(f"/v1/subjects/{ref['subject']}"), 404, "not_found")


def test_after_release_the_next_sweep_removes_the_held_subject(drill):
    d = drill
    held = d.refs[P_HELD]
    assert d.admin.get(record_path("people", held)).status_code == 200
    r = d.archivist.delete(hold_path(held))
    assert r.status_code == 200 and r.json() == {"subject": held["subject"], "held": False}, r.text
    error_of(d.archivist.delete(hold_path(held)), 404, "not_found")
    out = run(d)
    assert (out["archived"], out["deleted"], out["held"]) == (0, 1, 0), out
    error_of(d.admin.get(record_path("people", held)), 404, "not_found")

    # The CLI holds and releases too (over the socket while the server runs).
    soon = d.refs[P_SOON]
    out = d.v.last_json(d.v.cli("retention", "hold", d.v.dir, soon["subject"]))
    assert out["held"] is True and out["by"] == "local", out
    assert d.archivist.get(hold_path(soon)).json()["by"] == "local"
    out = d.v.last_json(d.v.cli("retention", "release", d.v.dir, soon["subject"]))
    assert out == {"subject": soon["subject"], "held": False}
    bad = d.v.cli("retention", "hold", d.v.dir, "not-hex", check=False)
    assert bad.returncode == EXIT_INVALID and "hexadecimal" in bad.stderr, bad.stderr
    unknown = d.v.cli("retention", "hold", d.v.dir, held["subject"], check=False)
    assert unknown.returncode == EXIT_NOT_FOUND and "unknown subject" in unknown.stderr, unknown.stderr


def test_last_activity_rules_count_from_the_last_write(drill):
    d = drill
    v = d.v
    v.advance(20 * DAY)
    r = d.admin.patch(record_path("visits", d.visits["touched"]), json={"fields": {"note": "visit again"}})
    assert r.status_code == 200, r.text
    assert d.admin.get(record_path("visits", d.visits["read"])).status_code == 200  # a read is no activity

    v.advance(11 * DAY)  # day 31
    out = run(d)
    assert (out["archived"], out["deleted"]) == (2, 0), out
    error_of(d.admin.get(record_path("visits", d.visits["old"])), 404, "not_found")
    error_of(d.admin.get(record_path("visits", d.visits["read"])), 404, "not_found")
    assert d.admin.get(record_path("visits", d.visits["touched"])).status_code == 200
    r = d.archivist.get(f"/v1/archive/visits/{d.visits['old']['id']}")
    assert r.status_code == 200 and r.json()["fields"] == {"note": "visit old"}, r.text

    v.advance(20 * DAY)  # day 51: 31 days after the update
    out = run(d)
    assert (out["archived"], out["deleted"]) == (1, 0), out
    error_of(d.admin.get(record_path("visits", d.visits["touched"])), 404, "not_found")

    v.advance(40 * DAY)  # day 91: the first two are 90 days old, from the archive
    out = run(d)
    assert (out["archived"], out["deleted"]) == (0, 2), out
    for key in ("old", "read"):
        error_of(d.archivist.get(f"/v1/archive/visits/{d.visits[key]['id']}"), 404, "not_found")
    assert d.archivist.get(f"/v1/archive/visits/{d.visits['touched']['id']}").status_code == 200


def test_retention_run_without_a_server_also_expires_cards(drill):
    d = drill
    v = d.v
    payment = v.client("payment", "payment")
    try:
        now = datetime.datetime.fromtimestamp(v.now(), datetime.timezone.utc)
        r = payment.post("/v1/cards", json={"pan": TEST_PAN, "expiry": now.strftime("%m/%y")})
        assert r.status_code == 201, r.text
        token = r.json()["token"]
    finally:
        payment.close()
    stop_checked(v)
    # Into the next month: the card is past its expiry month. No server
    # runs, so the command opens DIR itself, on the test clock.
    first_of_next = (now.replace(day=28) + datetime.timedelta(days=4)).replace(day=1, hour=12)
    v.advance(int(first_of_next.timestamp() - now.timestamp()) + DAY)
    env = {"COFFRE_TEST_CLOCK_FILE": str(v.clock_file)}
    out = run(d, env=env)
    assert out["cards"] == {"expired": 1, "evidence_deleted": 0, "unreadable": 0}, out
    missing = v.cli("retention", "run", v.root / "no-such-vault", env=env, check=False)
    assert missing.returncode == EXIT_NOT_FOUND and "no vault at" in missing.stderr, missing.stderr
    v.start()
    payment = v.client("payment", "payment")
    try:
        r = payment.get(f"/v1/cards/{token}")
        assert r.status_code == 200 and r.json()["state"] == "evidence", r.text
        assert TEST_PAN not in r.text
    finally:
        payment.close()
    report = v.last_json(v.cli("retention", "report", v.dir))
    assert report["collections"][0]["collection"] == "people"
    assert v.cli("retention", "run", v.dir).returncode == EXIT_OK
