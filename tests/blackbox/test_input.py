"""Bad input gets a 4xx with a clear message and nothing is stored:
malformed JSON 400, body over 1 MiB 413, unknown keys and wrong types 400
(or 422), invalid values 422 naming the field. No input causes a 5xx, and a
few hundred random malformed requests leave the server up.
"""
import json
import random

import pytest

import rawhttp
from conftest import build_vault, error_of, stop_checked

PEOPLE = "/v1/collections/people/records"
SEARCH = "/v1/collections/people/search"
MIB = 1 << 20


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=5, find=(0,), principals=[
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("auditor", "service", "auditor", None),
    ])
    s.vault.start()
    yield s
    stop_checked(s.vault)


@pytest.fixture
def admin(seeded):
    c = seeded.vault.client("admin", "admin")
    yield c
    c.close()


def stored(seeded, person):
    """Refs found for the person's email and NIR (support may search)."""
    c = seeded.vault.client("support", "support")
    try:
        found = []
        for field in ("email", "nir"):
            r = c.post(SEARCH, json={"field": field, "value": person[field]})
            assert r.status_code == 200, r.text
            found += r.json()["results"]
        return found
    finally:
        c.close()


def person(seeded, i):
    return dict(seeded.spare[i])


def check_refused(seeded, resp, status, code, p, names=()):
    if isinstance(status, tuple):
        assert resp.status_code in status, resp.text
        status = resp.status_code
    msg = error_of(resp, status, code if not isinstance(code, tuple) else None)
    if isinstance(code, tuple):
        assert resp.json()["error"]["code"] in code, resp.text
    for name in names:
        assert name in msg, f"the message does not name {name!r}: {msg}"
    for field in ("email", "nir", "phone", "iban"):
        assert p[field] not in msg, f"the message holds the {field} value"
    assert stored(seeded, p) == [], "a refused request stored something"
    return msg


# -- malformed JSON and shapes -------------------------------------------------------

MALFORMED = [
    b"", b"{", b"}", b"not json", b'{"fields": {', b'{"fields":{"a":1,}}', b"{'fields':{}}",
    b'{"fields":{}} trailing', b'{"fields":{}}{"fields":{}}', b"\xff\xfe\x00{", b'{"a":NaN}',
    b'{"a":1 /* comment */}', b'{"fields":{"email":"\x00\x01"}',
    b'{"fields":{"email":"\xc3\x28"}}',  # invalid UTF-8 inside a string
]


