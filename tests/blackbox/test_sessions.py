"""Human logins: password + TOTP (RFC 6238) -> session token; replay refused;
throttling per (name, source) and per source (429 + Retry-After); lockout
after 10 failures that survives a restart and ends after 30 minutes, and
that unknown names get too; one server log line per failed login; sessions
expire after 15 minutes idle and slide on use. The server's clock is moved through
COFFRE_TEST_CLOCK_FILE, never by sleeping.
"""
import hashlib
import json
import time
from datetime import datetime, timezone

import pytest

from conftest import build_vault, error_of, hotp, stop_checked, strong_password, totp

RECORD = "/v1/collections/people/records"

# RFC 6238 Appendix B: (time, SHA-1, SHA-256, SHA-512), 8 digits.
RFC6238_VECTORS = [
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]
SEED_SHA1 = b"12345678901234567890"
SEED_SHA256 = b"12345678901234567890123456789012"
SEED_SHA512 = SEED_SHA1 * 3 + b"1234"


def test_totp_matches_rfc6238_appendix_b():
    for t, sha1, sha256, sha512 in RFC6238_VECTORS:
        assert hotp(SEED_SHA1, t // 30, 8, hashlib.sha1) == sha1
        assert hotp(SEED_SHA256, t // 30, 8, hashlib.sha256) == sha256
        assert hotp(SEED_SHA512, t // 30, 8, hashlib.sha512) == sha512
    # The 6-digit code is the 8-digit one's last six digits.
    assert totp(SEED_SHA1, 59) == "287082"


HUMANS = ["hana", "theo", "lola", "ines", "remi"]


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=5, find=(0,), principals=[
        (name, "human", "support_agent", None, strong_password()) for name in HUMANS])
    s.vault.start()
    yield s
    stop_checked(s.vault)


def parse_time(text):
    assert text.endswith("Z"), f"not UTC RFC 3339: {text}"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def use(s, token):
    c = s.vault.client(token=token, purpose="support")
    try:
        return c.get(f"{RECORD}/{s.refs[0]['id']}")
    finally:
        c.close()


def login_ok(s, name, source_ip=None):
    r = s.vault.login(name, source_ip=source_ip)
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"token", "expires_at"}, body
    return body


def test_enrolment_key_is_complete(seeded):
    p = seeded.vault.principals["hana"]
    assert len(p["totp_key"]) == 20


def test_login_then_use_the_session(seeded):
    body = login_ok(seeded, "hana")
    expires = parse_time(body["expires_at"])
    assert abs(expires - (seeded.vault.now() + 15 * 60)) < 120, body["expires_at"]
    r = use(seeded, body["token"])
    assert r.status_code == 200, r.text
    assert r.json()["fields"]["email"].count("***") == 1  # support sees it masked
    c = seeded.vault.client(token=body["token"])
    try:
        assert c.get("/v1/openapi.json").status_code == 200
    finally:
        c.close()


def test_a_code_is_accepted_once(seeded):
    v = seeded.vault
    code = v.totp_for("remi")
    first = v.login("remi", code=code)
    assert first.status_code == 201, first.text
    again = v.login("remi", code=code, source_ip="127.0.0.21")
    error_of(again, 401, "unauthenticated")


def test_failed_logins_all_look_the_same(seeded):
    v = seeded.vault
    src = "127.0.0.20"
    right = v.principals["hana"]["password"]
    bad_password = v.login("hana", source_ip=src, password=right + "x")
    bad_code_value = "000000" if v.totp_for("hana") != "000000" else "111111"
    bad_code = v.login("hana", source_ip=src, code=bad_code_value)
    # An unknown name (login() needs a known principal: post by hand).
    c = v.client(token=None, source_ip=src)
    try:
        unknown = c.post("/v1/sessions", json={"name": "nobody", "password": right,
                                               "totp": "123456"})
    finally:
        c.close()
    msgs = {error_of(r, 401, "unauthenticated") for r in (bad_password, bad_code, unknown)}
    assert len(msgs) == 1, msgs
    for m in msgs:
        assert "hana" not in m and right not in m


def test_source_is_throttled_after_five_failures(seeded):
    v = seeded.vault
    src = "127.0.0.30"
    right = v.principals["theo"]["password"]
    for _ in range(5):
        error_of(v.login("theo", source_ip=src, password=right + "!"), 401, "unauthenticated")
    r = v.login("theo", source_ip=src, password=right + "!")
    error_of(r, 429, "throttled")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 120, retry
    # Throttled means no attempt at all, even with the right credentials.
    error_of(v.login("theo", source_ip=src), 429, "throttled")
    # Another source is not throttled, and the account is not locked.
    login_ok(seeded, "theo", source_ip="127.0.0.31")
    # Once the wait is over, the source may try again.
    v.advance(retry + 1)
    login_ok(seeded, "theo", source_ip=src)


def test_failures_under_one_name_do_not_throttle_the_others_behind_one_address(seeded):
    """Issue 13, item 4: an office NAT or a reverse proxy is one source for
    everyone behind it. Before, a correct login got 429 after five failures
    under another name from the same address."""
    v = seeded.vault
    nat = "127.0.3.1"
    for _ in range(5):
        error_of(v.login("theo", source_ip=nat, password="Not-Theos-Password-1!"), 401, "unauthenticated")
    error_of(v.login("theo", source_ip=nat, password="Not-Theos-Password-1!"), 429, "throttled")
    login_ok(seeded, "ines", source_ip=nat)


def test_a_source_is_throttled_after_fifty_failures_under_any_names(seeded):
    v = seeded.vault
    proxy = "127.0.3.2"
    # The server's clock runs while we try: one more attempt per 6 s taken.
    started = time.monotonic()
    failures = 0
    c = v.client(token=None, source_ip=proxy)
    try:
        while failures < 100:
            r = c.post("/v1/sessions", json={"name": f"someone-{failures}", "password": "x",
                                             "totp": "123456"})
            if r.status_code == 429:
                break
            error_of(r, 401, "unauthenticated")
            failures += 1
    finally:
        c.close()
    assert 50 <= failures <= 50 + (time.monotonic() - started) / 6 + 1, failures
    r = v.login("ines", source_ip=proxy)
    error_of(r, 429, "throttled")
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 6, retry
    v.advance(retry)
    login_ok(seeded, "ines", source_ip=proxy)


def test_unknown_names_lock_like_known_ones(seeded):
    """Issue 13, item 11: ten failures from ten addresses locked a human
    for 30 minutes while an unknown name never locked, so the lock told
    which names exist. Both now answer alike, and an admin can unlock."""
    v = seeded.vault
    wrong = "Not-The-Password-1!"

    def attempts(name, net):
        out = []
        for i in range(11):
            c = v.client(token=None, source_ip=f"127.{net}.{i}.1")
            try:
                r = c.post("/v1/sessions", json={"name": name, "password": wrong, "totp": "123456"})
            finally:
                c.close()
            retry = int(r.headers["Retry-After"]) if r.status_code == 429 else 0
            out.append((r.status_code, retry))
        return out

    known = attempts("lola", 41)
    unknown = attempts("lolb", 42)
    assert [s for s, _ in known] == [s for s, _ in unknown] == [401] * 10 + [429], (known, unknown)
    assert 29 * 60 <= known[10][1] <= 30 * 60 and abs(known[10][1] - unknown[10][1]) <= 5, (known, unknown)
    # The locked human is unlocked by an admin, while the server runs.
    out = v.last_json(v.cli("principal", "unlock", v.dir, "lola"))
    assert out == {"name": "lola", "was_locked": True}, out
    login_ok(seeded, "lola", source_ip="127.43.0.1")
    # An unknown name has no account to unlock.
    r = v.cli("principal", "unlock", v.dir, "lolb", check=False)
    assert r.returncode == 3, r.stderr


def test_failed_logins_are_logged_naming_only_registered_principals(seeded):
    v = seeded.vault
    typed = "Meadow-Sunny-" + "41?"
    error_of(v.login("remi", source_ip="127.0.3.3", password="Wrong-For-Remi-1!"), 401, "unauthenticated")
    c = v.client(token=None, source_ip="127.0.3.4")
    try:
        error_of(c.post("/v1/sessions", json={"name": typed, "password": "x", "totp": "123456"}),
                 401, "unauthenticated")
    finally:
        c.close()
    deadline = time.time() + 5
    while time.time() < deadline and "127.0.3.4" not in v.log_text():
        time.sleep(0.05)
    log = v.log_text()
    failed = [o for o in map(json.loads, (ln for ln in log.splitlines() if ln.startswith("{")))
              if o["event"] == "auth.login_failed"]
    found = {(o["principal"], o["source"], o["reason"], o["level"]) for o in failed}
    assert ("remi", "127.0.3.3", "invalid credentials", "warn") in found, log[-1000:]
    assert ("-", "127.0.3.4", "invalid credentials", "warn") in found, log[-1000:]
    assert "failed login: principal remi from 127.0.3.3: invalid credentials" in log
    assert typed not in log and "Wrong-For-Remi" not in log


def test_lockout_after_ten_failures_survives_restart_and_ends(seeded):
    v = seeded.vault
    right = v.principals["lola"]["password"]
    # Ten failures, each from its own source, so no source is throttled.
    for i in range(10):
        error_of(v.login("lola", source_ip=f"127.0.1.{10 + i}", password=right + "?"),
                 401, "unauthenticated")
    r = v.login("lola", source_ip="127.0.1.30")
    error_of(r, 429, "throttled")
    retry = int(r.headers["Retry-After"])
    assert 25 * 60 <= retry <= 30 * 60 + 60, retry
    # The lock is stored, not only in memory.
    stop_checked(v)
    v.start()
    r = v.login("lola", source_ip="127.0.1.31")
    error_of(r, 429, "throttled")
    # 30 minutes later the right credentials work again.
    v.advance(30 * 60 + 5)
    login_ok(seeded, "lola", source_ip="127.0.1.32")


def test_session_expires_after_15_idle_minutes_and_slides_on_use(seeded):
    v = seeded.vault
    token = login_ok(seeded, "ines")["token"]
    assert use(seeded, token).status_code == 200
    v.advance(10 * 60)
    assert use(seeded, token).status_code == 200
    v.advance(10 * 60)  # 20 minutes after login, 10 after the last use
    assert use(seeded, token).status_code == 200
    v.advance(16 * 60)
    error_of(use(seeded, token), 401, "unauthenticated")
    # An expired token stays dead; a new login works.
    assert use(seeded, token).status_code == 401
    token2 = login_ok(seeded, "ines")["token"]
    assert token2 != token
    assert use(seeded, token2).status_code == 200


def test_suspension_ends_sessions_and_refuses_logins(seeded):
    v = seeded.vault
    token = login_ok(seeded, "hana")["token"]
    v.cli("principal", "suspend", v.dir, "hana")
    try:
        r = use(seeded, token)
        assert r.status_code in (401, 403), r.text
        error_of(r, r.status_code, "unauthenticated" if r.status_code == 401 else "suspended")
        error_of(v.login("hana", source_ip="127.0.2.1"), 403, "suspended")
    finally:
        v.cli("principal", "resume", v.dir, "hana")
    login_ok(seeded, "hana", source_ip="127.0.2.2")


def test_a_staff_password_a_cracker_tries_first_is_refused(seeded):
    """Issue 13, item 7: staff passwords meet the rule `guessable` too."""
    v = seeded.vault
    r = v.cli("principal", "add", v.dir, "yann", "--kind", "human", "--role", "support_agent",
              input="Password2024!!\n", check=False)
    assert r.returncode == 2, r.stderr
    assert "rule guessable" in r.stderr, r.stderr
    assert "Password2024" not in r.stdout + r.stderr
    # Nothing was added: the name is still free.
    v.add_principal("yann", "human", "support_agent", password=strong_password())
