"""The policy of examples/people-policy.toml, enforced by the real server:
roles x field views x row scope x purposes, delegation, suspension, and the
exact masked formats. Denials are 403 with a reason, never 404.
"""
import json

import pytest

from conftest import build_vault, error_of, expect_views, stop_checked, views_of

ABSENT = "0" * 31 + "1"
PEOPLE = "/v1/collections/people/records"

# The policy's views, per role, for `people` (examples/people-policy.toml).
VIEWS = {
    "admin": expect_views("clear"),
    "support_agent": expect_views("clear", email="masked", phone="masked", nir="masked",
                                  iban="none"),
    "adviser": expect_views("clear"),
    "crm_backend": expect_views("clear", nir="masked", iban="masked"),
}
# crm_backend on behalf of an adviser: the weaker view of the two, per field.
STRENGTH = {"none": 0, "masked": 1, "clear": 2}


def weaker(a, b):
    return {f: min(a[f], b[f], key=STRENGTH.get) for f in a}


def _pick(s):
    """Indexes of two imported people in different agencies."""
    a = 0
    b = next(i for i, p in enumerate(s.people) if p["agency"] != s.people[a]["agency"])
    s.ia, s.ib = a, b
    return [a, b]


def _principals(s):
    agency_a, agency_b = s.people[s.ia]["agency"], s.people[s.ib]["agency"]
    return [
        ("admin", "service", "admin", None),
        ("support", "service", "support_agent", None),
        ("adviser-a", "service", "adviser", {"agency": agency_a}),
        ("adviser-none", "service", "adviser", None),
        ("auditor", "service", "auditor", None),
        ("payment", "service", "payment", None),
        ("crm", "service", "crm_backend", None),
        ("user-a", "user", "adviser", {"agency": agency_a}),
        ("user-b", "user", "adviser", {"agency": agency_b}),
        ("user-support", "user", "support_agent", None),
        ("user-paused", "user", "adviser", {"agency": agency_a}),
        ("admin-paused", "service", "admin", None),
        ("dpo", "service", "dpo", None),
    ]


@pytest.fixture(scope="module")
def seeded(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=30, find=_pick, principals=_principals)
    s.vault.cli("principal", "suspend", s.vault.dir, "user-paused")
    s.vault.cli("principal", "suspend", s.vault.dir, "admin-paused")
    s.vault.start()
    yield s
    stop_checked(s.vault)


def rec(s, which):
    i = s.ia if which == "a" else s.ib
    return s.refs[i], s.people[i]


def read(s, principal, purpose, which="a", on_behalf_of=None):
    ref, _ = rec(s, which)
    c = s.vault.client(principal, purpose, on_behalf_of=on_behalf_of)
    try:
        return c.get(f"{PEOPLE}/{ref['id']}")
    finally:
        c.close()


def read_views(s, principal, purpose, which="a", on_behalf_of=None):
    r = read(s, principal, purpose, which, on_behalf_of)
    assert r.status_code == 200, r.text
    body = r.json()
    ref, person = rec(s, which)
    assert set(body) == {"id", "subject", "fields"}, body.keys()
    assert body["id"] == ref["id"] and body["subject"] == ref["subject"]
    return views_of(body["fields"], person)


# -- views ---------------------------------------------------------------------

@pytest.mark.parametrize("principal,role,purpose", [
    ("admin", "admin", "admin"),
    ("support", "support_agent", "support"),
    ("adviser-a", "adviser", "follow_up"),
])
def test_field_views_per_role(seeded, principal, role, purpose):
    assert read_views(seeded, principal, purpose) == VIEWS[role]


def test_masked_formats_are_exact(seeded):
    """Support sees e.g. j***@example.fr, +33 6 ** ** ** 01, 1 84 ** ** *** *** **."""
    r = read(seeded, "support", "support")
    assert r.status_code == 200, r.text
    fields = r.json()["fields"]
    _, person = rec(seeded, "a")
    local, _, domain = person["email"].lower().partition("@")
    assert fields["email"] == f"{local[0]}***@{domain}"
    digits = "".join(ch for ch in person["phone"] if ch.isdigit())
    assert fields["phone"].startswith("+33 ") and fields["phone"].endswith(" ** ** ** " + digits[-2:])
    assert fields["nir"] == f"{person['nir'][0]} {person['nir'][1:3]} ** ** *** *** **"
    assert "iban" not in fields
    # crm_backend masks the IBAN to its last four characters.
    r = read(seeded, "crm", "follow_up", on_behalf_of="user-a")
    assert r.status_code == 200, r.text
    iban = person["iban"].replace(" ", "")
    assert r.json()["fields"]["iban"] == "**** " + iban[-4:]


