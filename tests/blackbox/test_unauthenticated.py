"""Without a valid credential, every route answers 401 and reveals nothing:
not whether the route, the collection or the record exists, and no data.
Also: /healthz, and the TLS versions the server accepts.
"""
import concurrent.futures
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import Client, build_vault, error_of, luhn_complete, stop_checked

ABSENT_ID = "0" * 31 + "1"


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=10, find=(0,),
                    principals=[("admin", "service", "admin", None)])
    s.vault.start()
    # A real card, so that the card routes are swept with a real token.
    s.card_pan = luhn_complete("497010" + "".join(secrets.choice("0123456789") for _ in range(9)))
    c = s.vault.client("admin", purpose="admin")
    try:
        year = time.gmtime().tm_year + 3
        r = c.post("/v1/cards", json={"pan": s.card_pan, "expiry": f"12/{year % 100:02d}",
                                      "subject": s.refs[0]["subject"]})
        assert r.status_code == 201, r.text
        s.card_token = r.json()["token"]
    finally:
        c.close()
    yield s
    stop_checked(s.vault)


def sweep(seeded):
    """(method, path, json body or None) for every route and method of
    docs/api.md with real ids, then other methods on known paths, then
    unknown paths. No request here may need authentication to be refused."""
    rid, sid = seeded.refs[0]["id"], seeded.refs[0]["subject"]
    person = seeded.people[0]
    token = seeded.card_token
    absent_token = "ct_" + "0" * 40 + token[-4:]
    routes = [
        ("GET", "/v1/openapi.json", None),
        ("POST", "/v1/collections/people/records", {"fields": seeded.spare[0]}),
        ("GET", f"/v1/collections/people/records/{rid}", None),
        ("GET", f"/v1/collections/people/records/{ABSENT_ID}", None),
        ("PATCH", f"/v1/collections/people/records/{rid}", {"fields": {"email": "x@example.fr"}}),
        ("DELETE", f"/v1/collections/people/records/{rid}", None),
        ("POST", "/v1/collections/people/search", {"field": "email", "value": person["email"]}),
        ("GET", f"/v1/subjects/{sid}", None),
        ("DELETE", f"/v1/subjects/{sid}", None),
        ("GET", "/v1/audit", None),
        ("GET", f"/v1/audit?principal=admin&subject={sid}&from=2026-01-01T00:00:00Z"
                f"&to=2030-01-01T00:00:00Z&limit=5", None),
        ("GET", "/v1/alerts", None),
        # Breach reports and two-person approvals.
        ("POST", "/v1/breach-reports", {"principal": "admin", "from": "2026-01-01T00:00:00Z",
                                        "to": "2030-01-01T00:00:00Z"}),
        ("GET", "/v1/approvals?state=pending", None),
        ("POST", "/v1/approvals", {"action": "bulk_export", "params": {"collection": "people"}}),
        ("GET", f"/v1/approvals/{ABSENT_ID}", None),
        ("POST", f"/v1/approvals/{ABSENT_ID}/approve", None),
        # Legal holds and the archive.
        ("GET", f"/v1/subjects/{sid}/hold", None),
        ("PUT", f"/v1/subjects/{sid}/hold", {"reason": "claim"}),
        ("DELETE", f"/v1/subjects/{sid}/hold", None),
        ("GET", f"/v1/archive/people/{rid}", None),
        # End users' credentials (docs/credentials.md).
        ("PUT", "/v1/credentials/u-1", {"password": "Zq8!unauth-Probe-77"}),
        ("PUT", "/v1/credentials/u-1", {"password": "Zq8!unauth-Probe-77",
                                        "reset_token": "coffre_rt_" + "A" * 43}),
        ("POST", "/v1/credentials/u-1/verify", {"password": "Zq8!unauth-Probe-77"}),
        ("POST", "/v1/credentials/u-1/reset", {}),
        ("GET", "/v1/credentials/u-1", None),
        # Payment cards (docs/cards.md): incident 1's URL.
        ("POST", "/v1/cards", {"pan": seeded.card_pan, "expiry": "12/30"}),
        ("GET", f"/v1/cards/{token}", None),
        ("GET", f"/v1/cards/{absent_token}", None),
        ("DELETE", f"/v1/cards/{token}", None),
        ("POST", f"/v1/cards/{token}/complete", None),
    ]
    other_methods = [
        ("PUT", f"/v1/collections/people/records/{rid}", {"fields": {}}),
        ("POST", f"/v1/collections/people/records/{rid}", {"fields": {}}),
        ("GET", "/v1/collections/people/records", None),
        ("GET", "/v1/collections/people/search", None),
        ("PATCH", f"/v1/subjects/{sid}", None),
        ("POST", "/v1/audit", {}),
        ("DELETE", "/v1/openapi.json", None),
        ("DELETE", "/v1/credentials/u-1", None),
        ("GET", "/v1/credentials/u-1/verify", None),
        ("PUT", "/v1/credentials/u-1/reset", {}),
        ("GET", "/v1/cards", None),
        ("PUT", f"/v1/cards/{token}", {"pan": seeded.card_pan}),
        ("PATCH", f"/v1/cards/{token}", {}),
        ("GET", f"/v1/cards/{token}/complete", None),
    ]
    unknown = [
        ("GET", "/", None),
        ("GET", "/v1", None),
        ("GET", "/v1/", None),
        ("GET", "/v1/collections", None),
        ("GET", "/v1/collections/nosuch/records/" + ABSENT_ID, None),
        ("POST", "/v1/collections/nosuch/search", {"field": "x", "value": "y"}),
        ("GET", "/v1/collections/people/records/not-an-id", None),
        ("GET", "/v1/principals", None),
        ("GET", "/v2/collections/people/records/" + rid, None),
        ("GET", "/admin", None),
        ("GET", "/metrics", None),
        ("GET", "/.env", None),
        ("GET", "/v1/subjects", None),
        ("OPTIONS", "/v1/audit", None),
        ("GET", "/v1/credentials", None),
        ("GET", "/v1/credentials/u-1/history", None),
        ("GET", "/v1/cards/", None),
        ("GET", "/v1/cards?all=1", None),
        ("GET", f"/v1/cards/{token}/number", None),
        ("GET", f"/v1/subjects/{sid}/cards", None),
        ("GET", "/v1/collections/cards/records", None),
        ("GET", "/cards", None),
    ]
    return routes + other_methods + unknown


