"""`coffre serve --metrics-listen`: the scrape parses with a real Prometheus
parser (python3-prometheus-client), counters move with the traffic, quota
usage shows staff and services near their limits but never an end user,
and no personal value, record id, subject id, end-user name or secret
appears anywhere in it. The example Grafana dashboard only queries metrics
the scrape has.
"""
import collections
import json
import re
import socket
import subprocess
import urllib.parse
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (POLICY, REPO, Vault, child_env, seeded_values, stop_checked,
                      strong_password)

PEOPLE = "/v1/collections/people/records"
DASHBOARD = REPO / "packaging" / "grafana-dashboard.json"

# Limits small enough to reach with a few reads: support_agent soft 5 /
# hard 10 an hour, adviser (the end users' role) soft 2 / hard 4.
SUPPORT_LIMITS = ('subjects  = [ { window = "1h",  soft = 50,  hard = 100 },',
                  'subjects  = [ { window = "1h",  soft = 5,  hard = 10 },')
ADVISER_LIMITS = ('subjects = [ { window = "1h",  soft = 100, hard = 200 },',
                  'subjects = [ { window = "1h",  soft = 2, hard = 4 },')


@pytest.fixture(scope="module")
def served(coffre_bin, vault_root):
    policy = POLICY.read_text()
    for old, new in (SUPPORT_LIMITS, ADVISER_LIMITS):
        assert old in policy, f"the example policy changed: {old!r}"
        policy = policy.replace(old, new)
    policy_path = vault_root / "policy.toml"
    policy_path.write_text(policy)
    v = Vault(coffre_bin, vault_root)
    v.init(policy=policy_path)
    people = v.gen(40, 23, vault_root / "people.ndjson")
    summary = v.import_people(vault_root / "people.ndjson")
    assert summary.get("imported") == 40, summary
    agencies = collections.Counter(p["agency"] for p in people)
    agency = agencies.most_common(1)[0][0]
    assert agencies[agency] >= 3, agencies
    refs = []
    for p in people:
        found = v.find("email", p["email"])
        assert len(found) == 1
        refs.append(found[0])
    v.add_principal("admin", "service", "admin")
    v.add_principal("support", "service", "support_agent")
    v.add_principal("crm", "service", "crm_backend")
    v.add_principal("spare-svc", "service", "support_agent")
    v.add_principal("nina", "human", "support_agent", None, strong_password())
    v.add_principal("user-zoe-m", "user", "adviser", {"agency": agency})
    v.start(["--metrics-listen", "127.0.0.1:0"])
    yield {"vault": v, "people": people, "refs": refs, "agency": agency}
    if v.running():
        stop_checked(v)


def scrape_raw(v, method="GET", path="/metrics"):
    url = urllib.parse.urljoin(v.ready["metrics"], path)
    req = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def scrape(v):
    status, headers, text = scrape_raw(v)
    assert status == 200, text
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers
    families = {f.name: f for f in text_string_to_metric_families(text)}
    return text, families


