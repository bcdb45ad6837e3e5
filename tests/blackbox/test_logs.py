"""The server's log (docs/operations.md, "Logs"): JSON lines on a stderr that
is not a terminal, one access line per request with the route template,
status, duration, principal, request id and bytes sent; never a record id,
a subject id or a personal value; text and levels on demand; the request id
of an answer in the audit entries of its request.
"""
import json
import re

import pytest

from conftest import EXIT_INVALID, Client, build_vault, seeded_values, stop_checked

PEOPLE = "/v1/collections/people/records"
RECORD_ROUTE = "/v1/collections/{collection}/records/{id}"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
ACCESS_FIELDS = {"time", "level", "event", "method", "route", "status", "duration_us",
                 "principal", "request_id", "bytes_out"}


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=12, find=(0, 1, 2, 3), principals=[
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("auditor", "service", "auditor", None),
    ])
    yield s
    s.vault.stop()


def json_lines(text):
    """Every line of the log, parsed; fails on a line that is not one JSON object."""
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        try:
            obj = json.loads(line)
        except ValueError:
            raise AssertionError(f"log line {n} is not JSON: {line[:200]!r}")
        assert isinstance(obj, dict), line[:200]
        assert TIME.fullmatch(obj.get("time", "")), line[:200]
        assert obj.get("level") in ("debug", "info", "warn", "error"), line[:200]
        assert isinstance(obj.get("event"), str) and obj["event"], line[:200]
        out.append(obj)
    return out


def access_lines(lines):
    return {o["request_id"]: o for o in lines if o["event"] == "http.request"}


def test_serve_logs_json_lines_with_an_access_line_per_request_and_no_id_or_value(seeded):
    v = seeded.vault
    v.start()
    answers = []
    try:
        admin = v.client("admin", "admin")
        support = v.client("support", "support")
        p0, p1 = seeded.people[0], seeded.people[1]
        ref0, ref1 = seeded.refs[0], seeded.refs[1]
        # Reads, a search with a value in its body, an update, values and
        # ids in paths and query strings that match no record.
        answers.append(("GET", RECORD_ROUTE, 200, "admin", admin.get(f"{PEOPLE}/{ref0['id']}")))
        answers.append(("GET", RECORD_ROUTE, 200, "support",
                        support.get(f"{PEOPLE}/{ref1['id']}")))
        answers.append(("POST", "/v1/collections/{collection}/search", 200, "support",
                        support.post("/v1/collections/people/search",
                                     json={"field": "email", "value": p0["email"]})))
        answers.append(("PATCH", RECORD_ROUTE, None, "admin",
                        admin.patch(f"{PEOPLE}/{ref1['id']}", json={"fields": {"city": "Lyon"}})))
        answers.append(("GET", RECORD_ROUTE, 404, "admin",
                        admin.get(f"{PEOPLE}/{'0' * 32}", params={"email": p1["email"]})))
        answers.append(("GET", "/v1/subjects/{subject}", None, "support",
                        support.get(f"/v1/subjects/{ref0['subject']}")))
        answers.append(("GET", "-", 404, "admin", admin.get(f"/v1/nowhere/{p1['nir']}")))
        anon = Client(v.url, v.cert)
        answers.append(("GET", "/v1/audit", 401, "-", anon.get("/v1/audit")))
        answers.append(("GET", "/healthz", 200, "-", anon.get("/healthz")))
        for c in (admin, support, anon):
            c.close()
    finally:
        stop_checked(v)
    text = v.log_text()
    lines = json_lines(text)
    events = [o["event"] for o in lines]
    assert "server.start" in events and events[-1] == "server.stop", events
    by_id = access_lines(lines)
    for method, route, status, principal, r in answers:
        rid = r.headers["X-Request-Id"]
        assert rid in by_id, f"no access line for {method} {route}: {text[-1500:]}"
        line = by_id[rid]
        assert set(line) == ACCESS_FIELDS, line
        assert line["level"] == "info" and line["method"] == method, line
        assert line["route"] == route and line["principal"] == principal, line
        assert line["status"] == r.status_code and (status is None or status == r.status_code), line
        assert isinstance(line["duration_us"], int) and 0 <= line["duration_us"] < 60_000_000
        assert line["bytes_out"] > len(r.content), line  # headers and body
    assert len(by_id) == len(answers), "one access line per request"
    # Nothing that names a person: no value, no record or subject id.
    forbidden = set()
    for p in seeded.people:
        forbidden |= seeded_values(p)
    for ref in seeded.refs.values():
        forbidden |= {ref["id"], ref["subject"]}
    leaked = sorted(x for x in forbidden if x in text)
    assert not leaked, f"the log holds {len(leaked)} ids or personal values"
    assert "email=" not in text and "?" not in "".join(o.get("route", "") for o in lines)