@pytest.mark.parametrize("body", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_json_is_400(seeded, admin, body):
    p = person(seeded, 0)
    r = admin.post(PEOPLE, data=body, headers={"Content-Type": "application/json"})
    check_refused(seeded, r, 400, "invalid_json", p)


@pytest.mark.parametrize("body", ["[]", '"text"', "1", "null", "true", '[{"fields":{}}]'])
def test_wrong_top_level_shape_is_400(seeded, admin, body):
    r = admin.post(PEOPLE, data=body, headers={"Content-Type": "application/json"})
    check_refused(seeded, r, 400, "invalid_json", person(seeded, 0))


def test_unknown_and_missing_keys_are_400(seeded, admin):
    p = person(seeded, 0)
    check_refused(seeded, admin.post(PEOPLE, json={"fields": p, "colour": "blue"}), 400,
                  "invalid_request", p, names=("colour",))
    check_refused(seeded, admin.post(PEOPLE, json={"record": p}), 400, "invalid_request", p)
    check_refused(seeded, admin.post(PEOPLE, json={}), 400, "invalid_request", p)
    check_refused(seeded, admin.post(PEOPLE, json={"fields": p, "subject": "not-an-id"}), 400,
                  "invalid_request", p, names=("subject",))
    check_refused(seeded, admin.post(PEOPLE, json={"fields": p, "subject": "AB" * 16}), 400,
                  "invalid_request", p, names=("subject",))


@pytest.mark.parametrize("field,value", [
    ("email", 42), ("email", True), ("email", ["x@example.fr"]), ("email", {"a": 1}),
    ("nir", 184127645108946), ("sex", False), ("birth_date", 19840101), ("agency", None),
    ("phone", 1.5),
])
def test_wrong_types_are_400_or_422_and_name_the_field(seeded, admin, field, value):
    p = person(seeded, 0)
    body = {"fields": {**p, field: value}}
    check_refused(seeded, admin.post(PEOPLE, json=body), (400, 422),
                  ("invalid_request", "invalid_value"), p, names=(field,))


def test_fields_of_the_wrong_type_are_refused(seeded, admin):
    p = person(seeded, 0)
    for fields in ("text", 1, [p], None):
        check_refused(seeded, admin.post(PEOPLE, json={"fields": fields}), (400, 422),
                      ("invalid_request", "invalid_json", "invalid_value"), p, names=("fields",))


def test_unknown_field_is_refused_naming_it(seeded, admin):
    p = person(seeded, 0)
    check_refused(seeded, admin.post(PEOPLE, json={"fields": {**p, "nickname": "Bibi"}}),
                  (400, 422), ("invalid_request", "invalid_value"), p, names=("nickname",))


@pytest.mark.parametrize("field,value", [
    ("email", "not-an-email"), ("email", "a@@example.fr"), ("nir", "184127645108947"),
    ("nir", "12345"), ("phone", "123"), ("iban", "FR7630006000011234567890188"),
    ("birth_date", "2026-02-30"), ("birth_date", "1.1.1990"), ("sex", "X"), ("first_name", ""),
    ("first_name", "x" * 5000), ("agency", ""), ("postal_address", "\u0000"),
])
def test_invalid_values_are_422_naming_the_field(seeded, admin, field, value):
    p = person(seeded, 1)
    body = {"fields": {**p, field: value}}
    msg = check_refused(seeded, admin.post(PEOPLE, json=body), 422, "invalid_value", p,
                        names=(field,))
    if len(value) >= 3:
        assert value not in msg, "the message repeats the refused value"


@pytest.mark.parametrize("missing", ["nir", "email", "agency"])
def test_missing_required_field_is_refused_naming_it(seeded, admin, missing):
    p = person(seeded, 1)
    fields = {k: v for k, v in p.items() if k != missing}
    check_refused(seeded, admin.post(PEOPLE, json={"fields": fields}), (400, 422),
                  ("invalid_request", "invalid_value"), p, names=(missing,))


def test_taken_unique_value_is_409(seeded, admin):
    p = person(seeded, 2)
    taken = seeded.people[0]["email"]
    r = admin.post(PEOPLE, json={"fields": {**p, "email": taken.upper()}})
    msg = check_refused(seeded, r, 409, "already_exists", p, names=("email",))
    assert taken not in msg and taken.upper() not in msg


def test_bad_patch_changes_nothing(seeded, admin):
    ref = seeded.refs[0]
    url = f"{PEOPLE}/{ref['id']}"
    before = admin.get(url)
    assert before.status_code == 200, before.text
    cases = [
        ({"fields": {"email": "broken"}}, 422, ("invalid_value",)),
        ({"fields": {"nir": None}}, 422, ("invalid_value",)),  # required: null cannot remove it
        ({"fields": {"email": 7}}, (400, 422), ("invalid_request", "invalid_value")),
        ({"fields": {"nickname": "x"}}, (400, 422), ("invalid_request", "invalid_value")),
        ({"fields": {"email": seeded.people[1]["email"]}}, 409, ("already_exists",)),
        ({"fields": {"sex": "F"}, "extra": 1}, 400, ("invalid_request",)),
        ({"id": ref["id"]}, 400, ("invalid_request",)),
    ]
    for body, status, codes in cases:
        r = admin.patch(url, json=body)
        if isinstance(status, tuple):
            assert r.status_code in status, (body, r.text)
        else:
            assert r.status_code == status, (body, r.text)
        assert r.json()["error"]["code"] in codes, (body, r.text)
        assert admin.get(url).json() == before.json(), f"{body} changed the record"
    r = admin.patch(url, data=b"{oops", headers={"Content-Type": "application/json"})
    error_of(r, 400, "invalid_json")
    assert admin.get(url).json() == before.json()


@pytest.mark.parametrize("body,status", [
    ({"field": "email"}, (400,)),
    ({"value": "x"}, (400,)),
    ({"field": "email", "value": "a@example.fr", "limit": 0}, (400, 422)),
    ({"field": "email", "value": "a@example.fr", "limit": 101}, (400, 422)),
    ({"field": "email", "value": "a@example.fr", "limit": "10"}, (400, 422)),
    ({"field": "email", "value": "a@example.fr", "extra": True}, (400,)),
    ({"field": "nosuch", "value": "x"}, (400, 422)),
    ({"field": "first_name", "value": "Jean"}, (400, 422)),   # not searchable
    ({"field": "email", "value": "not-an-email"}, (422,)),
    ({"field": "email", "value": ["a"]}, (400, 422)),
])
def test_bad_search_is_refused(seeded, body, status):
    c = seeded.vault.client("support", "support")
    try:
        r = c.post(SEARCH, json=body)
        assert r.status_code in status, r.text
        error_of(r, r.status_code)
    finally:
        c.close()


@pytest.mark.parametrize("path", [
    f"{PEOPLE}/xyz", f"{PEOPLE}/{'A' * 32}", f"{PEOPLE}/{'0' * 31}", f"{PEOPLE}/{'0' * 33}",
    f"{PEOPLE}/{'g' * 32}",
])
def test_bad_ids_are_400(seeded, admin, path):
    error_of(admin.get(path), 400, "invalid_request")


@pytest.mark.parametrize("query", [
    "limit=abc", "limit=0", "limit=-1", "from=yesterday", "to=2026-13-01T00:00:00Z",
    "subject=xyz", "principal=NOT%20A%20NAME", "unknown=1",
])
def test_bad_audit_query_is_400(seeded, query):
    c = seeded.vault.client("auditor", "investigation")
    try:
        error_of(c.get(f"/v1/audit?{query}"), 400, "invalid_request")
    finally:
        c.close()


# -- body size ---------------------------------------------------------------------------------

def _auth_headers(seeded, extra):
    h = {"Authorization": f"Bearer {seeded.vault.key('admin')}", "X-Coffre-Purpose": "admin",
         "Content-Type": "application/json"}
    h.update(extra)
    return h


def _big_body(p, size):
    body = json.dumps({"fields": p, "padding": ""}).encode()
    return body[:-2] + b"x" * (size - len(body)) + b'"}'


def test_body_over_1_mib_is_413(seeded):
    v = seeded.vault
    p = person(seeded, 3)
    body = _big_body(p, MIB + 1)
    head = rawhttp.request_head("POST", PEOPLE, _auth_headers(
        seeded, {"Content-Length": str(len(body))}), v.port)
    chunks = [body[i:i + 65536] for i in range(0, len(body), 65536)]
    status, headers, resp = rawhttp.exchange(v.port, v.cert, head, chunks, wait_after_head=2.0)
    assert status == 413, resp[:300]
    assert json.loads(resp)["error"]["code"] == "payload_too_large"
    assert stored(seeded, p) == []
    assert v.running()


def test_chunked_body_over_1_mib_is_refused(seeded):
    v = seeded.vault
    p = person(seeded, 3)
    body = _big_body(p, MIB + 4096)
    head = rawhttp.request_head("POST", PEOPLE, _auth_headers(
        seeded, {"Transfer-Encoding": "chunked"}), v.port)
    chunks = [b"%x\r\n%s\r\n" % (len(body[i:i + 65536]), body[i:i + 65536])
              for i in range(0, len(body), 65536)] + [b"0\r\n\r\n"]
    try:
        status, _, resp = rawhttp.exchange(v.port, v.cert, head, chunks)
        assert status == 413, resp[:300]
        assert json.loads(resp)["error"]["code"] == "payload_too_large"
    except rawhttp.NoResponse:
        pass  # closing on a body it will not read is acceptable; storing it is not
    assert stored(seeded, p) == []
    assert v.running()


def test_body_of_exactly_1_mib_is_read(seeded, admin):
    """The limit is 1 MiB: a body of exactly that size is parsed (and refused
    for its unknown key, not for its size)."""
    p = person(seeded, 3)
    r = admin.post(PEOPLE, data=_big_body(p, MIB), headers={"Content-Type": "application/json"})
    check_refused(seeded, r, 400, "invalid_request", p, names=("padding",))


# -- malformed HTTP ------------------------------------------------------------------------------

RAW_REQUESTS = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET / HTTP/9.9\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 70000 + b"\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n12345",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
    b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
    b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
]