NO_DATA_KEYS = ("fields", "results", "records", "entries", "subject", "id", "token", "paths",
                "valid", "reset_token", "created_at", "changed_at", "locked_until")


def assert_unauthenticated(resp, seeded):
    error_of(resp, 401, "unauthenticated")
    text = resp.text
    for key in NO_DATA_KEYS:
        assert f'"{key}"' not in text, text
    for person in seeded.people[:3]:
        assert person["email"] not in text and person["nir"] not in text
    for ref in seeded.refs.values():
        assert ref["id"] not in text and ref["subject"] not in text
    # Nothing of the card: number, its first 6 or last 4, token.
    pan = seeded.card_pan
    for part in (pan, pan[:6], pan[-4:], seeded.card_token, seeded.card_token[3:20]):
        assert part not in text, "a card's number or token in an unauthenticated answer"


def garbage_credentials(seeded):
    real = seeded.vault.key("admin")
    return {
        "none": None,
        "garbage": "Bearer garbage",
        "random-service-key": "Bearer coffre_sk_" + secrets.token_urlsafe(32)[:43],
        "random-session-token": "Bearer coffre_st_" + secrets.token_urlsafe(32)[:43],
        "empty-bearer": "Bearer ",
        "basic": "Basic YWRtaW46YWRtaW4=",
        "real-key-plus-one": f"Bearer {real}x",
        "real-key-truncated": f"Bearer {real[:-1]}",
        "real-key-without-scheme": real,
    }


@pytest.mark.parametrize("credential", [
    "none", "garbage", "random-service-key", "random-session-token", "empty-bearer", "basic",
    "real-key-plus-one", "real-key-truncated", "real-key-without-scheme"])
def test_every_route_refuses_without_a_valid_credential(seeded, credential):
    auth = garbage_credentials(seeded)[credential]
    c = Client(seeded.vault.url, seeded.vault.cert, purpose="admin")
    bodies = set()
    try:
        for method, path, body in sweep(seeded):
            headers = {"Authorization": auth} if auth is not None else {}
            kwargs = {"json": body} if body is not None else {}
            resp = c.request(method, path, headers=headers, **kwargs)
            assert_unauthenticated(resp, seeded)
            bodies.add(resp.text)
    finally:
        c.close()
    # Known route, unknown route, real record or absent one: the same answer.
    assert len(bodies) == 1, bodies