def value(families, family, sample_name=None, **labels):
    """The value of the one sample of `family` whose labels include `labels`
    (0 if none: a series appears once it counted something)."""
    f = families[family]
    sample_name = sample_name or f.name
    found = [s.value for s in f.samples
             if s.name == sample_name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(found) <= 1, (family, labels, found)
    return found[0] if found else 0


def test_the_ready_line_names_the_metrics_url(served):
    url = served["vault"].ready["metrics"]
    parsed = urllib.parse.urlparse(url)
    assert parsed.scheme == "http" and parsed.hostname == "127.0.0.1" and parsed.port, url
    assert parsed.path == "/metrics"


def test_the_scrape_parses_and_has_every_family_with_its_type(served):
    _, families = scrape(served["vault"])
    expected = {
        # prometheus_client strips _total from counter family names.
        "coffre_http_requests": "counter",
        "coffre_http_request_duration_seconds": "histogram",
        "coffre_audit_commit_seconds": "histogram",
        "coffre_audit_commit_failures": "counter",
        "coffre_alerts": "counter",
        "coffre_principals": "gauge",
        "coffre_principals_suspended": "gauge",
        "coffre_quota_usage_ratio": "gauge",
        "coffre_store_size_bytes": "gauge",
        "coffre_tls_certificate_expiry_timestamp_seconds": "gauge",
        "coffre_tls_certificate_expiry_days": "gauge",
        "coffre_sealed": "gauge",
    }
    for name, kind in expected.items():
        assert name in families, f"{name} missing from the scrape"
        assert families[name].type == kind, (name, families[name].type)
    assert value(families, "coffre_sealed") == 0
    assert value(families, "coffre_store_size_bytes") > 100_000
    for kind in ("quota_soft", "quota_hard", "search_cap", "denials", "canary"):
        assert any(s.labels.get("kind") == kind for s in families["coffre_alerts"].samples), kind
    # The self-signed certificate of init: 397 days from now.
    days = value(families, "coffre_tls_certificate_expiry_days")
    assert 396 < days <= 397.01, days
    expiry = value(families, "coffre_tls_certificate_expiry_timestamp_seconds")
    assert abs(expiry - (served["vault"].now() + days * 86400)) < 120


def test_counters_and_histograms_grow_with_requests(served):
    v = served["vault"]
    _, before = scrape(v)
    health = v.client()
    for _ in range(3):
        assert health.get("/healthz").status_code == 200
    health.close()
    admin = v.client("admin", "admin")
    ref = served["refs"][0]
    for _ in range(2):
        assert admin.get(f"{PEOPLE}/{ref['id']}").status_code == 200
    assert admin.get(f"{PEOPLE}/{ref['id']}", headers={"X-Coffre-Purpose": "nope"}).status_code == 403
    assert admin.request("PUT", f"{PEOPLE}/{ref['id']}").status_code == 405
    assert admin.get("/v1/no-such-route").status_code == 404
    admin.close()
    # Refused by the server before any route (a body over 1 MiB).
    big = v.client("admin", "admin")
    assert big.post(PEOPLE, data=b"x" * ((1 << 20) + 1),
                    headers={"Content-Type": "application/json"}).status_code == 413
    big.close()
    _, after = scrape(v)

    def delta(family, sample=None, **labels):
        return value(after, family, sample, **labels) - value(before, family, sample, **labels)

    rec = "/v1/collections/{collection}/records/{id}"
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route="/healthz", method="GET", status="200") == 3
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route=rec, method="GET", status="200") == 2
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route=rec, method="GET", status="403") == 1
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route=rec, method="other", status="405") == 1
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route="unmatched", method="other", status="404") == 1
    assert delta("coffre_http_requests", "coffre_http_requests_total",
                 route="unmatched", method="other", status="413") == 1
    assert delta("coffre_http_request_duration_seconds",
                 "coffre_http_request_duration_seconds_count", route="/healthz", method="GET") == 3
    inf = delta("coffre_http_request_duration_seconds", "coffre_http_request_duration_seconds_bucket",
                route=rec, method="GET", le="+Inf")
    assert inf == 3
    assert delta("coffre_http_request_duration_seconds", "coffre_http_request_duration_seconds_sum",
                 route=rec, method="GET") > 0
    # Each audited request waited for its entries' commit.
    assert delta("coffre_audit_commit_seconds", "coffre_audit_commit_seconds_count") >= 3
    assert delta("coffre_audit_commit_seconds", "coffre_audit_commit_seconds_sum") > 0


def test_quota_usage_names_staff_and_services_near_their_limits_never_end_users(served):
    v, refs, people = served["vault"], served["refs"], served["people"]
    _, before = scrape(v)
    support = v.client("support", "support")
    for ref in refs[:6]:  # 6 of hard 10: 0.6, and soft 5 crossed once
        assert support.get(f"{PEOPLE}/{ref['id']}").status_code == 200
    support.close()
    spare = v.client("spare-svc", "support")
    for ref in refs[:2]:  # 2 of 10: below 0.5, not shown
        assert spare.get(f"{PEOPLE}/{ref['id']}").status_code == 200
    spare.close()
    # An end user, through the CRM, reads 3 people of their agency: 3 of
    # hard 4 (0.75), yet never named in a label.
    crm = v.client("crm", "follow_up", on_behalf_of="user-zoe-m")
    own = [r for r, p in zip(refs, people) if p["agency"] == served["agency"]][:3]
    for ref in own:
        r = crm.get(f"{PEOPLE}/{ref['id']}")
        assert r.status_code == 200, r.text
    crm.close()
    text, after = scrape(v)
    assert value(after, "coffre_quota_usage_ratio", principal="support", limit="subjects",
                 window="1h") == pytest.approx(0.6)
    assert value(after, "coffre_quota_usage_ratio", principal="support", limit="subjects",
                 window="24h") == 0, "6 of 600 is below 0.5"
    shown = {s.labels["principal"] for s in after["coffre_quota_usage_ratio"].samples}
    assert shown == {"support"}, shown
    assert "user-zoe-m" not in text
    assert "zoe" not in text
    soft = value(after, "coffre_alerts", "coffre_alerts_total", kind="quota_soft") - value(
        before, "coffre_alerts", "coffre_alerts_total", kind="quota_soft")
    assert soft >= 2, "support crossed soft 5, and the end user soft 2"
    for kind in ("service", "human", "user"):
        assert value(after, "coffre_principals", kind=kind) >= 1, kind
    assert value(after, "coffre_principals", kind="service") == 4