@pytest.mark.parametrize("raw", RAW_REQUESTS, ids=range(len(RAW_REQUESTS)))
def test_malformed_http_never_5xx(seeded, raw):
    v = seeded.vault
    try:
        status, _, _ = rawhttp.exchange(v.port, v.cert, raw, timeout=10)
        assert status < 500, status
    except rawhttp.NoResponse:
        pass  # closing the connection is a fine answer to garbage
    assert v.running()


# -- fuzz ------------------------------------------------------------------------------------------

def _random_json(rng, depth=0):
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2 ** 63, -2 ** 63 - 1, 10 ** 30, 1.5e308, -0.0, 7])
    if kind == 3:
        return "".join(rng.choice("aé€\u0000\"\\/\n\ud7ff\U0001F600<>x@.+0123456789 ")
                       for _ in range(rng.randrange(0, 40)))
    if kind == 4:
        return "x" * rng.choice([0, 1, 255, 4096, 70000])
    if kind == 5:
        return rng.choice(["", "a@example.fr", "184127645108946", "FR76", "+33612345678",
                           "2026-11-22", "A001"])
    if kind == 6:
        return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    keys = ["fields", "subject", "field", "value", "limit", "name", "password", "totp", "email",
            "nir", "phone", "iban", "agency", "sex", "first_name", "x", "", "__proto__"]
    return {rng.choice(keys): _random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))}