def test_refusals_are_the_same_with_and_without_purpose(seeded):
    rid = seeded.refs[0]["id"]
    c = Client(seeded.vault.url, seeded.vault.cert)
    try:
        a = c.get(f"/v1/collections/people/records/{rid}")
        b = c.get(f"/v1/collections/people/records/{rid}", headers={"X-Coffre-Purpose": "admin"})
        d = c.get(f"/v1/collections/people/records/{rid}",
                  headers={"X-Coffre-Purpose": "admin", "X-Coffre-On-Behalf-Of": "nobody"})
        for r in (a, b, d):
            assert_unauthenticated(r, seeded)
        assert a.text == b.text == d.text
    finally:
        c.close()


OPEN_OPERATIONS = {("/healthz", "get"), ("/readyz", "get"), ("/v1/sessions", "post")}
SAMPLE = {"collection": "people", "id": ABSENT_ID, "subject": "0" * 31 + "2",
          "token": "ct_" + "0" * 44, "user": "u-unauth-1"}


def test_only_health_readiness_and_login_answer_without_a_credential(seeded):
    """Issue 13: /healthz, /readyz and POST /v1/sessions are the only routes
    that answer without a credential: every operation of the OpenAPI
    document, the others included, answers 401."""
    c = seeded.vault.client("admin")
    try:
        doc = c.get("/v1/openapi.json").json()
    finally:
        c.close()
    open_in_doc = {(path, method) for path, item in doc["paths"].items()
                   for method, op in item.items()
                   if isinstance(op, dict) and op.get("security") == []}
    assert open_in_doc == OPEN_OPERATIONS
    anonymous = Client(seeded.vault.url, seeded.vault.cert, purpose="admin")
    try:
        swept = 0
        for path, item in doc["paths"].items():
            # A well-formed value per parameter; one no sample names gets an id.
            target = re.sub(r"\{([a-z_]+)\}", lambda m: SAMPLE.get(m.group(1), ABSENT_ID), path)
            for method in ("get", "put", "post", "patch", "delete"):
                if method not in item or (path, method) in OPEN_OPERATIONS:
                    continue
                resp = anonymous.request(method.upper(), target, json={})
                assert resp.status_code == 401, f"{method.upper()} {path}: {resp.status_code} {resp.text[:200]}"
                assert_unauthenticated(resp, seeded)
                swept += 1
        assert swept >= 25, swept
    finally:
        anonymous.close()


def test_readyz_answers_without_credential_and_reveals_nothing(seeded):
    c = Client(seeded.vault.url, seeded.vault.cert)
    try:
        r = c.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ready"}
        error_of(c.post("/readyz"), 405, "method_not_allowed")
    finally:
        c.close()


def test_a_login_body_larger_than_a_login_is_refused_unparsed(seeded):
    """Issue 13: the security-code scan parsed any body of POST /v1/sessions
    before a credential (64 parallel 1 MiB bodies: 1 GiB of RSS). More than
    a login holds is refused unparsed, and the server's memory stays small."""
    # 1 MiB of small JSON values: a document many times its size once parsed.
    body = b"[" + b"0," * ((1 << 19) - 8) + b"0]"
    pid = seeded.vault.proc.pid

    def peak_rss_kib():
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    before = peak_rss_kib()

    def one(_):
        c = Client(seeded.vault.url, seeded.vault.cert)
        try:
            return c.post("/v1/sessions", data=body, headers={"Content-Type": "application/json"})
        finally:
            c.close()
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(one, range(64)))
    for r in answers:
        error_of(r, 413, "payload_too_large")
    grown_mib = (peak_rss_kib() - before) / 1024
    assert grown_mib < 300, f"peak RSS grew by {grown_mib:.0f} MiB for 64 unauthenticated bodies"


def test_healthz_answers_without_credential_and_reveals_nothing(seeded):
    c = Client(seeded.vault.url, seeded.vault.cert)
    try:
        r = c.get("/healthz")
        assert r.status_code == 200, r.text
        assert r.headers.get("Content-Type", "").startswith("application/json")
        assert r.json() == {"status": "ok"}
        server = r.headers.get("Server", "")
        assert not any(ch.isdigit() for ch in server), f"Server header reveals a version: {server}"
        assert "X-Powered-By" not in r.headers
    finally:
        c.close()


def test_login_route_needs_no_credential_but_refuses_bad_logins(seeded):
    c = Client(seeded.vault.url, seeded.vault.cert)
    try:
        # One failed login only: the per-source budget is small.
        r = c.post("/v1/sessions", json={"name": "nobody", "password": "Wrong-pass-123!",
                                         "totp": "123456"})
        msg = error_of(r, 401, "unauthenticated")
        assert "nobody" not in msg and "Wrong-pass" not in msg
        assert "token" not in r.json()
        # A body that is not a login is a 400, not a login attempt.
        error_of(c.post("/v1/sessions", data=b"{", headers={"Content-Type": "application/json"}),
                 400, "invalid_json")
        error_of(c.post("/v1/sessions", json={"name": "nobody"}), 400, "invalid_request")
    finally:
        c.close()