def test_suspended_principals_are_counted_by_kind(served):
    v = served["vault"]
    _, before = scrape(v)
    assert value(before, "coffre_principals_suspended", kind="service") == 0
    v.cli("principal", "suspend", v.dir, "spare-svc")
    _, after = scrape(v)
    assert value(after, "coffre_principals_suspended", kind="service") == 1
    assert value(after, "coffre_principals_suspended", kind="user") == 0
    v.cli("principal", "resume", v.dir, "spare-svc")
    _, resumed = scrape(v)
    assert value(resumed, "coffre_principals_suspended", kind="service") == 0


def test_no_personal_value_id_or_secret_reaches_the_scrape(served):
    v, refs, people = served["vault"], served["refs"], served["people"]
    admin = v.client("admin", "admin")
    # Values where a careless server would take a label from: paths, query
    # strings, bodies, headers; ids in paths of every route.
    p0 = people[0]
    admin.get(f"{PEOPLE}/{refs[1]['id']}?email={urllib.parse.quote(p0['email'])}")
    admin.get(f"/v1/collections/people/records/{urllib.parse.quote(p0['nir'])}")
    admin.get(f"/v1/subjects/{refs[2]['subject']}")
    admin.post("/v1/collections/people/search", json={"field": "email", "value": p0["email"]})
    admin.get(f"/{urllib.parse.quote(p0['phone'])}", headers={"X-Coffre-Purpose": p0["email"]})
    created = admin.post(PEOPLE, json={"fields": people[5] | {"email": "metrics-new@example.org"}})
    admin.close()
    text, families = scrape(v)
    assert families, "parsed"
    needles = set()
    for p in people:
        needles |= seeded_values(p)
        if len(p.get("last_name", "")) >= 6:
            needles.add(p["last_name"])
    for r in refs:
        needles.add(r["id"])
        needles.add(r["subject"])
    if created.status_code == 201:
        needles.add(created.json()["id"])
    needles |= {v.key(n) for n in ("admin", "support", "crm", "spare-svc")}
    needles |= {"user-zoe-m", served["agency"], "metrics-new@example.org"}
    leaked = sorted(n for n in needles if n and n in text)
    assert not leaked, f"{len(leaked)} personal values, ids or secrets in the scrape"
    # Every label value is one the code fixed: route templates, methods,
    # statuses, kinds, windows, principal names of staff and services.
    template = re.compile(r"(/([a-z][a-z0-9._-]*|\{[a-z]+\}))+|unmatched")
    for f in families.values():
        for s in f.samples:
            for k, val in s.labels.items():
                if k == "route":
                    assert template.fullmatch(val), val
                elif k == "principal":
                    assert val in ("admin", "support", "crm", "spare-svc", "nina"), val


def test_the_listener_answers_metrics_only(served):
    v = served["vault"]
    status, headers, body = scrape_raw(v, "HEAD")
    assert status == 200 and body == ""
    assert int(headers["Content-Length"]) > 1000
    assert scrape_raw(v, "GET", "/")[0] == 404
    assert scrape_raw(v, "GET", "/v1/collections/people/records")[0] == 404
    status, headers, _ = scrape_raw(v, "POST")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    parsed = urllib.parse.urlparse(v.ready["metrics"])
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as s:
        s.sendall(b"\x16\x03\x01 not http\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 400")
    # A client that sends nothing is dropped, and the listener serves on.
    idle = socket.create_connection((parsed.hostname, parsed.port), timeout=10)
    try:
        assert idle.recv(10) == b"", "dropped after the timeout"
    finally:
        idle.close()
    assert scrape_raw(v)[0] == 200


