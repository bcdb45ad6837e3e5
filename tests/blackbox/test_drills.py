"""Drills of issue 4 (docs/exfiltration.md), against the real server:

(a) stolen credentials: a valid support-agent key scripts reads of every
    record of a 20,000-person vault; the hard limit stops it with exactly
    `hard` people exposed, the alert fires at read soft+1 and reaches the
    webhook, the suspension survives a restart until `principal resume`;
(b) an adviser reading outside its agency is denied, and the run of denials
    raises an alert past the threshold;
(c) a canary added with `coffre canary add` is read (by search, then by
    get): the response is unchanged, a critical alert fires, readers are
    suspended;
(d) the search cap: matching or not, the search past the cap is refused
    with 429 quota_exceeded and Retry-After, until the window moves on;
(e) switching between get and search, between collections and between two
    sessions of one human account does not escape the count; delegated
    requests count for the end user across services, and an invented user
    resets nothing.

Every person is generated (`coffre gen`).
"""
import concurrent.futures
import http.server
import json
import threading
import time

import pytest

from conftest import (EXIT_OK, POLICY, SCHEMA, Vault, build_vault, error_of, stop_checked,
                      strong_password)

PEOPLE = "/v1/collections/people/records"
SEARCH = "/v1/collections/people/search"

# examples/people-policy.toml
AGENT_SOFT, AGENT_HARD = 50, 100
AGENT_SEARCHES = 300
ADVISER_DENIALS = 10

THREADS = 8


def record(ref, collection="people"):
    return f"/v1/collections/{collection}/records/{ref['id']}"


def alerts_of(auditor, kind=None):
    r = auditor.get("/v1/alerts", params={"limit": 1000})
    assert r.status_code == 200, r.text
    alerts = r.json()["alerts"]
    for a in alerts:
        assert set(a) == {"id", "time", "severity", "kind", "principal", "user", "window",
                          "count", "limit", "action", "detail"}, a
    return [a for a in alerts if kind is None or a["kind"] == kind]


