"""The server's life: no default account, the loopback rule, policy
replacement while serving, local CLI access in the audit log, and SIGTERM
losing no acknowledged write. The edge: bounded buffers, no trailers,
connection slots, the client address behind proxies, request ids, no core
dumps.
"""
import json
import os
import re
import resource
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time

import pytest

import rawhttp
from conftest import (POLICY, SCHEMA, Client, Vault, build_vault, child_env, error_of, hotp,
                      stop_checked, strong_password)

PEOPLE = "/v1/collections/people/records"


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=20, find=(0, 1, 2), principals=[
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
    ])
    yield s
    s.vault.stop()


def test_init_creates_no_account_and_no_token(coffre_bin, tmp_path):
    v = Vault(coffre_bin, tmp_path)
    r = v.init()
    out = v.last_json(r)
    assert "api_key" not in json.dumps(out) and "token" not in json.dumps(out)
    listed = v.cli("principal", "list", v.dir).stdout.strip()
    assert listed == "", f"init created principals: {listed}"
    v.start()
    try:
        for token in ("admin", "coffre_sk_" + "A" * 43, "root", ""):
            c = Client(v.url, v.cert, token=token, purpose="admin")
            try:
                error_of(c.get("/v1/audit"), 401, "unauthenticated")
            finally:
                c.close()
    finally:
        stop_checked(v)


def _serve(v, listen, timeout=60):
    """Runs `coffre serve` on `listen`; returns (process, first stdout line)."""
    p = subprocess.Popen([str(v.bin), "serve", str(v.dir), "--listen", listen],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env=child_env(), cwd=v.root)
    try:
        line = p.stdout.readline()
    except Exception:
        p.kill()
        raise
    return p, line


def test_non_loopback_needs_a_supplied_certificate(coffre_bin, tmp_path):
    v = Vault(coffre_bin, tmp_path)
    v.init()
    p, line = _serve(v, "0.0.0.0:0")
    rc = p.wait(60)
    err = p.stderr.read()
    assert rc == 2 and line == "", (rc, line, err)
    assert "non-loopback" in err and "--tls-cert" in err, err

    # With the operator's own certificate, the same address is accepted.
    key, cert = tmp_path / "tls-own-key.pem", tmp_path / "tls-own-cert.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out",
                        str(cert), "-days", "2", "-subj", "/CN=127.0.0.1", "-addext",
                        "subjectAltName=IP:127.0.0.1"], capture_output=True, timeout=30)
    assert r.returncode == 0, r.stderr
    own = Vault(coffre_bin, tmp_path, name="own")
    own.cli("init", own.dir, "--schema", SCHEMA, "--policy", POLICY, "--tls-cert", cert,
            "--tls-key", key)
    p, line = _serve(own, "0.0.0.0:0")
    try:
        assert json.loads(line)["listening"].startswith("https://0.0.0.0:"), line
        port = int(json.loads(line)["listening"].rsplit(":", 1)[1])
        c = Client(f"https://127.0.0.1:{port}", cert)
        try:
            assert c.get("/healthz").status_code == 200
        finally:
            c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0


