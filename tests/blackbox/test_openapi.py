"""The OpenAPI document the server serves (GET /v1/openapi.json, built from
api/openapi.yaml) against the routes the server answers.

- Every route of the families added for issue 5 (cards,
  credentials, legal holds and the archive) is documented with exactly the
  methods its handler claims.
- For every documented path, the server answers exactly the documented
  methods: any other method is 405, a documented one is neither 404 nor 405,
  and an operation documented with X-Coffre-Purpose is refused without one
  (so nothing runs: these probes send no purpose and no body).
"""
import re

import pytest

from conftest import build_vault, error_of, stop_checked

METHODS = ("get", "put", "post", "patch", "delete")

# The issue-5 route families, as src/api/routes.cc routes them (kRoutes; the
# C++ side of this check is src/api/routes_test.cc).
ISSUE5_ROUTES = {
    "/v1/cards": {"post"},
    "/v1/cards/{token}": {"get", "delete"},
    "/v1/cards/{token}/complete": {"post"},
    "/v1/credentials/{user}": {"get", "put"},
    "/v1/credentials/{user}/verify": {"post"},
    "/v1/credentials/{user}/reset": {"post"},
    "/v1/subjects/{subject}/hold": {"get", "put", "delete"},
    "/v1/archive/{collection}/{id}": {"get"},
}

# A value for each path parameter of the document; routes match on segments
# only, so well-formed values are enough (no probe gets past the purpose).
SAMPLE = {
    "collection": "people",
    "id": "0" * 31 + "1",
    "subject": "0" * 31 + "2",
    "token": "ct_" + "0" * 44,
    "user": "u-openapi-1",
}


@pytest.fixture(scope="module")
def served(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=2,
                    principals=[("admin", "service", "admin", None)])
    s.vault.start()
    c = s.vault.client("admin")
    try:
        r = c.get("/v1/openapi.json")
        assert r.status_code == 200, r.text
        doc = r.json()
    finally:
        c.close()
    yield s, doc
    stop_checked(s.vault)


def documented_methods(item):
    return {m for m in METHODS if m in item}


def resolve(doc, ref_or_param):
    ref = ref_or_param.get("$ref")
    if ref is None:
        return ref_or_param
    node = doc
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def needs_purpose(doc, item, op):
    params = [resolve(doc, p) for p in item.get("parameters", []) + op.get("parameters", [])]
    return any(p.get("in") == "header" and p.get("name") == "X-Coffre-Purpose" and p.get("required")
               for p in params)


def test_issue5_routes_are_documented_with_their_methods(served):
    _, doc = served
    paths = doc["paths"]
    missing = sorted(set(ISSUE5_ROUTES) - set(paths))
    assert not missing, f"routes the server answers but the document lacks: {missing}"
    for path, methods in ISSUE5_ROUTES.items():
        assert documented_methods(paths[path]) == methods, path
        for m in methods:
            op = paths[path][m]
            assert op["tags"][0] in ("cards", "credentials", "retention"), (path, m)
            assert needs_purpose(doc, paths[path], op), (path, m)
            assert any(code.startswith("4") for code in op["responses"]), (path, m)


def test_the_server_answers_exactly_the_documented_methods(served):
    s, doc = served
    c = s.vault.client("admin")  # a credential, no purpose
    try:
        for template, item in doc["paths"].items():
            names = re.findall(r"\{(\w+)\}", template)
            unknown = [n for n in names if n not in SAMPLE]
            assert not unknown, f"{template}: add a sample value for {unknown}"
            path = template
            for n in names:
                path = path.replace("{" + n + "}", SAMPLE[n])
            documented = documented_methods(item)
            assert documented, template
            for m in METHODS:
                r = c.request(m.upper(), path)
                where = f"{m.upper()} {path}"
                if m not in documented:
                    error_of(r, 405, "method_not_allowed")
                    allow = {x.strip().lower() for x in r.headers.get("Allow", "").split(",")}
                    assert allow - {"head"} == set(documented), f"{where}: Allow {r.headers.get('Allow')}"
                    continue
                assert r.status_code not in (404, 405), f"{where}: {r.status_code} {r.text[:200]}"
                if needs_purpose(doc, item, item[m]):
                    assert "X-Coffre-Purpose" in error_of(r, 403, "forbidden"), where
    finally:
        c.close()


def test_the_documented_card_token_example_is_a_token(served):
    s, doc = served
    example = doc["components"]["schemas"]["CardToken"]["example"]
    assert re.fullmatch(doc["components"]["schemas"]["CardToken"]["pattern"], example)
    c = s.vault.client("admin", purpose="admin")
    try:
        # Well formed (a malformed token is 400), and no such card here.
        assert "card" in error_of(c.get(f"/v1/cards/{example}"), 404, "not_found")
        error_of(c.get("/v1/cards/ct_" + "1" * 44), 400, "invalid_request")
    finally:
        c.close()
