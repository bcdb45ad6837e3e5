"""Fixtures of the black-box suite: a real vault, a real `coffre serve`, real
HTTPS clients.

Each test module gets its own vault and server (module scope), so tests that
move the server's clock or exhaust a source's login budget cannot disturb
another module, and ctest can run the modules in parallel.

The coffre binary is $COFFRE_BIN, else $COFFRE_BUILD_DIR/coffre (ctest sets
COFFRE_BUILD_DIR, as for the C++ black-box tests), else --coffre-build-dir.
Children get the environment minus every COFFRE_* variable (a developer's
shell must not change what is tested), plus what the fixture sets.

Nothing waits without a bound: every request has a timeout, every child
process a deadline, every loop a count.
"""
import base64
import hashlib
import hmac
import json
import os
import re
import selectors
import shutil
import secrets
import signal
import struct
import subprocess
import threading
import unicodedata
import time
import urllib.parse
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

REPO = Path(__file__).resolve().parents[2]
SCHEMA = REPO / "examples" / "people.toml"
POLICY = REPO / "examples" / "people-policy.toml"

REQUEST_TIMEOUT = 30      # seconds, any one HTTP request (Argon2id under ASan is slow)
CLI_TIMEOUT = 120         # seconds, any one CLI command
START_TIMEOUT = 60        # seconds until the {"listening":...} line
STOP_TIMEOUT = 60         # seconds from SIGTERM to exit

# Exit codes of every command (docs/api.md).
EXIT_OK, EXIT_FAILURE, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_EXISTS, EXIT_DENIED, EXIT_INTEGRITY = range(7)

ERROR_CODES = {
    "invalid_json", "invalid_request", "unauthenticated", "forbidden", "suspended",
    "not_found", "method_not_allowed", "already_exists", "payload_too_large",
    "invalid_value", "throttled", "quota_exceeded", "internal", "failed_precondition",
    "integrity_failure", "unavailable", "busy",
}


def pytest_addoption(parser):
    parser.addoption("--coffre-build-dir", default=None,
                     help="build directory holding the coffre binary (default: $COFFRE_BUILD_DIR)")


def _coffre_binary(config):
    if os.environ.get("COFFRE_BIN"):
        return Path(os.environ["COFFRE_BIN"])
    build = config.getoption("--coffre-build-dir") or os.environ.get("COFFRE_BUILD_DIR")
    if not build:
        pytest.exit("set COFFRE_BUILD_DIR (or --coffre-build-dir) to the build directory", 4)
    binary = Path(build) / "coffre"
    if not binary.is_file():
        pytest.exit(f"no coffre binary at {binary}: build the target `coffre` first", 4)
    return binary


@pytest.fixture(scope="session")
def coffre_bin(pytestconfig):
    return _coffre_binary(pytestconfig)


def child_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("COFFRE_")}
    # ASan: a leak or an error in the server is a failed exit status, which
    # the stop() assertion reports.
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------
# HTTP helpers