def audit_of(auditor, principal):
    r = auditor.get("/v1/audit", params={"principal": principal, "limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["entries"]


LOOKUP_ROLE = """
[roles.lookup]
description = "Drill fixture: finds the ids of the records the attacker targets"

[roles.lookup.collections.people]
actions  = ["search"]
purposes = ["follow_up"]
fields   = { "*" = "clear" }
"""


def lookup(client, emails):
    """{email: {"id","subject"}} through searches by a separate service."""
    def one(email):
        r = client.post(SEARCH, json={"field": "email", "value": email})
        assert r.status_code == 200, r.text
        results = r.json()["results"]
        assert len(results) == 1, (email, results)
        return email, results[0]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return dict(pool.map(one, emails))


class WebhookReceiver:
    """An HTTP endpoint on loopback that keeps every POST it receives."""

    def __init__(self):
        self.posts = []
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.posts.append((self.path, self.headers.get("Content-Type"), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/coffre-alerts"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def alerts(self):
        with self.lock:
            return [json.loads(body) for _, _, body in self.posts]

    def wait_for(self, pred, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if pred(self.alerts()):
                return True
            time.sleep(0.1)
        return False

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def webhook():
    w = WebhookReceiver()
    yield w
    w.close()


# ---------------------------------------------------------------------------
# (a) stolen credentials


@pytest.fixture(scope="module")
def big(coffre_bin, tmp_path_factory, webhook):
    root = tmp_path_factory.mktemp("scrape")
    started = time.monotonic()
    s = build_vault(coffre_bin, root, people=20000, principals=[
        ("stolen-agent", "service", "support_agent", None),
        ("dpo", "service", "auditor", None),
    ])
    # The drill's own lookup service (a test fixture, not an attacker): the
    # example's crm_backend searches only on behalf of an adviser, who may
    # not search, so the example policy plus one role that may.
    policy = root / "policy-with-lookup.toml"
    policy.write_text(POLICY.read_text(encoding="utf-8") + LOOKUP_ROLE, encoding="utf-8")
    s.vault.cli("policy", "load", s.vault.dir, policy)
    s.vault.add_principal("lookup", "service", "lookup")
    s.build_seconds = time.monotonic() - started
    s.vault.start(["--alert-webhook", webhook.url])
    yield s
    if s.vault.running():
        stop_checked(s.vault)


def test_a_stolen_credentials_expose_at_most_the_hard_limit(big, webhook):
    v = big.vault
    assert big.build_seconds < 60, f"building the 20,000-person vault took {big.build_seconds:.0f} s"
    # The attacker has the application's list of ids; here, a separate
    # service looks them up (those searches count for it, not the agent).
    planned = AGENT_HARD + 30
    emails = [p["email"] for p in big.people[:planned]]
    refs = lookup(v.client("lookup", "follow_up"), emails)
    targets = [refs[e] for e in emails]
    agent = v.client("stolen-agent", "support")
    dpo = v.client("dpo", "investigation")

    # Reads 1..soft: no alert; read soft+1 raises the warning.
    for ref in targets[:AGENT_SOFT]:
        assert agent.get(record(ref)).status_code == 200
    assert alerts_of(dpo, "quota_soft") == []
    assert agent.get(record(targets[AGENT_SOFT])).status_code == 200
    soft = alerts_of(dpo, "quota_soft")
    assert len(soft) == 1, soft
    assert soft[0]["severity"] == "warning" and soft[0]["principal"] == "stolen-agent"
    assert soft[0]["count"] == AGENT_SOFT + 1 and soft[0]["limit"] == AGENT_SOFT
    assert soft[0]["window"] == "1h" and soft[0]["action"] == "none" and soft[0]["user"] is None

    # The rest as fast as the script can, in parallel, past the limit.
    def read(ref):
        r = agent.get(record(ref))
        return ref, r.status_code, (r.json() if r.status_code == 200 else error_of(r, 403, "suspended"))
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(read, targets[AGENT_SOFT + 1:]))
    served = [ref for ref, status, _ in results if status == 200]
    refused = [ref for ref, status, _ in results if status != 200]
    assert len(served) == AGENT_HARD - AGENT_SOFT - 1, f"{len(served)} more people served"
    assert len(refused) == planned - AGENT_HARD
    # A few more, and a re-read of someone already exposed: all refused.
    for ref in targets[:3] + refused[:3]:
        error_of(agent.get(record(ref)), 403, "suspended")

    exposed = {ref["subject"] for ref in targets[:AGENT_SOFT + 1]} | {ref["subject"] for ref in served}
    assert len(exposed) == AGENT_HARD

    hard = alerts_of(dpo, "quota_hard")
    assert len(hard) == 1, hard
    assert hard[0]["severity"] == "critical" and hard[0]["action"] == "suspended"
    assert hard[0]["count"] == AGENT_HARD + 1 and hard[0]["limit"] == AGENT_HARD
    assert hard[0]["principal"] == "stolen-agent"

    # The audit log says exactly who was exposed: the allowed reads' subjects.
    entries = audit_of(dpo, "stolen-agent")
    allowed = {s for e in entries if e["outcome"] == "allowed" for s in e["subjects"]}
    assert allowed == exposed
    for e in entries:
        if e["outcome"] == "denied":
            assert e["subjects"] == [], e
    suspensions = [e for e in audit_of(dpo, "coffre") if e["action"] == "principal.suspend"]
    assert len(suspensions) == 1 and "stolen-agent" in suspensions[0]["reason"], suspensions

    # The webhook received both alerts, as stored.
    assert webhook.wait_for(lambda posted: {a["kind"] for a in posted} >= {"quota_soft", "quota_hard"}), \
        webhook.alerts()
    stored = {a["id"]: a for a in alerts_of(dpo)}
    for posted in webhook.alerts():
        assert stored[posted["id"]] == posted
    with webhook.lock:
        assert all(path == "/coffre-alerts" and ctype == "application/json"
                   for path, ctype, _ in webhook.posts)

    # The suspension is stored: it survives a restart, until an admin resumes.
    stop_checked(v)
    v.start()
    agent = v.client("stolen-agent", "support")
    error_of(agent.get(record(targets[0])), 403, "suspended")
    listed = [json.loads(line) for line in v.cli("principal", "list", v.dir).stdout.splitlines() if line]
    assert {p["name"]: p["suspended"] for p in listed}["stolen-agent"] is True
    v.cli("principal", "resume", v.dir, "stolen-agent")
    assert agent.get(record(targets[0])).status_code == 200


# ---------------------------------------------------------------------------
# (b) adviser out of scope


def test_b_adviser_out_of_scope_is_denied_and_repeated_denials_alert(coffre_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("scope")

    def pick(s):
        mine = s.people[0]["agency"]
        inside = [i for i, p in enumerate(s.people) if p["agency"] == mine][:3]
        outside = [i for i, p in enumerate(s.people) if p["agency"] != mine][:ADVISER_DENIALS + 2]
        s.inside, s.outside = inside, outside
        return inside + outside

    password = strong_password()
    s = build_vault(coffre_bin, root, people=40, find=pick, principals=lambda s: [
        ("adviser-a", "human", "adviser", {"agency": s.people[0]["agency"]}, password),
        ("dpo", "service", "auditor", None),
    ])
    v = s.vault
    v.start()
    try:
        login = v.login("adviser-a")
        assert login.status_code == 201, login.text
        adviser = v.client(token=login.json()["token"], purpose="follow_up")
        dpo = v.client("dpo", "investigation")
        for i in s.inside:
            r = adviser.get(record(s.refs[i]))
            assert r.status_code == 200, r.text
            assert r.json()["fields"]["agency"] == s.people[0]["agency"]
        for n, i in enumerate(s.outside[:ADVISER_DENIALS - 1], 1):
            message = error_of(adviser.get(record(s.refs[i])), 403, "forbidden")
            assert "row scope" in message and s.people[i]["agency"] not in message
        assert alerts_of(dpo, "denials") == []
        error_of(adviser.get(record(s.refs[s.outside[ADVISER_DENIALS - 1]])), 403, "forbidden")
        denials = alerts_of(dpo, "denials")
        assert len(denials) == 1, denials
        a = denials[0]
        assert a["severity"] == "warning" and a["principal"] == "adviser-a" and a["action"] == "none"
        assert a["count"] == ADVISER_DENIALS and a["limit"] == ADVISER_DENIALS and a["window"] == "10m"
        # Once per crossing; in-scope reads still work (a warning, not a suspension).
        error_of(adviser.get(record(s.refs[s.outside[ADVISER_DENIALS]])), 403, "forbidden")
        assert len(alerts_of(dpo, "denials")) == 1
        assert adviser.get(record(s.refs[s.inside[0]])).status_code == 200
    finally:
        stop_checked(v)


# ---------------------------------------------------------------------------
# (c) canary


def test_c_a_canary_read_alerts_and_suspends_its_readers(coffre_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("canary")
    s = build_vault(coffre_bin, root, people=30, find=[0], principals=[
        ("searcher", "service", "support_agent", None),
        ("getter", "service", "support_agent", None),
        ("dpo", "service", "auditor", None),
    ])
    v = s.vault
    v.start()
    try:
        # Added while the server runs (over its admin socket).
        seed, domain = 424242, "canary.example.org"
        out = v.last_json(v.cli("canary", "add", v.dir, "people", "--count", "3",
                                "--email-domain", domain, "--seed", seed))
        assert out == {"added": 3}
        canaries = v.gen(3, seed, root / "canaries.ndjson")
        email = canaries[0]["email"].split("@")[0] + "@" + domain

        searcher = v.client("searcher", "support")
        dpo = v.client("dpo", "investigation")
        # A normal read first, to compare shapes.
        normal = searcher.get(record(s.refs[0]))
        assert normal.status_code == 200
        assert alerts_of(dpo, "canary") == []

        hit = searcher.post(SEARCH, json={"field": "email", "value": email})
        assert hit.status_code == 200, hit.text
        results = hit.json()["results"]
        assert len(results) == 1 and set(results[0]) == {"id", "subject"}
        canary_ref = results[0]
        alerts = alerts_of(dpo, "canary")
        assert len(alerts) == 1, alerts
        assert alerts[0]["severity"] == "critical" and alerts[0]["action"] == "suspended"
        assert alerts[0]["principal"] == "searcher" and alerts[0]["count"] == 1
        assert canary_ref["subject"] not in json.dumps(alerts) and canary_ref["id"] not in json.dumps(alerts)
        error_of(searcher.get(record(s.refs[0])), 403, "suspended")

        # Read by id: answered like any record, then the reader is suspended.
        getter = v.client("getter", "support")
        r = getter.get(record(canary_ref))
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == set(normal.json()) and set(body["fields"]) == set(normal.json()["fields"])
        assert body["fields"]["last_name"] == canaries[0]["last_name"]
        assert body["fields"]["email"].endswith("@" + domain)
        assert len(alerts_of(dpo, "canary")) == 2
        error_of(getter.get(record(s.refs[0])), 403, "suspended")

        # The audit log records the addition by `local`, with a count only.
        added = [e for e in audit_of(dpo, "local") if e["action"] == "canary.add"]
        assert len(added) == 1 and added[0]["subjects"] == [] and "3 canaries" in added[0]["reason"], added

        # Issue 13, item 6: breach reports count the canaries read and never list them.
        window = {"from": "2000-01-01T00:00:00Z", "to": "2999-12-31T23:59:59Z"}
        for who, people in (("searcher", [s.refs[0]["subject"]]), ("getter", [])):
            r = dpo.post("/v1/breach-reports", json={"principal": who, **window, "format": "json"})
            assert r.status_code == 200, r.text
            assert r.json()["subjects"] == people and r.json()["people"] == len(people)
            assert r.json()["canaries"] == 1
            for fmt in ("json", "md", "csv"):
                text = dpo.post("/v1/breach-reports", json={"principal": who, **window, "format": fmt}).text
                assert canary_ref["subject"] not in text, fmt
        r = v.cli("breach-report", v.dir, "--principal", "searcher", "--from", window["from"], "--to",
                  window["to"], "--format", "json")
        assert json.loads(r.stdout)["canaries"] == 1 and canary_ref["subject"] not in r.stdout
    finally:
        stop_checked(v)


# ---------------------------------------------------------------------------
# (d) search cap


def test_d_the_search_cap_refuses_matching_or_not_until_the_window_moves(coffre_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("searchcap")
    s = build_vault(coffre_bin, root, people=30, principals=[
        ("prober", "service", "support_agent", None),
        ("dpo", "service", "auditor", None),
    ])
    v = s.vault
    v.start()
    try:
        prober = v.client("prober", "support")
        dpo = v.client("dpo", "investigation")

        def probe(n):
            r = prober.post(SEARCH, json={"field": "email", "value": f"leaked.{n}@example.invalid"})
            assert r.status_code == 200, r.text
            assert r.json()["results"] == []
        with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(probe, range(AGENT_SEARCHES)))
        assert alerts_of(dpo, "search_cap") == []
        # Past the cap even a matching search is refused: no membership answer.
        present = s.people[0]["email"]
        r = prober.post(SEARCH, json={"field": "email", "value": present})
        error_of(r, 429, "quota_exceeded")
        assert 1 <= int(r.headers["Retry-After"]) <= 3600, r.headers
        assert present not in r.text
        error_of(prober.post(SEARCH, json={"field": "email", "value": "x@example.invalid"}), 429,
                 "quota_exceeded")
        cap = alerts_of(dpo, "search_cap")
        assert len(cap) == 1 and cap[0]["limit"] == AGENT_SEARCHES and cap[0]["action"] == "none", cap
        # Not a suspension: reads work, and searches again after the window.
        v.advance(3600)
        r = prober.post(SEARCH, json={"field": "email", "value": present})
        assert r.status_code == 200 and len(r.json()["results"]) == 1, r.text
    finally:
        stop_checked(v)


# ---------------------------------------------------------------------------
# (e) no escape by switching


SWITCH_SCHEMA_EXTRA = """
# Drill only: a second collection about the same people.
[collections.notes]
fields = [
  { name = "email", type = "email", required = true, searchable = true },
  { name = "note",  type = "text",  required = true },
]
"""

SWITCH_POLICY = """
[purposes]
support = "Support"
investigation = "Investigation"

[roles.desk.collections.people]
actions  = ["read", "search"]
purposes = ["support"]
fields   = { "*" = "masked" }

[roles.desk.collections.notes]
actions  = ["read", "search"]
purposes = ["support"]
fields   = { "*" = "masked" }

[roles.desk.limits]
subjects = [ { window = "1h", soft = 2, hard = 4 } ]

[roles.crm]
delegation = true

[roles.crm.collections.people]
actions  = ["read"]
purposes = ["support"]
fields   = { "*" = "masked" }

[roles.crm.limits]
subjects = [ { window = "1h", soft = 50, hard = 100 } ]

[roles.enduser.collections.people]
actions  = ["read"]
purposes = ["support"]
fields   = { "*" = "masked" }

[roles.enduser.limits]
subjects = [ { window = "1h", soft = 2, hard = 3 } ]

[roles.auditor.resources.alerts]
actions  = ["read"]
purposes = ["investigation"]
"""


def test_e_switching_routes_collections_sessions_or_services_does_not_escape(coffre_bin, tmp_path_factory):
    root = tmp_path_factory.mktemp("switch")
    schema = root / "schema.toml"
    schema.write_text(SCHEMA.read_text() + SWITCH_SCHEMA_EXTRA)
    policy = root / "policy.toml"
    policy.write_text(SWITCH_POLICY)
    v = Vault(coffre_bin, root)
    v.init(schema=schema, policy=policy)
    people = v.gen(8, 31, root / "people.ndjson")
    v.import_people(root / "people.ndjson")
    refs = [v.find("email", p["email"])[0] for p in people]
    notes = []
    for p, ref in zip(people, refs):
        out = v.last_json(v.cli("put", v.dir, "notes", "-", "--subject", ref["subject"],
                                input=json.dumps({"email": p["email"], "note": "called about a parcel"})))
        assert out["subject"] == ref["subject"]
        notes.append(out)
    password = strong_password()
    v.add_principal("clerk", "human", "desk", None, password)
    for name in ("crm-1", "crm-2"):
        v.add_principal(name, "service", "crm")
    for name in ("alice", "bob"):
        v.add_principal(name, "user", "enduser")
    v.add_principal("dpo", "service", "auditor")
    v.start()
    try:
        dpo = v.client("dpo", "investigation")
        # One human, two sessions.
        tokens = []
        for _ in range(2):
            r = v.login("clerk")
            assert r.status_code == 201, r.text
            tokens.append(r.json()["token"])
        a = v.client(token=tokens[0], purpose="support")
        b = v.client(token=tokens[1], purpose="support")
        assert a.get(record(refs[0])).status_code == 200                          # subject 0
        hit = b.post(SEARCH, json={"field": "email", "value": people[1]["email"]})  # subject 1
        assert hit.status_code == 200 and len(hit.json()["results"]) == 1
        assert a.get(record(notes[2], "notes")).status_code == 200                # subject 2
        assert b.get(record(notes[0], "notes")).status_code == 200                # subject 0 again: free
        found = b.post("/v1/collections/notes/search", json={"field": "email", "value": people[3]["email"]})
        assert found.status_code == 200 and len(found.json()["results"]) == 1    # subject 3
        assert a.get(record(refs[1])).status_code == 200                          # subject 1 again
        error_of(a.get(record(notes[4], "notes")), 403, "suspended")              # subject 4: over 4
        # The suspension ended both sessions and refuses a new login.
        error_of(b.get(record(refs[0])), 401, "unauthenticated")
        error_of(v.login("clerk"), 403, "suspended")
        hard = alerts_of(dpo, "quota_hard")
        assert len(hard) == 1 and hard[0]["principal"] == "clerk" and hard[0]["count"] == 5, hard
        assert len(alerts_of(dpo, "quota_soft")) == 1

        # Delegation: the user's limit spans services.
        crm1_alice = v.client("crm-1", "support", on_behalf_of="alice")
        crm2_alice = v.client("crm-2", "support", on_behalf_of="alice")
        assert crm1_alice.get(record(refs[0])).status_code == 200
        assert crm1_alice.get(record(refs[1])).status_code == 200
        assert crm2_alice.get(record(refs[2])).status_code == 200
        assert crm2_alice.get(record(refs[0])).status_code == 200  # re-read: free
        error_of(crm1_alice.get(record(refs[3])), 403, "suspended")  # alice's 4th
        error_of(crm2_alice.get(record(refs[0])), 403, "suspended")  # alice stays suspended
        # The services are not suspended; another user has a count of its own.
        assert v.client("crm-1", "support", on_behalf_of="bob").get(record(refs[3])).status_code == 200
        assert v.client("crm-2", "support").get(record(refs[5])).status_code == 200
        # An invented user is refused before counting, so it resets nothing.
        error_of(v.client("crm-1", "support", on_behalf_of="mallory").get(record(refs[6])), 403, "forbidden")
        hard = alerts_of(dpo, "quota_hard")
        assert len(hard) == 2 and hard[1]["principal"] == "crm-1" and hard[1]["user"] == "alice", hard
        listed = {p["name"]: p["suspended"] for p in
                  (json.loads(line) for line in v.cli("principal", "list", v.dir).stdout.splitlines() if line)}
        assert listed["alice"] and listed["clerk"]
        assert not listed["crm-1"] and not listed["crm-2"] and not listed["bob"]
    finally:
        stop_checked(v)


# ---------------------------------------------------------------------------
# `coffre alerts`


def test_alerts_cli_prints_the_stored_alerts_with_or_without_a_server(big):
    v = big.vault
    assert v.running()
    live = [json.loads(line) for line in v.cli("alerts", v.dir).stdout.splitlines() if line]
    kinds = [a["kind"] for a in live]
    assert "quota_soft" in kinds and "quota_hard" in kinds, kinds
    stop_checked(v)
    offline = [json.loads(line) for line in v.cli("alerts", v.dir).stdout.splitlines() if line]
    assert offline == live
    soft_time = next(a["time"] for a in live if a["kind"] == "quota_soft")
    windowed = [json.loads(line) for line in
                v.cli("alerts", v.dir, "--from", soft_time, "--to", soft_time).stdout.splitlines() if line]
    assert windowed and all(a["time"] == soft_time for a in windowed)
    r = v.cli("alerts", v.dir, "--from", "yesterday", check=False)
    assert r.returncode != EXIT_OK