def test_policy_load_while_serving_applies_at_once(seeded, tmp_path):
    v = seeded.vault
    v.start()
    try:
        ref = seeded.refs[0]
        support = v.client("support", "support")
        assert "email" in support.get(f"{PEOPLE}/{ref['id']}").json()["fields"]
        # The same policy, but support agents no longer see emails at all.
        text = POLICY.read_text(encoding="utf-8")
        old = 'email = "masked", phone = "masked", nir = "masked", iban = "none" }'
        assert old in text, "examples/people-policy.toml changed: update this test"
        stricter = tmp_path / "stricter.toml"
        stricter.write_text(text.replace(old, old.replace('email = "masked"', 'email = "none"')))
        v.cli("policy", "load", v.dir, stricter)
        fields = support.get(f"{PEOPLE}/{ref['id']}").json()["fields"]
        assert "email" not in fields and fields["phone"].startswith("+33 ")
        # A policy that drops a role someone holds is refused, and the
        # running policy stays.
        no_support = tmp_path / "no-support.toml"
        no_support.write_text(text.replace("[roles.support_agent]", "[roles.support_agent_v2]")
                              .replace("[roles.support_agent.", "[roles.support_agent_v2."))
        r = v.cli("policy", "load", v.dir, no_support, check=False)
        assert r.returncode == 2 and "support_agent" in r.stderr, r.stderr
        assert "email" not in support.get(f"{PEOPLE}/{ref['id']}").json()["fields"]
        # Put the example back for the other tests.
        v.cli("policy", "load", v.dir, POLICY)
        assert "email" in support.get(f"{PEOPLE}/{ref['id']}").json()["fields"]
        support.close()
    finally:
        stop_checked(v)


def test_local_cli_access_is_audited(seeded):
    v = seeded.vault
    assert v.proc is None
    ref = seeded.refs[1]
    v.cli("get", v.dir, "people", ref["id"])
    v.cli("export-subject", v.dir, ref["subject"])
    r = v.cli("audit", "list", v.dir, "--principal", "local")
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    reads = [e for e in entries if e["action"] == "read" and e["record_id"] == ref["id"]]
    assert reads, entries[-5:]
    assert reads[-1]["source"] == f"cli:uid={os.getuid()}"
    assert ref["subject"] in reads[-1]["subjects"]
    assert {f["view"] for f in reads[-1]["fields"]} == {"clear"}
    assert any(e["action"] == "export" and ref["subject"] in e["subjects"] for e in entries)


def test_sigterm_loses_no_acknowledged_write(seeded):
    """Writers create records as fast as they can; SIGTERM arrives mid-way.
    Every 201 the clients got must be readable after a restart."""
    v = seeded.vault
    v.start()
    acknowledged = []
    lock = threading.Lock()
    stop = threading.Event()
    extra = v.gen(400, 4242, v.root / "sigterm-people.ndjson")
    spare = iter(extra)
    spare_lock = threading.Lock()

    def writer():
        c = v.client("admin", "admin")
        try:
            while not stop.is_set():
                with spare_lock:
                    p = next(spare, None)
                if p is None:
                    return
                try:
                    r = c.post(PEOPLE, json={"fields": p}, timeout=10)
                except Exception:
                    return  # the server went away: not acknowledged
                if r.status_code == 201:
                    with lock:
                        acknowledged.append(r.json())
                elif r.status_code not in (409, 503):  # 409: an email a seed shares
                    return
        finally:
            c.close()

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(acknowledged) >= 3:
                break
        time.sleep(0.01)
    rc = v.stop()
    stop.set()
    for t in threads:
        t.join(30)
    assert rc == 0, f"serve exited {rc} after SIGTERM; log: {v.log_tail()}"
    assert acknowledged, "no write was acknowledged before SIGTERM"
    print(f"{len(acknowledged)} writes acknowledged of {len(extra)} attempted")
    v.start()
    admin = v.client("admin", "admin")
    try:
        for ref in acknowledged:
            r = admin.get(f"{PEOPLE}/{ref['id']}")
            assert r.status_code == 200, (ref, r.text)
            assert r.json()["subject"] == ref["subject"]
    finally:
        admin.close()
        stop_checked(v)
    assert v.cli("audit", "verify", v.dir).returncode == 0


# ---------------------------------------------------------------------------
# The edge (docs/adr/0019-edge-limits-and-proxies.md)

def _audit_sources(v):
    """The source of every read entry of the audit log (server stopped)."""
    r = v.cli("audit", "list", v.dir)
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return [e.get("source") for e in entries if e.get("action") == "read"]