def error_of(resp, status, code=None):
    """Asserts `resp` is an error with `status` (and `code`) in the contract's
    shape; returns the message."""
    assert resp.status_code == status, (
        f"{resp.request.method} {resp.request.url}: expected {status}, got "
        f"{resp.status_code}: {resp.text[:300]}")
    assert resp.headers.get("Content-Type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict) and set(err) == {"code", "message"}, body
    assert err["code"] in ERROR_CODES, body
    if code is not None:
        assert err["code"] == code, body
    assert isinstance(err["message"], str) and err["message"].strip(), body
    for marker in ("Traceback", "std::", "what():", "0x7f", ".cc:", "terminate called"):
        assert marker not in err["message"], body
    return err["message"]


class SourceAddressAdapter(HTTPAdapter):
    """Connects from a chosen loopback address (127.0.0.0/8 is all local), so
    tests can act as distinct sources for per-source throttling."""

    def __init__(self, source_ip, **kw):
        self._source = (source_ip, 0)
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = self._source
        super().init_poolmanager(*args, **kw)


class Client:
    """A requests.Session bound to one server, one credential and one
    purpose; every call has a timeout and the vault's CA."""

    def __init__(self, base_url, ca, token=None, purpose=None, on_behalf_of=None,
                 source_ip=None):
        self.base = base_url
        self.s = requests.Session()
        self.s.verify = str(ca)
        self.s.trust_env = False  # no proxy from the environment
        if source_ip:
            self.s.mount("https://", SourceAddressAdapter(source_ip))
        if token is not None:
            self.s.headers["Authorization"] = f"Bearer {token}"
        if purpose is not None:
            self.s.headers["X-Coffre-Purpose"] = purpose
        if on_behalf_of is not None:
            self.s.headers["X-Coffre-On-Behalf-Of"] = on_behalf_of

    def request(self, method, path, **kw):
        kw.setdefault("timeout", REQUEST_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    def close(self):
        self.s.close()


# ---------------------------------------------------------------------------
# TOTP (RFC 6238 over RFC 4226), checked against RFC 6238 Appendix B in
# test_sessions.py.

def hotp(key: bytes, counter: int, digits: int = 6, digest=hashlib.sha1) -> str:
    mac = hmac.new(key, struct.pack(">Q", counter), digest).digest()
    offset = mac[-1] & 0x0F
    value = struct.unpack(">I", mac[offset:offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10 ** digits).zfill(digits)


def totp(key: bytes, unix_time: float, digits: int = 6, period: int = 30) -> str:
    return hotp(key, int(unix_time) // period, digits)


def secret_from_otpauth(uri: str) -> bytes:
    parsed = urllib.parse.urlparse(uri)
    assert parsed.scheme == "otpauth" and parsed.netloc == "totp", "not an otpauth TOTP URI"
    query = urllib.parse.parse_qs(parsed.query)
    assert query.get("algorithm", ["SHA1"])[0].upper() == "SHA1"
    assert query.get("digits", ["6"])[0] == "6"
    assert query.get("period", ["30"])[0] == "30"
    b32 = query["secret"][0].upper()
    return base64.b32decode(b32 + "=" * (-len(b32) % 8))


# ---------------------------------------------------------------------------
# The vault and its server


def totp_key_from_stderr(stderr: str) -> bytes:
    """The base32 TOTP key that `principal add --kind human` and
    `principal reset-totp` print once on stderr."""
    m = re.search(r"enter this key by hand[^:]*: ([A-Z2-7]+)\s*$", stderr, re.M)
    assert m, f"no TOTP key on stderr: {stderr[-300:]}"
    text = m.group(1)
    return base64.b32decode(text + "=" * (-len(text) % 8))


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Vault:
    """A data directory under a scratch root, its CLI and its server.

    Files: ROOT/vault (DIR), ROOT/vault.key, ROOT/vault.erasures,
    ROOT/vault.audit-anchor (the defaults beside DIR), ROOT/clock (the test
    clock's offset in seconds), ROOT/server.log (the server's stderr).
    """

    def __init__(self, binary, root: Path, name="vault"):
        self.bin = binary
        self.root = root
        self.dir = root / name
        self.key_file = root / f"{name}.key"
        self.anchor = root / f"{name}.audit-anchor"
        self.clock_file = root / "clock"
        self.log_path = root / "server.log"
        self.cert = self.dir / "tls" / "cert.pem"
        self.offset = 0
        self.proc = None
        self.url = None
        self.port = None
        self.ready = None       # serve's first line, parsed ({"listening":...,"metrics":...})
        self.stdout_lines = []
        self._stdout_thread = None
        self.principals = {}   # name -> {"kind","role","attrs","api_key","password","totp_key"}
        self.last_totp_step = {}
        self.set_clock(0)

    # -- CLI --------------------------------------------------------------
    def cli(self, *args, input=None, check=True, timeout=CLI_TIMEOUT, env=None):
        argv = [str(self.bin)] + [str(a) for a in args]
        r = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout,
                           env=child_env(env), cwd=self.root)
        if check:
            assert r.returncode == 0, (
                f"coffre {' '.join(map(str, args[:2]))} exited {r.returncode}: {r.stderr[-2000:]}")
        return r

    @staticmethod
    def last_json(r):
        lines = [line for line in r.stdout.splitlines() if line.strip()]
        assert lines, f"no output: {r.stderr[-500:]}"
        return json.loads(lines[-1])

    def init(self, schema=SCHEMA, policy=POLICY):
        assert Path(policy).is_file(), f"{policy} is missing (it comes with the policy branch)"
        return self.cli("init", self.dir, "--schema", schema, "--policy", policy)

    def gen(self, count, seed, path):
        with open(path, "w", encoding="utf-8") as out:
            r = subprocess.run([str(self.bin), "gen", "--count", str(count), "--seed", str(seed)],
                               stdout=out, stderr=subprocess.PIPE, text=True,
                               timeout=CLI_TIMEOUT, env=child_env())
        assert r.returncode == 0, r.stderr[-500:]
        return read_ndjson(path)

    def import_people(self, path):
        r = self.cli("import", self.dir, "people", path)
        return self.last_json(r)

    def find(self, field, value):
        """Refs of `people` records with field == value (local CLI; server stopped)."""
        r = self.cli("find", self.dir, "people", field, input=value + "\n")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def add_principal(self, name, kind, role, attrs=None, password=None):
        args = ["principal", "add", self.dir, name, "--kind", kind, "--role", role]
        for k, v in (attrs or {}).items():
            args += ["--attr", f"{k}={v}"]
        r = self.cli(*args, input=(password + "\n") if password is not None else "")
        out = self.last_json(r)
        assert out.get("name") == name and out.get("kind") == kind and out.get("role") == role, out
        entry = {"kind": kind, "role": role, "attrs": dict(attrs or {})}
        if kind == "service":
            assert out.get("api_key"), "no api_key for a service"
            entry["api_key"] = out["api_key"]
        if kind == "human":
            # The secret is shown once, on stderr (QR code and key), never in
            # the JSON on stdout.
            assert "otpauth_uri" not in out and "totp_key" not in out, out
            entry["password"] = password
            entry["totp_key"] = totp_key_from_stderr(r.stderr)
        self.principals[name] = entry
        return entry

    def key(self, name):
        return self.principals[name]["api_key"]

    # -- clock --------------------------------------------------------------
    def set_clock(self, offset):
        self.offset = int(offset)
        self.frozen_ms = None
        self._write_clock(f"{self.offset}\n")

    def freeze_clock(self):
        """Stops the server's clock at its current time: real time no longer
        moves it, only advance() does (for assertions on exact delays)."""
        self.frozen_ms = int(self.now() * 1000)
        self._write_clock(f"@{self.frozen_ms}\n")

    def thaw_clock(self):
        """Lets the server's clock run again from where it stands."""
        if self.frozen_ms is not None:
            self.set_clock(round(self.frozen_ms / 1000 - time.time()))

    def advance(self, seconds):
        if self.frozen_ms is not None:
            self.frozen_ms += int(seconds) * 1000
            self._write_clock(f"@{self.frozen_ms}\n")
        else:
            self.set_clock(self.offset + int(seconds))

    def now(self):
        """The server's clock: the frozen time, or the real time plus the offset."""
        if self.frozen_ms is not None:
            return self.frozen_ms / 1000
        return time.time() + self.offset

    def _write_clock(self, text):
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(text)
        os.replace(tmp, self.clock_file)

    # -- server -------------------------------------------------------------
    def start(self, extra_args=()):
        assert self.proc is None
        log = open(self.log_path, "ab")
        env = child_env({"COFFRE_TEST_CLOCK_FILE": str(self.clock_file)})
        self.proc = subprocess.Popen(
            [str(self.bin), "serve", str(self.dir), "--listen", "127.0.0.1:0", *extra_args],
            stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env, cwd=self.root)
        log.close()
        line = self._read_first_line(START_TIMEOUT)
        try:
            self.ready = json.loads(line)
            listening = self.ready["listening"]
        except (ValueError, KeyError, TypeError):
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None
            raise AssertionError(f"serve printed {line!r}, not {{\"listening\":...}}; "
                                 f"log: {self.log_tail()}")
        parsed = urllib.parse.urlparse(listening)
        assert parsed.scheme == "https" and parsed.hostname == "127.0.0.1" and parsed.port, listening
        self.url = listening.rstrip("/")
        self.port = parsed.port
        # Keep draining stdout so the server never blocks on a full pipe.
        self._stdout_thread = threading.Thread(target=self._drain_stdout, daemon=True)
        self._stdout_thread.start()
        return self.url

    def _read_first_line(self, timeout):
        sel = selectors.DefaultSelector()
        sel.register(self.proc.stdout, selectors.EVENT_READ)
        buf = b""
        deadline = time.monotonic() + timeout
        try:
            while b"\n" not in buf:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.proc.kill()
                    self.proc.wait(10)
                    self.proc = None
                    raise AssertionError(f"serve did not print its address within {timeout} s; "
                                         f"log: {self.log_tail()}")
                if not sel.select(timeout=min(left, 0.5)):
                    if self.proc.poll() is not None:
                        rc = self.proc.returncode
                        self.proc = None
                        raise AssertionError(f"serve exited with {rc} before listening; "
                                             f"log: {self.log_tail()}")
                    continue
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    rc = self.proc.wait(10)
                    self.proc = None
                    raise AssertionError(f"serve closed stdout (exit {rc}); log: {self.log_tail()}")
                buf += chunk
        finally:
            sel.close()
        first, _, rest = buf.partition(b"\n")
        if rest:
            self.stdout_lines.extend(rest.decode(errors="replace").splitlines())
        return first.decode(errors="replace")

    def _drain_stdout(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.stdout_lines.append(raw.decode(errors="replace").rstrip("\n"))

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM):
        """Stops the server with `sig`; returns its exit status."""
        if self.proc is None:
            return None
        proc, self.proc = self.proc, None
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            rc = proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise AssertionError(f"serve did not exit within {STOP_TIMEOUT} s of signal {sig}")
        if self._stdout_thread:
            self._stdout_thread.join(5)
        proc.stdout.close()
        self.url = None
        return rc

    def log_text(self):
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n=3000):
        return self.log_text()[-n:]

    # -- clients --------------------------------------------------------------
    def client(self, principal=None, purpose=None, token=None, on_behalf_of=None, source_ip=None):
        assert self.url, "the server is not running"
        if principal is not None:
            token = self.key(principal)
        return Client(self.url, self.cert, token=token, purpose=purpose,
                      on_behalf_of=on_behalf_of, source_ip=source_ip)

    def totp_for(self, name, at=None):
        """A code the server accepts now for human `name`, never reusing a
        time step (the server refuses replays): the current step, or the
        next one (inside the server's one-step window), or the clock moves."""
        key = self.principals[name]["totp_key"]
        step = int(at if at is not None else self.now()) // 30
        last = self.last_totp_step.get(name, -1)
        target = max(step, last + 1)
        if target > step + 1:
            self.advance((target - step) * 30)
            step = target
        self.last_totp_step[name] = target
        return hotp(key, target)

    def login(self, name, source_ip=None, password=None, code=None):
        """POST /v1/sessions; returns the response."""
        p = self.principals[name]
        c = Client(self.url, self.cert, source_ip=source_ip)
        try:
            return c.post("/v1/sessions", json={
                "name": name,
                "password": p["password"] if password is None else password,
                "totp": code if code is not None else (
                    self.totp_for(name) if password is None
                    # A failing attempt uses the current step without
                    # reserving it (the server consumes a step only on
                    # success), so the clock does not move.
                    else hotp(p["totp_key"], int(self.now()) // 30)),
            })
        finally:
            c.close()


def wait_for(predicate, what, timeout=20):
    """Polls `predicate` until it holds; fails naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} within {timeout} s")


def luhn_complete(digits):
    """`digits` and the check digit that makes them pass Luhn (test card
    numbers are computed, never written out)."""
    for d in "0123456789":
        n = digits + d
        total = 0
        for i, ch in enumerate(reversed(n)):
            v = int(ch) * (2 if i % 2 else 1)
            total += v - 9 if v > 9 else v
        if total % 10 == 0:
            return n
    raise AssertionError("unreachable")


def canonical_phone(raw):
    digits = "".join(ch for ch in raw if ch.isdigit() or ch == "+")
    if digits.startswith("+"):
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    assert digits.startswith("0"), "generated phones are French"
    return "+33" + digits[1:]


def canonical(person):
    """The canonical form of a generated person's fields (what the vault
    stores and an allowed clear read shows)."""
    c = dict(person)
    c["email"] = person["email"].strip().lower()
    c["phone"] = canonical_phone(person["phone"])
    c["iban"] = person["iban"].replace(" ", "").upper()
    c["nir"] = person["nir"].replace(" ", "").upper()
    return c


def seeded_values(person):
    """Every spelling of a generated person's personal values that must never
    appear outside an allowed response: as generated and canonical. Names and
    addresses are left out: short common words also occur in unrelated text."""
    c = canonical(person)
    phone_national = "0" + c["phone"][3:] if c["phone"].startswith("+33") else None
    values = {person["email"], c["email"], person["nir"], c["nir"], person["phone"], c["phone"],
              person["iban"], c["iban"]}
    if phone_national:
        values.add(phone_national)
    return {v for v in values if v and len(v) >= 8}


@pytest.fixture(scope="module")
def vault_root(tmp_path_factory, request):
    root = tmp_path_factory.mktemp(request.module.__name__.rsplit(".", 1)[-1])
    yield root
    if not os.environ.get("COFFRE_KEEP_TEST_DIRS"):
        shutil.rmtree(root, ignore_errors=True)


class Seeded:
    """What a module's vault was seeded with."""

    def __init__(self, vault, people, spare):
        self.vault = vault
        self.people = people    # imported, as generated
        self.spare = spare      # generated, never stored: for API creates
        self.refs = {}          # index in people -> {"id","subject"}

    def agencies(self):
        return sorted({p["agency"] for p in self.people if "agency" in p})


def build_vault(binary, root, people=30, principals=(), find=(), seed=11):
    """init + gen + import + `coffre find` of the people at indexes `find` +
    principals; returns Seeded (server not started).

    principals: tuples (name, kind, role, attrs or None[, password]), or a
    function of the Seeded returning them (to use the generated agencies).
    find: indexes into the imported people, or a function returning them.
    """
    v = Vault(binary, root)
    v.init()
    everyone = v.gen(people * 2, seed, root / "people-all.ndjson")
    assert len({p["email"] for p in everyone}) == len(everyone), "generated emails repeat"
    assert all("agency" in p for p in everyone), "coffre gen emits no agency (policy branch)"
    imported, spare = everyone[:people], everyone[people:]
    with open(root / "people.ndjson", "w", encoding="utf-8") as f:
        for p in imported:
            f.write(json.dumps(p, ensure_ascii=False) + "\n")
    summary = v.import_people(root / "people.ndjson")
    assert summary.get("imported") == people and summary.get("rejected") == 0, summary
    s = Seeded(v, imported, spare)
    for i in (find(s) if callable(find) else find):
        refs = v.find("email", imported[i]["email"])
        assert len(refs) == 1, refs
        s.refs[i] = refs[0]
    for spec in (principals(s) if callable(principals) else principals):
        name, kind, role, attrs = spec[:4]
        password = spec[4] if len(spec) > 4 else None
        v.add_principal(name, kind, role, attrs, password)
    return s


def stop_checked(v):
    rc = v.stop()
    assert rc == 0, f"serve exited {rc} after SIGTERM; log: {v.log_tail()}"


_PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _neighbours(a, b):
    """Equal or one apart, ignoring case: cracklib counts these pairs and
    refuses more than four as "too simplistic/systematic"."""
    return abs(ord(a.lower()) - ord(b.lower())) <= 1


def strong_password():
    """A random password with all four character classes (the CNIL rule) and
    nothing a dictionary knows. No two neighbouring characters are equal or
    one apart, so cracklib's systematic rule, which a uniformly random one
    trips about 6 times in 10,000, cannot refuse it (src/auth/test_passwords.h
    does the same for the C++ tests)."""
    out = "Kq7!"
    while len(out) < 4 + 20:
        c = secrets.choice(_PASSWORD_ALPHABET)
        if _neighbours(out[-1], c) or (len(out) == 23 and _neighbours(c, "x")):
            continue
        out += c
    return out + "x#Z3"


# ---------------------------------------------------------------------------
# The masked view, per field of examples/people.toml (src/schema/mask.h):
# an oracle written from the contract, not from the code.

NAME_FIELDS = {"first_name", "last_name"}


def mask(field, value):
    if field == "email":
        local, _, domain = value.partition("@")
        return f"{local[0]}***@{domain}"
    if field == "phone":
        assert value.startswith("+33") and len(value) == 12, "generated phones are French"
        return f"+33 {value[3]} ** ** ** {value[-2:]}"
    if field == "nir":
        return f"{value[0]} {value[1:3]} ** ** *** *** **"
    if field == "iban":
        return "**** " + value[-4:]
    if field in NAME_FIELDS:
        first = value[0]
        for ch in value[1:]:
            if not unicodedata.combining(ch):
                break
            first += ch
        return first + "."
    return "***"


def views_of(fields, person):
    """{field: "clear" | "masked" | "none"} of a response's `fields`, judged
    against the generated `person`; fails on a value that is neither the
    clear value nor exactly its mask."""
    c = canonical(person)
    views = {}
    for name in c:
        if name not in fields:
            views[name] = "none"
        elif fields[name] == c[name]:
            views[name] = "clear"
        elif fields[name] == mask(name, c[name]):
            views[name] = "masked"
        else:
            raise AssertionError(f"field {name}: {fields[name]!r} is neither the clear value "
                                 f"{c[name]!r} nor its mask {mask(name, c[name])!r}")
    extra = set(fields) - set(c)
    assert not extra, f"fields not in the schema: {extra}"
    return views


PEOPLE_FIELDS = ["first_name", "last_name", "sex", "birth_date", "nir", "email", "phone",
                 "postal_address", "iban", "agency"]


def expect_views(default, **named):
    return {f: named.get(f, default) for f in PEOPLE_FIELDS}