def _mutate(rng, data: bytes):
    b = bytearray(data)
    for _ in range(rng.randrange(1, 6)):
        op = rng.randrange(4)
        pos = rng.randrange(len(b) + 1)
        if op == 0 and b:
            b[min(pos, len(b) - 1)] = rng.randrange(256)
        elif op == 1:
            b[pos:pos] = bytes([rng.choice(b'{}[]",:\\0aeE-+.')])
        elif op == 2 and b:
            del b[min(pos, len(b) - 1)]
        else:
            b[pos:pos] = b[:rng.randrange(0, 20)]
    return bytes(b)


def _fuzz_body(rng, seeded):
    choice = rng.randrange(6)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
    if choice == 1:
        depth = rng.choice([10, 100, 1000, 100000])
        return b"[" * depth + b"]" * depth
    if choice == 2:
        return b'{"fields":{' + b",".join(b'"k%d":1' % i for i in range(rng.choice([100, 5000])))\
            + b"}}"
    if choice == 3:
        return _mutate(rng, json.dumps({"fields": seeded.spare[4]}).encode())
    if choice == 4:
        return _mutate(rng, json.dumps({"field": "email", "value": "a@example.fr"}).encode())
    return json.dumps(_random_json(rng), ensure_ascii=rng.random() < 0.5).encode(
        "utf-8", "surrogatepass")


def _fuzz_path(rng, seeded):
    rid = seeded.refs[0]["id"]
    sid = seeded.refs[0]["subject"]
    paths = [PEOPLE, f"{PEOPLE}/{rid}", SEARCH, f"/v1/subjects/{sid}", "/v1/audit",
             "/v1/sessions", "/healthz", "/v1/openapi.json"]
    p = rng.choice(paths)
    r = rng.randrange(8)
    if r == 0:
        p += rng.choice(["/", "//", "/..", "/%2e%2e", "?", "?limit=%ff", "#x", "%00", "/x" * 50])
    elif r == 1:
        p = p.replace("people", rng.choice(["People", "peop%6ce", "", "..", "people/.."]))
    elif r == 2:
        p += "?" + "&".join(f"{rng.choice(['limit', 'from', 'to', 'subject', 'principal', 'x'])}="
                            f"{rng.choice(['', '1', '-1', 'abc', '%00', '9' * 30, 'é'])}"
                            for _ in range(rng.randrange(1, 5)))
    return p


def test_fuzz_never_5xx_and_the_server_stays_up(seeded):
    rng = random.Random(20261122)
    v = seeded.vault
    tokens = [v.key("admin"), v.key("support"), v.key("auditor")]
    purposes = ["admin", "support", "investigation", "", "x" * 300, "ADMIN", "admin\tx"]
    methods = ["GET", "POST", "PATCH", "DELETE", "PUT", "OPTIONS", "HEAD"]
    c = v.client()
    statuses = {}
    try:
        for i in range(300):
            headers = {"Authorization": f"Bearer {rng.choice(tokens)}",
                       "X-Coffre-Purpose": rng.choice(purposes)}
            if rng.random() < 0.2:
                headers["X-Coffre-On-Behalf-Of"] = rng.choice(["", "nobody", "a" * 200, "admin"])
            if rng.random() < 0.8:
                headers["Content-Type"] = rng.choice(
                    ["application/json", "text/plain", "application/json; charset=latin1", ""])
            method = rng.choice(methods)
            path = _fuzz_path(rng, seeded)
            body = _fuzz_body(rng, seeded) if method in ("POST", "PATCH", "PUT") or \
                rng.random() < 0.1 else None
            r = c.request(method, path, data=body, headers=headers)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, f"request {i}: {method} {path} -> {r.status_code} {r.text[:200]}"
            if r.status_code >= 400 and method != "HEAD":
                error_of(r, r.status_code)
    finally:
        c.close()
    assert v.running()
    hc = v.client()
    try:
        assert hc.get("/healthz").json() == {"status": "ok"}
    finally:
        hc.close()
    assert len(statuses) > 3, statuses  # the fuzz reached several answers, not one wall