def _rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_an_unending_chunk_extension_or_trailer_is_cut_off(seeded):
    """Replays the finding: one unauthenticated connection sent a chunk
    extension that never ended and the server's RSS grew by 1.5 GiB. Now the
    request is refused once the read buffer is full, long before 64 MiB."""
    v = seeded.vault
    v.start()
    try:
        before = _rss_kib(v.proc.pid)
        head = (b"POST /v1/collections/people/search HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        piece = b"a" * (16 << 10)
        for prefix in (b"1;ext=", b"0\r\nX-Long: "):
            status, headers, body = rawhttp.exchange(
                v.port, v.cert, head + prefix, body_chunks=(piece for _ in range(4096)),
                wait_after_head=0.2)
            assert status == 400, (prefix, status, body)
            assert json.loads(body)["error"]["code"] == "invalid_request"
        grown = _rss_kib(v.proc.pid) - before
        assert grown < 64 << 10, f"RSS grew by {grown} KiB"
    finally:
        stop_checked(v)


def test_a_credential_or_purpose_sent_as_a_trailer_is_refused(seeded):
    v = seeded.vault
    v.start()
    try:
        body = json.dumps({"fields": seeded.spare[-1]}).encode()
        chunked = b"%x\r\n%s\r\n0\r\n" % (len(body), body)
        for trailer in (f"Authorization: Bearer {v.key('admin')}\r\nX-Coffre-Purpose: admin",
                        "X-Coffre-Purpose: admin"):
            head = (b"POST /v1/collections/people/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                    b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n")
            if not trailer.startswith("Authorization"):
                head += f"Authorization: Bearer {v.key('admin')}\r\n".encode()
            status, _, out = rawhttp.exchange(
                v.port, v.cert, head + b"\r\n" + chunked + trailer.encode() + b"\r\n\r\n")
            assert status == 400, (trailer.split(":")[0], status, out)
            err = json.loads(out)["error"]
            assert err["code"] == "invalid_request" and "trailer" in err["message"], err
        # The same request with its headers where they belong is served.
        head = (b"POST /v1/collections/people/records HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                + f"Authorization: Bearer {v.key('admin')}\r\nX-Coffre-Purpose: admin\r\n".encode())
        status, _, out = rawhttp.exchange(v.port, v.cert, head + b"\r\n" + chunked + b"\r\n")
        assert status == 201, out
    finally:
        stop_checked(v)


def _silent(port, source_ip):
    """A TCP connection from `source_ip` that never starts TLS."""
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source_ip, 0))


def _closed_within(sock, seconds):
    """True if the server closes `sock` within `seconds`."""
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except socket.timeout:
        return False
    except OSError:
        return True  # reset


def _healthz_from(v, source_ip):
    c = Client(v.url, v.cert, source_ip=source_ip)
    try:
        return c.get("/healthz", timeout=10).status_code
    except Exception:
        return None
    finally:
        c.close()


def test_silent_connections_cannot_take_every_slot(seeded):
    """Replays the finding at a small scale: connections that never start TLS
    took every slot for the handshake timeout and normal clients failed. Now
    each source has a cap, connections still in their handshake have a cap
    that sources known to finish handshakes pass, and a silent connection
    is dropped after 3 s."""
    v = seeded.vault
    v.start(extra_args=["--max-connections", "16", "--max-connections-per-source", "4"])
    held = []
    try:
        assert _healthz_from(v, "127.0.0.1") == 200  # 127.0.0.1 is now a known source
        held += [_silent(v.port, "127.0.0.2") for _ in range(4)]
        fifth = _silent(v.port, "127.0.0.2")
        assert _closed_within(fifth, 2), "a fifth connection from one source was kept"
        fifth.close()
        assert _healthz_from(v, "127.0.0.3") == 200  # another source is served
        # 8 of 16 slots may be pending handshakes: 127.0.0.4 takes the rest.
        held += [_silent(v.port, "127.0.0.4") for _ in range(4)]
        time.sleep(0.2)
        assert _healthz_from(v, "127.0.0.6") is None, "an unknown source passed the pending cap"
        assert _healthz_from(v, "127.0.0.1") == 200, "a known client was refused"
        # The silent connections are dropped within the pre-handshake timeout.
        start = time.monotonic()
        assert _closed_within(held[0], 6), "a silent connection was kept past 6 s"
        assert time.monotonic() - start < 5
        time.sleep(0.3)
        assert _healthz_from(v, "127.0.0.6") == 200
    finally:
        for sock in held:
            sock.close()
        stop_checked(v)