def test_openapi_needs_a_credential_but_no_purpose(seeded):
    c = seeded.vault.client("admin")
    try:
        r = c.get("/v1/openapi.json")
        assert r.status_code == 200, r.text
        assert r.json()["openapi"].startswith("3.1")
    finally:
        c.close()


# -- curl: the same refusals through another client ---------------------------

def curl(seeded, *args, timeout=20):
    argv = ["curl", "--silent", "--show-error", "--cacert", str(seeded.vault.cert),
            "--max-time", str(timeout), "--noproxy", "*", *args]
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 10, env=env)


def test_curl_sweep(seeded):
    base = seeded.vault.url
    for method, path, body in sweep(seeded)[::2]:
        args = ["-X", method, "-o", "-", "-w", "\n%{http_code}", base + path,
                "-H", "X-Coffre-Purpose: admin"]
        if body is not None:
            args += ["-H", "Content-Type: application/json", "--data-binary", json.dumps(body)]
        r = curl(seeded, *args)
        assert r.returncode == 0, r.stderr
        text, _, status = r.stdout.rpartition("\n")
        assert status == "401", f"{method} {path}: {status} {text[:200]}"
        body_json = json.loads(text)
        assert body_json["error"]["code"] == "unauthenticated"
        assert set(body_json) == {"error"}


def test_curl_healthz(seeded):
    r = curl(seeded, "-o", "-", "-w", "\n%{http_code}", seeded.vault.url + "/healthz")
    assert r.returncode == 0, r.stderr
    text, _, status = r.stdout.rpartition("\n")
    assert status == "200" and json.loads(text) == {"status": "ok"}


# -- TLS versions ---------------------------------------------------------------

def _permissive_context(version, cafile):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(cafile)
    ctx.minimum_version = version
    ctx.maximum_version = version
    # Lets this client offer the old versions at all (OpenSSL 3 refuses them
    # at its default security level): the server must be the one refusing.
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    return ctx


def _handshake(port, ctx, hostname="127.0.0.1"):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=hostname) as tls:
            return tls.version()


@pytest.fixture(scope="module")
def old_tls_reference_server(vault_root):
    """A local TLS server that accepts TLS 1.0 to 1.3, to prove this client
    really offers TLS 1.1 (else refusing it would prove nothing)."""
    key, cert = vault_root / "ref.key", vault_root / "ref.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(5)
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield listener.getsockname()[1], cert
    stop.set()
    t.join(5)
    listener.close()


def test_tls_1_1_is_refused(seeded, old_tls_reference_server):
    ref_port, ref_cert = old_tls_reference_server
    assert _handshake(ref_port, _permissive_context(ssl.TLSVersion.TLSv1_1, ref_cert)) == "TLSv1.1"
    for version in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            _handshake(seeded.vault.port, _permissive_context(version, seeded.vault.cert))


def test_tls_1_2_and_1_3_are_accepted(seeded):
    for version, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        ctx = ssl.create_default_context(cafile=str(seeded.vault.cert))
        ctx.minimum_version = version
        ctx.maximum_version = version
        assert _handshake(seeded.vault.port, ctx) == name
    # The certificate names localhost too (SAN), not only the address.
    ctx = ssl.create_default_context(cafile=str(seeded.vault.cert))
    assert _handshake(seeded.vault.port, ctx, hostname="localhost")


def test_curl_tls_versions(seeded):
    url = seeded.vault.url + "/healthz"
    old = curl(seeded, "--tlsv1.1", "--tls-max", "1.1", "--ciphers", "DEFAULT@SECLEVEL=0",
               "-o", "/dev/null", url)
    assert old.returncode != 0, "TLS 1.1 was accepted"
    new = curl(seeded, "--tlsv1.2", "--tls-max", "1.2", "-o", "/dev/null", "-w", "%{http_code}", url)
    assert new.returncode == 0 and new.stdout == "200", new.stderr


def test_plain_http_gets_no_data(seeded):
    with socket.create_connection(("127.0.0.1", seeded.vault.port), timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        try:
            data = s.recv(4096)
        except (ConnectionError, socket.timeout):
            data = b""
    assert b'"status"' not in data
    assert seeded.vault.running()