def test_the_request_id_of_an_answer_is_in_its_audit_entries(seeded):
    v = seeded.vault
    v.start()
    try:
        admin = v.client("admin", "admin")
        ref = seeded.refs[2]
        r = admin.get(f"{PEOPLE}/{ref['id']}")
        assert r.status_code == 200, r.text
        rid = r.headers["X-Request-Id"]
        denied = v.client("support", "support").delete(f"{PEOPLE}/{ref['id']}")
        denied_rid = denied.headers["X-Request-Id"]
        auditor = v.client("auditor", "investigation")
        listed = auditor.get("/v1/audit", params={"principal": "admin"})
        assert listed.status_code == 200, listed.text
        http_entries = listed.json()["entries"]
        admin.close()
        auditor.close()
    finally:
        stop_checked(v)
    mine = [e for e in http_entries if e["request_id"] == rid]
    assert len(mine) == 1, http_entries[-3:]
    assert mine[0]["action"] == "read" and mine[0]["record_id"] == ref["id"], mine[0]
    # The CLI shows the same ids; entries made by the CLI itself have none.
    cli_entries = [json.loads(ln) for ln in v.cli("audit", "list", v.dir).stdout.splitlines()
                   if ln.startswith("{")]
    by_rid = {e["request_id"]: e for e in cli_entries if e["request_id"]}
    assert by_rid[rid]["action"] == "read", by_rid[rid]
    assert by_rid[denied_rid]["outcome"] == "denied", by_rid[denied_rid]
    assert all(re.fullmatch(r"[0-9a-f]{16}", k) for k in by_rid), list(by_rid)[:5]
    assert any(e["request_id"] == "" and e["source"].startswith(("cli:", "local:"))
               for e in cli_entries), "no CLI entry"
    # The access line and the audit entry name the same request.
    assert rid in access_lines(json_lines(v.log_text()))
    verify = v.last_json(v.cli("audit", "verify", v.dir))
    assert verify["ok"] is True, verify


def test_text_format_levels_and_access_log_off(seeded):
    v = seeded.vault
    start = len(v.log_text())
    v.start(extra_args=["--log-format", "text", "--access-log", "off"])
    try:
        r = v.client("admin", "admin").get(f"{PEOPLE}/{seeded.refs[0]['id']}")
        assert r.status_code == 200
    finally:
        stop_checked(v)
    text = v.log_text()[start:]
    assert re.search(r"^\S+Z INFO  server\.start: serving ", text, re.M), text[-500:]
    assert "http.request" not in text and r.headers["X-Request-Id"] not in text
    assert not any(line.startswith("{") for line in text.splitlines())

    start = len(v.log_text())
    v.start(extra_args=["--log-level", "warn"])
    try:
        assert v.client("admin", "admin").get("/healthz").status_code == 200
    finally:
        stop_checked(v)
    assert v.log_text()[start:].strip() == "", "info lines below --log-level warn"

    for bad in (["--log-format", "xml"], ["--log-level", "verbose"], ["--access-log", "maybe"]):
        r = v.cli("serve", v.dir, "--listen", "127.0.0.1:0", *bad, check=False)
        assert r.returncode == EXIT_INVALID, (bad, r.returncode, r.stderr[-300:])