def _proxy_v2(client_ip, port):
    """A PROXY protocol v2 header: TCP over IPv4 from client_ip:40000."""
    addresses = socket.inet_aton(client_ip) + socket.inet_aton("127.0.0.1") + struct.pack(
        ">HH", 40000, port)
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack(">H", 12) + addresses


def _read_as(v, ref, source_ip, before_tls=b"", headers=None):
    """GET a record as admin over a raw TLS connection; (status, socket)."""
    sock = rawhttp.tls_connect(v.port, v.cert, timeout=10, source_ip=source_ip,
                               before_tls=before_tls)
    h = {"Authorization": f"Bearer {v.key('admin')}", "X-Coffre-Purpose": "admin"}
    h.update(headers or {})
    sock.sendall(rawhttp.request_head("GET", f"{PEOPLE}/{ref['id']}", h, v.port))
    status, _, _ = rawhttp.read_response(sock, 10)
    return status, sock


def test_the_client_address_comes_from_trusted_proxies_only(seeded):
    v = seeded.vault
    ref = seeded.refs[0]
    # X-Forwarded-For: the right-most address that is not a trusted proxy,
    # only when the peer is one.
    v.start(extra_args=["--trusted-proxy", "127.0.0.2", "--trusted-proxy", "10.0.0.0/8"])
    try:
        status, sock = _read_as(v, ref, "127.0.0.2",
                                headers={"X-Forwarded-For": "192.0.2.66, 198.51.100.1, 10.1.1.1"})
        sock.close()
        assert status == 200
        status, sock = _read_as(v, ref, "127.0.0.3", headers={"X-Forwarded-For": "198.51.100.2"})
        sock.close()
        assert status == 200
    finally:
        stop_checked(v)
    sources = _audit_sources(v)
    assert "https:198.51.100.1" in sources, sources[-5:]
    assert "https:127.0.0.3" in sources, sources[-5:]
    assert "https:192.0.2.66" not in sources and "https:198.51.100.2" not in sources

    # PROXY protocol v2, from trusted proxies only; connection limits count
    # per client behind the proxy.
    v.start(extra_args=["--trusted-proxy", "127.0.0.2", "--proxy-protocol",
                        "--max-connections-per-source", "2"])
    held = []
    try:
        status, sock = _read_as(v, ref, "127.0.0.2", before_tls=_proxy_v2("203.0.113.5", v.port))
        held.append(sock)
        assert status == 200
        with pytest.raises((OSError, ssl.SSLError, rawhttp.NoResponse)):
            _read_as(v, ref, "127.0.0.3", before_tls=_proxy_v2("203.0.113.6", v.port))
        status, sock = _read_as(v, ref, "127.0.0.3")  # plain TLS from an untrusted peer
        sock.close()
        assert status == 200
        status, sock = _read_as(v, ref, "127.0.0.2", before_tls=_proxy_v2("203.0.113.5", v.port))
        held.append(sock)
        assert status == 200
        with pytest.raises((OSError, ssl.SSLError, rawhttp.NoResponse)):
            _read_as(v, ref, "127.0.0.2", before_tls=_proxy_v2("203.0.113.5", v.port))
        status, sock = _read_as(v, ref, "127.0.0.2", before_tls=_proxy_v2("203.0.113.7", v.port))
        held.append(sock)
        assert status == 200
        with pytest.raises((OSError, ssl.SSLError, rawhttp.NoResponse)):
            _read_as(v, ref, "127.0.0.2")  # a trusted proxy must send the header
    finally:
        for sock in held:
            sock.close()
        stop_checked(v)
    sources = _audit_sources(v)
    assert "https:203.0.113.5" in sources and "https:203.0.113.7" in sources, sources[-6:]
    assert "https:203.0.113.6" not in sources