def test_search_shows_ids_only_and_respects_the_grant(seeded):
    _, person = rec(seeded, "a")
    ref, _ = rec(seeded, "a")
    body = {"field": "email", "value": person["email"].upper()}  # normalised before lookup
    c = seeded.vault.client("support", "support")
    try:
        r = c.post("/v1/collections/people/search", json=body)
        assert r.status_code == 200, r.text
        assert r.json() == {"results": [{"id": ref["id"], "subject": ref["subject"]}],
                            "truncated": False}
    finally:
        c.close()
    # Admin manages records but does not search; advisers only read.
    for principal, purpose in (("admin", "admin"), ("adviser-a", "follow_up")):
        c = seeded.vault.client(principal, purpose)
        try:
            msg = error_of(c.post("/v1/collections/people/search", json=body), 403, "forbidden")
            assert person["email"] not in msg
        finally:
            c.close()


# -- row scope -------------------------------------------------------------------

def test_adviser_reads_own_agency_only(seeded):
    assert read_views(seeded, "adviser-a", "follow_up", "a") == VIEWS["adviser"]
    r = read(seeded, "adviser-a", "follow_up", "b")
    msg = error_of(r, 403, "forbidden")
    assert "agency" in msg, msg
    _, other = rec(seeded, "b")
    assert other["agency"] not in msg and seeded.people[seeded.ia]["agency"] not in msg


def test_adviser_without_the_attribute_reads_nothing(seeded):
    for which in ("a", "b"):
        error_of(read(seeded, "adviser-none", "follow_up", which), 403, "forbidden")