def test_metrics_are_off_by_default_and_bad_addresses_are_refused(served, coffre_bin, tmp_path):
    v = served["vault"]
    stop_checked(v)
    try:
        v.start()
        assert "metrics" not in v.ready, v.ready
        # Answered: the server's signal handlers are in place (they are set
        # just after the ready line).
        c = v.client()
        assert c.get("/healthz").status_code == 200
        c.close()
        stop_checked(v)
        for bad, code in (("nowhere", 2), ("127.0.0.1:99999", 2), ("[::1", 2)):
            r = subprocess.run([str(coffre_bin), "serve", str(v.dir), "--listen", "127.0.0.1:0",
                                "--metrics-listen", bad], capture_output=True, text=True,
                               timeout=60, env=child_env(), cwd=v.root)
            assert r.returncode == code, (bad, r.returncode, r.stderr[-300:])
            assert "--metrics-listen" in r.stderr, r.stderr[-300:]
        # A port already taken: an I/O error, said so, and nothing left running.
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen(1)
            port = taken.getsockname()[1]
            r = subprocess.run([str(coffre_bin), "serve", str(v.dir), "--listen", "127.0.0.1:0",
                                "--metrics-listen", f"127.0.0.1:{port}"], capture_output=True,
                               text=True, timeout=60, env=child_env(), cwd=v.root)
            assert r.returncode == 1, (r.returncode, r.stderr[-300:])
            assert "cannot listen for metrics" in r.stderr
    finally:
        if not v.running():
            v.start(["--metrics-listen", "127.0.0.1:0"])


def test_the_config_file_key_turns_metrics_on(served, tmp_path):
    """[metrics] listen in --config FILE starts the listener; the flag wins."""
    v = served["vault"]
    stop_checked(v)
    conf = tmp_path / "coffre.toml"
    conf.write_text('[metrics]\nlisten = "127.0.0.1:0"\n')
    conf.chmod(0o640)
    try:
        v.start(["--config", str(conf)])
        assert "metrics" in v.ready, v.ready
        status, _, text = scrape_raw(v)
        assert status == 200 and "coffre_sealed 0" in text
        stop_checked(v)
        conf.write_text('[metrics]\nlisten = "127.0.0.1:notaport"\n')
        r = subprocess.run([str(v.bin), "config", "check", str(conf)], capture_output=True,
                           text=True, timeout=60, env=child_env(), cwd=v.root)
        assert r.returncode == 2 and "metrics.listen" in r.stderr, (r.returncode, r.stderr)
    finally:
        if not v.running():
            v.start(["--metrics-listen", "127.0.0.1:0"])


def _dashboard_metrics(doc):
    """Metric names in the dashboard's PromQL expressions."""
    exprs = []

    def walk(node):
        if isinstance(node, dict):
            for k, val in node.items():
                if k == "expr" and isinstance(val, str):
                    exprs.append(val)
                else:
                    walk(val)
        elif isinstance(node, list):
            for x in node:
                walk(x)

    walk(doc)
    names = set()
    for e in exprs:
        names |= set(re.findall(r"\bcoffre_[a-z0-9_]+", e))
    return exprs, names


def test_the_grafana_dashboard_parses_and_queries_only_exposed_metrics(served):
    doc = json.loads(DASHBOARD.read_text())
    assert doc.get("title") and doc.get("panels"), "a dashboard with panels"
    exprs, names = _dashboard_metrics(doc)
    assert len(exprs) >= 8, exprs
    # Series appear at their first count: some traffic first.
    c = served["vault"].client("admin", "admin")
    assert c.get(f"{PEOPLE}/{served['refs'][0]['id']}").status_code == 200
    c.close()
    text, families = scrape(served["vault"])
    exposed = set()
    for f in families.values():
        for s in f.samples:
            exposed.add(s.name)
    # A family is exposed even when it has no sample yet (HELP/TYPE lines).
    exposed |= set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = sorted(n for n in names if n not in exposed)
    assert not missing, f"the dashboard queries metrics the server does not expose: {missing}"
    for must in ("coffre_http_requests_total", "coffre_http_request_duration_seconds_bucket",
                 "coffre_audit_commit_seconds_bucket", "coffre_tls_certificate_expiry_days",
                 "coffre_quota_usage_ratio", "coffre_alerts_total", "coffre_sealed"):
        assert must in names, f"the dashboard has no panel on {must}"