def _login_via(v, name, peer, forwarded_for, wrong=False):
    """POST /v1/sessions from `peer` with an X-Forwarded-For header."""
    p = v.principals[name]
    body = {"name": name, "password": p["password"] + ("!" if wrong else ""),
            "totp": hotp(p["totp_key"], int(v.now()) // 30) if wrong else v.totp_for(name)}
    c = Client(v.url, v.cert, source_ip=peer)
    try:
        return c.post("/v1/sessions", json=body, headers={"X-Forwarded-For": forwarded_for})
    finally:
        c.close()


def test_logins_behind_a_trusted_proxy_are_throttled_per_client(coffre_bin, tmp_path):
    """Five failures from one client behind the proxy do not lock out the
    next client of the same proxy; an untrusted peer's X-Forwarded-For
    changes nothing."""
    s = build_vault(coffre_bin, tmp_path, people=2, principals=[
        ("hugo", "human", "support_agent", None, strong_password()),
        ("ines", "human", "support_agent", None, strong_password())])
    v = s.vault
    v.start(extra_args=["--trusted-proxy", "127.0.0.2"])
    try:
        for _ in range(5):
            error_of(_login_via(v, "hugo", "127.0.0.2", "198.51.100.10", wrong=True), 401)
        error_of(_login_via(v, "hugo", "127.0.0.2", "198.51.100.10", wrong=True), 429, "throttled")
        r = _login_via(v, "hugo", "127.0.0.2", "198.51.100.11")
        assert r.status_code == 201, r.text
        # Not trusted: the header is the client's own claim, and ignored.
        for _ in range(5):
            error_of(_login_via(v, "ines", "127.0.0.3", "198.51.100.12", wrong=True), 401)
        error_of(_login_via(v, "ines", "127.0.0.3", "198.51.100.13"), 429, "throttled")
    finally:
        stop_checked(v)


def test_every_answer_has_a_request_id_and_an_access_line(seeded):
    v = seeded.vault
    v.start()
    try:
        admin = v.client("admin", "admin")
        ok = admin.get(f"{PEOPLE}/{seeded.refs[0]['id']}")
        assert ok.status_code == 200 and re.fullmatch(r"[0-9a-f]{16}", ok.headers["X-Request-Id"])
        email = seeded.people[3]["email"]
        missing = admin.get(f"{PEOPLE}/{'0' * 32}", params={"email": email})
        assert missing.status_code == 404
        rid = missing.headers["X-Request-Id"]
        assert rid != ok.headers["X-Request-Id"]
        anon = Client(v.url, v.cert).get("/v1/audit")
        assert anon.status_code == 401
        admin.close()
    finally:
        stop_checked(v)
    log = v.log_text()
    # stderr is a file here: JSON lines (docs/operations.md, "Logs").
    lines = {}
    for ln in log.splitlines():
        o = json.loads(ln) if ln.startswith("{") else {"event": ln}
        if o["event"] == "http.request":
            lines[o["request_id"]] = o
    assert lines[rid]["status"] == 404 and lines[rid]["method"] == "GET", log[-1000:]
    assert lines[rid]["route"] == "/v1/collections/{collection}/records/{id}"
    assert lines[anon.headers["X-Request-Id"]]["status"] == 401
    assert lines[ok.headers["X-Request-Id"]]["status"] == 200  # every answer has its line
    assert email not in log and "email=" not in log and seeded.refs[0]["id"] not in log


def test_listen_accepts_a_name_that_resolves_to_loopback(coffre_bin, tmp_path):
    v = Vault(coffre_bin, tmp_path)
    v.init()
    p, line = _serve(v, "localhost:0")
    try:
        listening = json.loads(line)["listening"]
        assert re.fullmatch(r"https://(127\.0\.0\.1|\[::1\]):\d+", listening), listening
        c = Client(listening, v.cert)
        try:
            assert c.get("/healthz").status_code == 200
        finally:
            c.close()
    finally:
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0
    # A name with a non-loopback address is held to the non-loopback rule.
    name = socket.gethostname()
    try:
        addresses = {a[4][0] for a in socket.getaddrinfo(name, None)}
    except socket.gaierror:
        addresses = set()
    if addresses and not all(a.startswith("127.") or a == "::1" for a in addresses):
        p, line = _serve(v, f"{name}:0")
        rc = p.wait(60)
        err = p.stderr.read()
        assert rc == 2 and line == "" and "non-loopback" in err, (rc, line, err)


def _limits(pid):
    with open(f"/proc/{pid}/limits") as f:
        return {ln[:26].strip(): ln[26:].split()[:2] for ln in f.read().splitlines()[1:]}


def test_no_core_dumps_and_descriptors_raised(coffre_bin, tmp_path):
    """Core dumps would hold the master key, the TLS key, API keys and the
    personal values just read: the server runs with RLIMIT_CORE 0 (and not
    dumpable), even when started with core dumps allowed; its descriptor
    limit is raised to the hard limit."""
    v = Vault(coffre_bin, tmp_path)
    v.init()
    hard_files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def allow_cores():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard_files), hard_files))

    for allowed in (False, True):
        env = child_env({"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:disable_coredump=0"})
        if allowed:
            env["COFFRE_ALLOW_CORE_DUMPS"] = "1"
        p = subprocess.Popen([str(v.bin), "serve", str(v.dir), "--listen", "127.0.0.1:0"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                             cwd=v.root, preexec_fn=allow_cores)
        try:
            line = p.stdout.readline()
            c = Client(json.loads(line)["listening"], v.cert)
            try:
                assert c.get("/healthz").status_code == 200  # serving: signals handled
            finally:
                c.close()
            limits = _limits(p.pid)
            if allowed:
                assert limits["Max core file size"][0] == "unlimited", limits
            else:
                assert limits["Max core file size"] == ["0", "0"], limits
            assert limits["Max open files"][0] == str(hard_files), limits
        finally:
            p.send_signal(signal.SIGTERM)
            assert p.wait(60) == 0


# -- health and readiness (issue 13) ---------------------------------------------

def test_readyz_says_503_while_the_audit_log_cannot_commit(coffre_bin, tmp_path):
    """/healthz stayed 200 while every request failed 503 because the audit
    log could not commit. /readyz answers 503 then; /healthz says the
    process is alive."""
    s = build_vault(coffre_bin, tmp_path, people=3, find=(0,),
                    principals=[("admin", "service", "admin", None)])
    v = s.vault
    v.start()
    anonymous = Client(v.url, v.cert)
    admin = v.client("admin", "admin")
    record = f"{PEOPLE}/{s.refs[0]['id']}"
    try:
        r = anonymous.get("/readyz")
        assert r.status_code == 200 and r.json() == {"status": "ready"}, r.text
        assert admin.get(record).status_code == 200
        # The anchor goes away, then the clock passes the checkpoint interval:
        # the flusher's checkpoint cannot be anchored and the log fails closed.
        os.rename(v.anchor, str(v.anchor) + ".moved")
        v.advance(60)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and anonymous.get("/readyz").status_code == 200:
            time.sleep(0.2)
        ready = anonymous.get("/readyz")
        error_of(ready, 503, "unavailable")
        error_of(admin.get(record), 503, "unavailable")
        assert s.people[0]["email"] not in ready.text and "anchor" not in ready.text
        health = anonymous.get("/healthz")
        assert health.status_code == 200 and health.json() == {"status": "ok"}
    finally:
        anonymous.close()
        admin.close()
        v.stop()  # the log is broken: the exit status says so, and is not checked