def test_out_of_scope_subject_is_403(seeded):
    ref, _ = rec(seeded, "b")
    c = seeded.vault.client("adviser-a", "follow_up")
    try:
        error_of(c.get(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
    finally:
        c.close()


# -- purposes ----------------------------------------------------------------------

@pytest.mark.parametrize("principal,purpose", [
    ("adviser-a", None),                  # missing
    ("adviser-a", ""),                    # empty
    ("adviser-a", "zz-unheard-of-77"),    # unknown
    ("adviser-a", "support"),             # known, not the role's
    ("adviser-a", "admin"),
    ("support", "follow_up"),
    ("support", "investigation"),
    ("admin", "support"),
    ("auditor", "investigation"),         # the auditor reads the log, never records
    ("payment", "payment"),               # the payment service reads cards only
    ("payment", "support"),
    ("crm", "support"),
])
def test_wrong_purpose_or_role_is_403(seeded, principal, purpose):
    headers = {} if purpose is None else {"X-Coffre-Purpose": purpose}
    c = seeded.vault.client(principal)
    try:
        r = c.get(f"{PEOPLE}/{seeded.refs[seeded.ia]['id']}", headers=headers)
        msg = error_of(r, 403, "forbidden")
        assert "zz-unheard-of-77" not in msg, "an unknown purpose is echoed as the client spelled it"
        assert '"fields"' not in r.text
    finally:
        c.close()


@pytest.mark.parametrize("principal,purpose", [
    ("auditor", "investigation"), ("payment", "payment"), ("support", "admin"),
    ("adviser-a", "zz-unheard-of-77"),
])
def test_denied_caller_learns_nothing_about_the_record(seeded, principal, purpose):
    """A denial for a real record and for an absent one are the same 403."""
    c = seeded.vault.client(principal, purpose)
    try:
        real = c.get(f"{PEOPLE}/{seeded.refs[seeded.ia]['id']}")
        absent = c.get(f"{PEOPLE}/{ABSENT}")
        error_of(real, 403)
        error_of(absent, 403)
        assert real.json() == absent.json()
    finally:
        c.close()


def test_allowed_read_of_absent_record_is_404(seeded):
    c = seeded.vault.client("admin", "admin")
    try:
        error_of(c.get(f"{PEOPLE}/{ABSENT}"), 404, "not_found")
        # An unknown collection: denied (no grant) or not found, never more.
        r = c.get(f"/v1/collections/nosuch/records/{ABSENT}")
        assert r.status_code in (403, 404), r.text
        error_of(r, r.status_code)
    finally:
        c.close()


# -- writes ------------------------------------------------------------------------

def test_admin_create_update_delete(seeded):
    person = dict(seeded.spare[0])
    c = seeded.vault.client("admin", "admin")
    try:
        r = c.post(PEOPLE, json={"fields": person})
        assert r.status_code == 201, r.text
        ref = r.json()
        assert set(ref) == {"id", "subject"}
        r = c.get(f"{PEOPLE}/{ref['id']}")
        assert r.status_code == 200 and views_of(r.json()["fields"], person) == VIEWS["admin"]
        new_email = "changed.address.%s@example.fr" % ref["id"][:8]
        r = c.patch(f"{PEOPLE}/{ref['id']}", json={"fields": {"email": new_email}})
        assert r.status_code == 200, r.text
        assert r.json()["fields"]["email"] == new_email
        assert r.json()["fields"]["nir"] == person["nir"]
        r = c.delete(f"{PEOPLE}/{ref['id']}")
        assert r.status_code == 204, r.text
        assert r.content == b""
        error_of(c.get(f"{PEOPLE}/{ref['id']}"), 404, "not_found")
    finally:
        c.close()


@pytest.mark.parametrize("principal,purpose", [
    ("support", "support"), ("adviser-a", "follow_up"), ("crm", "follow_up"),
    ("auditor", "investigation"), ("payment", "payment"),
])
def test_only_admin_writes(seeded, principal, purpose):
    ref, person = rec(seeded, "a")
    c = seeded.vault.client(principal, purpose)
    try:
        error_of(c.post(PEOPLE, json={"fields": seeded.spare[1]}), 403, "forbidden")
        error_of(c.patch(f"{PEOPLE}/{ref['id']}", json={"fields": {"sex": "F"}}), 403, "forbidden")
        error_of(c.delete(f"{PEOPLE}/{ref['id']}"), 403, "forbidden")
        error_of(c.delete(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
    finally:
        c.close()
    # Nothing changed.
    assert read_views(seeded, "admin", "admin") == VIEWS["admin"]
    sc = seeded.vault.client("support", "support")
    try:
        r = sc.post("/v1/collections/people/search",
                    json={"field": "email", "value": seeded.spare[1]["email"]})
        assert r.status_code == 200 and r.json()["results"] == [], r.text
    finally:
        sc.close()


def test_admin_erases_a_subject(seeded):
    person = seeded.spare[2]
    c = seeded.vault.client("admin", "admin")
    try:
        r = c.post(PEOPLE, json={"fields": person})
        assert r.status_code == 201, r.text
        ref = r.json()
        r = c.delete(f"/v1/subjects/{ref['subject']}")
        assert r.status_code == 200, r.text
        assert r.json() == {"subject": ref["subject"], "erased_records": 1, "erased_cards": 0}
        error_of(c.get(f"{PEOPLE}/{ref['id']}"), 404, "not_found")
    finally:
        c.close()


# -- audit resource ------------------------------------------------------------------

@pytest.mark.parametrize("principal,purpose,status", [
    ("auditor", "investigation", 200),
    ("auditor", "support", 403),
    ("auditor", None, 403),
    ("support", "support", 403),
    ("admin", "admin", 403),
    ("adviser-a", "follow_up", 403),
])
def test_audit_log_is_for_auditors(seeded, principal, purpose, status):
    c = seeded.vault.client(principal, purpose)
    try:
        r = c.get("/v1/audit?limit=5")
        if status == 200:
            assert r.status_code == 200, r.text
            assert isinstance(r.json()["entries"], list)
        else:
            error_of(r, 403, "forbidden")
    finally:
        c.close()


# -- delegation ------------------------------------------------------------------------

def test_delegation_gets_the_intersection_and_the_users_scope(seeded):
    expected = weaker(VIEWS["crm_backend"], VIEWS["adviser"])
    assert read_views(seeded, "crm", "follow_up", "a", on_behalf_of="user-a") == expected
    # user-a's agency is a: b is out of scope.
    msg = error_of(read(seeded, "crm", "follow_up", "b", on_behalf_of="user-a"), 403, "forbidden")
    assert "agency" in msg
    assert read_views(seeded, "crm", "follow_up", "b", on_behalf_of="user-b") == expected
    # The adviser cannot search, so neither can crm on its behalf.
    c = seeded.vault.client("crm", "follow_up", on_behalf_of="user-a")
    try:
        error_of(c.post("/v1/collections/people/search",
                        json={"field": "email", "value": seeded.people[seeded.ia]["email"]}),
                 403, "forbidden")
    finally:
        c.close()


def test_required_delegation_refuses_the_service_alone(seeded):
    """Issue 13: crm_backend left out X-Coffre-On-Behalf-Of and read people
    of every agency in clear. Its role says delegation = "required": alone,
    it reads, searches and exports nothing, whatever the agency."""
    c = seeded.vault.client("crm", "follow_up")
    try:
        for i in (seeded.ia, seeded.ib):
            ref = seeded.refs[i]
            r = c.get(f"{PEOPLE}/{ref['id']}")
            msg = error_of(r, 403, "forbidden")
            assert "X-Coffre-On-Behalf-Of" in msg, msg
            assert '"fields"' not in r.text
            error_of(c.get(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
        person = seeded.people[seeded.ib]
        r = c.post("/v1/collections/people/search", json={"field": "email", "value": person["email"]})
        error_of(r, 403, "forbidden")
        assert seeded.refs[seeded.ib]["id"] not in r.text
    finally:
        c.close()
    # On behalf of the adviser of that agency, it works as before.
    assert read(seeded, "crm", "follow_up", "b", on_behalf_of="user-b").status_code == 200


def test_delegation_needs_both_to_allow_the_purpose(seeded):
    # The support agent has no follow_up purpose: the intersection is empty.
    error_of(read(seeded, "crm", "follow_up", "a", on_behalf_of="user-support"), 403, "forbidden")


@pytest.mark.parametrize("user", ["nobody-here", "admin", "support", "crm", "UPPER", "a b", ""])
def test_unknown_or_non_user_on_behalf_of_is_refused(seeded, user):
    # An empty header too: refused as a bad user, or as absent (crm never
    # reads alone, delegation = "required").
    error_of(read(seeded, "crm", "follow_up", "a", on_behalf_of=user), 403, "forbidden")


def test_suspended_on_behalf_of_user_is_refused(seeded):
    error_of(read(seeded, "crm", "follow_up", "a", on_behalf_of="user-paused"), 403, "suspended")


@pytest.mark.parametrize("principal,purpose", [
    ("adviser-a", "follow_up"), ("support", "support"), ("admin", "admin"),
])
def test_non_delegating_role_sending_the_header_is_refused(seeded, principal, purpose):
    error_of(read(seeded, principal, purpose, "a", on_behalf_of="user-a"), 403, "forbidden")


# -- suspension and management while serving ----------------------------------------------

def test_suspended_service_is_refused_everywhere(seeded):
    c = seeded.vault.client("admin-paused", "admin")
    try:
        error_of(c.get(f"{PEOPLE}/{seeded.refs[seeded.ia]['id']}"), 403, "suspended")
        error_of(c.get("/v1/openapi.json"), 403, "suspended")
    finally:
        c.close()


def test_principals_managed_while_serving(seeded):
    v = seeded.vault
    v.add_principal("late-support", "service", "support_agent")  # over DIR/admin.sock
    c = v.client("late-support", "support")
    try:
        ref = seeded.refs[seeded.ia]
        assert c.get(f"{PEOPLE}/{ref['id']}").status_code == 200
        v.cli("principal", "suspend", v.dir, "late-support")
        error_of(c.get(f"{PEOPLE}/{ref['id']}"), 403, "suspended")
        v.cli("principal", "resume", v.dir, "late-support")
        assert c.get(f"{PEOPLE}/{ref['id']}").status_code == 200
        listed = [line for line in v.cli("principal", "list", v.dir).stdout.splitlines() if line]
        names = {json.loads(line)["name"]: json.loads(line) for line in listed}
        assert names["late-support"]["suspended"] is False
        assert names["user-paused"]["suspended"] is True
        assert names["adviser-a"]["attrs"] == {"agency": seeded.people[seeded.ia]["agency"]}
        assert all("api_key" not in p for p in names.values())
        v.cli("principal", "remove", v.dir, "late-support")
        error_of(c.get(f"{PEOPLE}/{ref['id']}"), 401, "unauthenticated")
    finally:
        c.close()


def test_unknown_role_is_refused_at_add(seeded):
    r = seeded.vault.cli("principal", "add", seeded.vault.dir, "ghost", "--kind", "service",
                         "--role", "no_such_role", check=False)
    assert r.returncode == 2, (r.returncode, r.stderr)


# -- subject access requests and membership tests (issue 13) ---------------------------

def test_the_dpo_answers_a_subject_access_request(seeded):
    """No shipped role could answer GET /v1/subjects/{s}. The dpo finds the
    person who wrote in, exports them in clear, and learns who read their
    data, when and why (GDPR art. 15(1)(c))."""
    ref, person = rec(seeded, "a")
    assert read(seeded, "support", "support").status_code == 200
    dpo = seeded.vault.client("dpo", "subject_access")
    try:
        r = dpo.post("/v1/collections/people/search", json={"field": "email", "value": person["email"]})
        assert r.status_code == 200, r.text
        assert [hit["subject"] for hit in r.json()["results"]] == [ref["subject"]]
        r = dpo.get(f"/v1/subjects/{ref['subject']}")
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["subject"] == ref["subject"]
        assert [x["id"] for x in body["records"]] == [ref["id"]]
        assert views_of(body["records"][0]["fields"], person) == expect_views("clear")
        reads = [a for a in body["accesses"] if a["principal"] == "support"]
        assert reads, body["accesses"]
        assert reads[-1]["purpose"] == "support" and reads[-1]["action"] == "read"
        assert reads[-1]["on_behalf_of"] is None and "email" in reads[-1]["fields"]
        assert reads[-1]["time"].endswith("Z")
        assert body["accesses_truncated"] is False
        # The dpo reads no single record and erases nothing.
        error_of(dpo.get(f"{PEOPLE}/{ref['id']}"), 403, "forbidden")
        error_of(dpo.delete(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
    finally:
        dpo.close()
    # For no other purpose; and no other role exports a person.
    for principal, purpose in (("dpo", "support"), ("dpo", "investigation"), ("admin", "admin"),
                               ("support", "support"), ("adviser-a", "follow_up"), ("crm", "follow_up"),
                               ("auditor", "investigation")):
        c = seeded.vault.client(principal, purpose)
        try:
            error_of(c.get(f"/v1/subjects/{ref['subject']}"), 403, "forbidden")
        finally:
            c.close()


def test_a_unique_clash_is_audited_as_an_exposure_of_the_holder(seeded):
    """A role without `search` (admin) learnt from 409 versus 201 whether a
    person is in the vault, with no quota and nothing in the audit log
    about whom. The clash now names the holder, and counts in the quotas."""
    ref, person = rec(seeded, "b")
    probe = dict(seeded.spare[3])
    probe["email"] = person["email"]
    c = seeded.vault.client("admin", "admin")
    try:
        r = c.post(PEOPLE, json={"fields": probe})
        error_of(r, 409, "already_exists")
        assert person["email"] not in r.text and ref["subject"] not in r.text
    finally:
        c.close()
    auditor = seeded.vault.client("auditor", "investigation")
    try:
        r = auditor.get("/v1/audit", params={"principal": "admin", "subject": ref["subject"]})
        assert r.status_code == 200, r.text
        clashes = [e for e in r.json()["entries"] if e["action"] == "create"]
        assert len(clashes) == 1, r.json()["entries"]
        assert clashes[0]["outcome"] == "error" and clashes[0]["reason"] == "already_exists"
        assert clashes[0]["subjects"] == [ref["subject"]]
    finally:
        auditor.close()
