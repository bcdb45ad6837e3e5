"""Drill of incident 1 (the card list behind a URL), against the real server
with an injected clock, on examples/card-site.toml and
examples/card-site-policy.toml:

- a card sent with a security code (CVV, CVC, cryptogram: at the top,
  nested, differently cased, or a lone 3-digit value beside the number) is
  refused with 422 and nothing is stored or logged; so is a record of any
  collection carrying one;
- the support agent (and the admin) see only the masked number; the payment
  role with the payment purpose sees it in clear;
- after `complete` no role, not even payment, gets the number back, and the
  same card is still recognised; a card saved at the holder's request
  keeps its number;
- after its expiry month the number is gone and the evidence (hash, last 4,
  expiry) stays until evidence_months later, then goes too;
- erasing the customer erases their cards;
- no URL lists cards, and no card route answers without authentication.

Card numbers are computed (Luhn), never real.
"""
import calendar
import json
import secrets
import time
from pathlib import Path

import pytest

from conftest import REPO, Client, Vault, error_of, luhn_complete, stop_checked, wait_for

SCHEMA = REPO / "examples" / "card-site.toml"
POLICY = REPO / "examples" / "card-site-policy.toml"
CARDS = "/v1/cards"
CUSTOMERS = "/v1/collections/customers/records"
WALLETS = "/v1/collections/wallets/records"
CVV = "582"  # the security code sent with refused requests

# The card site plus a collection with a `pan` field, to drill the generic
# records routes ("pan fields in other collections follow the same rules").
WALLETS_SCHEMA = """
[collections.wallets]
fields = [
  { name = "label", type = "text", required = true, unique = true },
  { name = "pan",   type = "pan",  required = true },
  { name = "note",  type = "text" },
]
"""
WALLETS_POLICY = """
[roles.admin.collections.wallets]
actions  = ["create", "read", "search"]
purposes = ["admin"]
fields   = { "*" = "clear" }

[roles.payment.collections.wallets]
actions  = ["read"]
purposes = ["payment"]
fields   = { "*" = "clear", pan = "clear" }
"""


def new_pan(prefix="497010"):
    return luhn_complete(prefix + "".join(secrets.choice("0123456789") for _ in range(15 - len(prefix))))


def masked(pan):
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


def month_start(year, month):
    """Unix seconds of the first instant (UTC) of (year, month); month may exceed 12."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))


def expiry_of(unix, years_ahead=0):
    t = time.gmtime(unix)
    return f"{t.tm_mon:02d}/{(t.tm_year + years_ahead) % 100:02d}"


class Site:
    def __init__(self, vault, customers):
        self.vault = vault
        self.customers = customers  # [{"id", "subject", "fields"}]
        self.pans = []              # every number sent, refused or stored
        self.clients = {}

    def client(self, name, purpose):
        key = (name, purpose)
        if key not in self.clients:
            self.clients[key] = self.vault.client(name, purpose)
        return self.clients[key]

    def close_clients(self):
        for c in self.clients.values():
            c.close()
        self.clients = {}

    def pan(self, prefix="497010"):
        p = new_pan(prefix)
        self.pans.append(p)
        return p

    def create(self, pan, expiry=None, **extra):
        body = {"pan": pan, "expiry": expiry or expiry_of(self.vault.now(), 3), **extra}
        r = self.client("pay", "payment").post(CARDS, json=body)
        assert r.status_code == 201, r.text
        return r.json()

    def get(self, token, who=("pay", "payment")):
        return self.client(*who).get(f"{CARDS}/{token}")


@pytest.fixture(scope="module")
def site(coffre_bin, vault_root):
    v = Vault(coffre_bin, vault_root)
    schema = vault_root / "card-site-wallets.toml"
    schema.write_text(SCHEMA.read_text() + WALLETS_SCHEMA)
    policy = vault_root / "card-site-wallets-policy.toml"
    policy.write_text(POLICY.read_text() + WALLETS_POLICY)
    v.init(schema=schema, policy=policy)
    for name, role in (("agent", "support_agent"), ("pay", "payment"), ("admin", "admin"),
                       ("auditor", "auditor")):
        v.add_principal(name, "service", role)
    people = v.gen(4, 77, vault_root / "people.ndjson")
    v.start()
    admin = v.client("admin", "admin")
    customers = []
    try:
        for p in people:
            fields = {k: p[k] for k in ("first_name", "last_name", "email", "phone", "postal_address")}
            r = admin.post(CUSTOMERS, json={"fields": fields})
            assert r.status_code == 201, r.text
            customers.append({**r.json(), "fields": fields})
    finally:
        admin.close()
    s = Site(v, customers)
    yield s
    s.close_clients()
    stop_checked(v)


def data_bytes(v):
    out = b""
    for f in sorted(Path(v.dir).rglob("*")):
        if f.is_file() and f.name != "admin.sock":
            out += f.read_bytes()
    return out


def audit_entries(site):
    r = site.client("auditor", "investigation").get("/v1/audit?limit=1000")
    assert r.status_code == 200, r.text
    return r.json()["entries"]


# ---------------------------------------------------------------------------
# Security codes


def refused_bodies(new_pan, expiry):
    """Each case with its own card number."""
    def card(**extra):
        return {"pan": new_pan(), "expiry": expiry, **extra}
    return {
        "cvv": card(cvv=CVV),
        "CVV2 upper case": card(CVV2=CVV),
        "Card-Cvc spelling": card(**{"Card-Cvc": int(CVV)}),
        "cryptogramme": card(cryptogrammeVisuel=CVV),
        "nested": card(extra={"card": {"security_code": CVV}}),
        "in an array": card(extra=[{"CID": CVV}]),
        "lone 3 digits": card(code=CVV),
        "lone integer": card(x=int(CVV)),
    }


def test_a_card_sent_with_a_security_code_is_refused_and_nothing_is_kept(site):
    v = site.vault
    expiry = expiry_of(v.now(), 3)
    refused = []
    for who in (("pay", "payment"), ("agent", "support"), ("admin", "admin")):
        for what, body in refused_bodies(site.pan, expiry).items():
            r = site.client(*who).post(CARDS, json=body)
            msg = error_of(r, 422, "invalid_value")
            assert "security code" in msg or "lone 3- or 4-digit" in msg, (what, msg)
            assert CVV not in msg and body["pan"] not in msg and body["pan"][-4:] not in msg, what
            assert "nothing was stored" in msg, msg
            refused.append(body["pan"])
    # Nested inside the card itself, with the real key cased oddly: same.
    pan = site.pan()
    r = site.client("pay", "payment").post(
        CARDS, data=json.dumps({"PAN": pan, "Expiry": expiry, "cVv": CVV}),
        headers={"Content-Type": "application/json"})
    error_of(r, 422, "invalid_value")
    refused.append(pan)

    # Nothing was stored: the vault does not recognise any of these numbers
    # (a card sent again without the code is new to it), ...
    for pan in refused[:4]:
        made = site.create(pan)
        assert made["known"] is False, "a refused card was stored"
        assert site.create(pan)["known"] is True  # the recogniser works
    # ... and neither the number nor the code reached the files or the log.
    stored = data_bytes(v)
    log = v.log_text()
    audit = json.dumps(audit_entries(site))
    for pan in refused:
        for form in (pan, pan[:6] + " " + pan[6:], pan[6:]):
            assert form.encode() not in stored, "a refused card number is in the data directory"
            assert form not in log and form not in audit, "a refused card number was logged"
    for needle in (f'"cvv":"{CVV}"', f'"cvv": "{CVV}"', f'"code": "{CVV}"', "cryptogrammeVisuel", "Card-Cvc",
                   "CVV2"):
        assert needle.encode() not in stored, needle
        assert needle not in log and needle not in audit, needle
    # The refusals are audited, by rule, never by value.
    hits = [e for e in json.loads(audit) if e["reason"] == "invalid_value: security_code"]
    assert len(hits) >= len(refused), len(hits)


def test_a_record_of_any_collection_carrying_a_security_code_is_refused(site):
    admin = site.client("admin", "admin")
    cust = site.customers[0]
    pan = site.pan()
    fresh = dict(cust["fields"], email="fresh." + cust["fields"]["email"])
    before = admin.get(f"{CUSTOMERS}/{cust['id']}")
    assert before.status_code == 200, before.text
    cases = [
        ("POST", CUSTOMERS, {"fields": {**fresh, "cvv": CVV}}),
        ("POST", CUSTOMERS, {"fields": fresh, "card": {"pan": pan, "CVC": CVV}}),
        ("PATCH", f"{CUSTOMERS}/{cust['id']}", {"fields": {"phone": None, "Cryptogramme": CVV}}),
        ("POST", WALLETS, {"fields": {"label": "w-refused", "pan": pan, "note": CVV}}),
        ("POST", WALLETS, {"fields": {"label": "w-refused", "pan": pan, "note": {"cvv2": 1}}}),
        ("PATCH", f"{CUSTOMERS}/{cust['id']}", {"fields": {"last_name": "X"}, "meta": {"pan": pan, "n": CVV}}),
    ]
    for method, path, body in cases:
        r = admin.request(method, path, json=body)
        msg = error_of(r, 422, "invalid_value")
        assert "security code" in msg or "lone 3- or 4-digit" in msg, (path, msg)
        assert CVV not in msg and pan not in msg
    # Nothing stored: the customer is unchanged, no fresh customer, no wallet.
    r = admin.get(f"{CUSTOMERS}/{cust['id']}")
    assert r.status_code == 200 and r.json() == before.json(), "a refused update changed the record"
    r = admin.post("/v1/collections/customers/search", json={"field": "email", "value": fresh["email"]})
    assert r.status_code == 200 and r.json()["results"] == [], r.text
    r = admin.post("/v1/collections/wallets/search", json={"field": "label", "value": "w-refused"})
    assert r.status_code == 200 and r.json()["results"] == [], r.text
    # Without the code, the same requests go through; a pan field is masked
    # for every role but payment (ADR 0010).
    r = admin.post(WALLETS, json={"fields": {"label": "w-ok", "pan": pan, "note": "perso"}})
    assert r.status_code == 201, r.text
    wid = r.json()["id"]
    r = admin.get(f"{WALLETS}/{wid}")
    assert r.status_code == 200 and r.json()["fields"]["pan"] != pan and pan not in r.text, r.text
    r = site.client("pay", "payment").get(f"{WALLETS}/{wid}")
    assert r.status_code == 200 and r.json()["fields"]["pan"] == pan, r.text


# ---------------------------------------------------------------------------
# Views


def test_every_role_sees_the_number_masked_but_payment(site):
    cust = site.customers[1]
    pan = site.pan("535110")
    made = site.create(pan, holder="Jeanne Martin", subject=cust["subject"])
    token = made["token"]
    assert token.startswith("ct_") and token.endswith(pan[-4:]) and pan not in token
    assert made["state"] == "active" and made["known"] is False

    for who in (("agent", "support"), ("admin", "admin")):
        r = site.get(token, who)
        assert r.status_code == 200, r.text
        card = r.json()
        assert card["view"] == "masked" and card["pan"] == masked(pan), card
        assert pan not in r.text and pan[6:12] not in r.text and "Jeanne Martin" not in r.text
    r = site.get(token)
    assert r.status_code == 200, r.text
    assert r.json()["view"] == "clear" and r.json()["pan"] == pan and r.json()["holder"] == "Jeanne Martin"

    # The payment role under another purpose, or any other role asking for
    # the payment purpose, is refused (its grant names no such purpose).
    r = site.client("pay", "support").get(f"{CARDS}/{token}")
    error_of(r, 403, "forbidden")
    assert pan not in r.text
    r = site.client("agent", "payment").get(f"{CARDS}/{token}")
    error_of(r, 403, "forbidden")
    # The agent cannot complete or delete it either.
    error_of(site.client("agent", "support").post(f"{CARDS}/{token}/complete"), 403)
    error_of(site.client("agent", "support").delete(f"{CARDS}/{token}"), 403)

    # Every access is logged with the card's id, the view and the subject,
    # never the number nor the token.
    entries = audit_entries(site)
    reads = [e for e in entries if e["record_id"] == made["id"] and e["action"] == "card.read"]
    views = {(e["principal"], tuple((f["name"], f["view"]) for f in e["fields"])) for e in reads}
    assert views >= {("agent", (("pan", "masked"),)), ("admin", (("pan", "masked"),)),
                     ("pay", (("pan", "clear"),))}, views
    assert all(e["subjects"] == [cust["subject"]] and e["outcome"] == "allowed" for e in reads)
    denied = {e["principal"] for e in entries if e["action"].startswith("card.") and e["outcome"] == "denied"}
    assert denied >= {"pay", "agent"}, denied
    text = json.dumps(entries)
    assert pan not in text and token not in text and token[3:30] not in text


# ---------------------------------------------------------------------------
# Complete


def test_after_complete_no_role_gets_the_number_and_the_card_is_still_recognised(site):
    pan = site.pan("455673")
    made = site.create(pan, holder="Paul Durand")
    token = made["token"]
    r = site.client("pay", "payment").post(f"{CARDS}/{token}/complete")
    assert r.status_code == 200, r.text
    done = r.json()
    assert done["state"] == "evidence" and done["pan"] == "****" + pan[-4:] and done["completed_at"]
    assert done["number_until"] is None

    for who in (("pay", "payment"), ("agent", "support"), ("admin", "admin")):
        r = site.get(token, who)
        assert r.status_code == 200, r.text
        card = r.json()
        assert card["state"] == "evidence" and card["view"] == "masked", card
        assert card["pan"] == "****" + pan[-4:] and "holder" not in card, card
        assert pan not in r.text and pan[:6] not in r.text
    # Twice is refused; the same card is recognised (keyed hash).
    error_of(site.client("pay", "payment").post(f"{CARDS}/{token}/complete"), 409, "failed_precondition")
    again = site.create(pan)
    assert again["known"] is True and again["token"] != token
    assert site.create(site.pan())["known"] is False


def test_only_a_caller_seeing_numbers_in_clear_learns_whether_one_is_known(site):
    # The admin may create cards but sees numbers masked (first 6, last 4):
    # a "known" answer would let it try the ~10^5 numbers left until one is
    # known. It gets no "known" at all, for a known number or a new one.
    admin = site.client("admin", "admin")
    pan = site.pan("455673")
    first = site.create(pan)
    assert first["known"] is False
    for number in (pan, site.pan("455673")):
        r = admin.post(CARDS, json={"pan": number, "expiry": expiry_of(site.vault.now(), 3)})
        assert r.status_code == 201, r.text
        made = r.json()
        assert "known" not in made, made
        assert made["token"].endswith(number[-4:]) and made["state"] == "active"
        assert admin.delete(f"{CARDS}/{made['token']}").status_code == 204
    # The payment role with the payment purpose still learns it.
    again = site.create(pan)
    assert again["known"] is True
    assert admin.delete(f"{CARDS}/{again['token']}").status_code == 204


def test_a_saved_card_keeps_its_number_after_complete(site):
    pan = site.pan("401288")
    made = site.create(pan, save=True)
    assert made["state"] == "saved" and made["save"] is True
    r = site.client("pay", "payment").post(f"{CARDS}/{made['token']}/complete")
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "saved"
    card = site.get(made["token"]).json()
    assert card["pan"] == pan and card["view"] == "clear" and card["completed_at"], card
    assert site.get(made["token"], ("agent", "support")).json()["pan"] == masked(pan)


# ---------------------------------------------------------------------------
# No listing, no access without authentication


def test_no_url_lists_cards(site):
    made = site.create(site.pan())
    token, pan = made["token"], site.pans[-1]
    paths = [CARDS, CARDS + "/", CARDS + "?all=1", CARDS + "?limit=1000", f"{CARDS}/{token}/number",
             f"/v1/subjects/{site.customers[1]['subject']}/cards", "/v1/collections/cards/records",
             "/v1/collections/cards/search", "/cards", "/v1/cards.json"]
    for who in (("pay", "payment"), ("agent", "support"), ("admin", "admin"), ("auditor", "investigation")):
        for path in paths:
            r = site.client(*who).get(path)
            assert r.status_code in (400, 404, 405), (who, path, r.status_code)
            assert "ct_" not in r.text and pan not in r.text and pan[-4:] not in r.text, (who, path)
    anonymous = Client(site.vault.url, site.vault.cert, purpose="payment")
    try:
        for method, path, body in [("GET", f"{CARDS}/{token}", None), ("POST", CARDS, {"pan": pan, "expiry": "12/30"}),
                                   ("POST", f"{CARDS}/{token}/complete", None), ("DELETE", f"{CARDS}/{token}", None)] + \
                                  [("GET", p, None) for p in paths]:
            for auth in (None, "Bearer nope", "Bearer coffre_sk_" + "A" * 43):
                headers = {"Authorization": auth} if auth else {}
                r = anonymous.request(method, path, json=body, headers=headers)
                error_of(r, 401, "unauthenticated")
                assert "ct_" not in r.text and pan[-4:] not in r.text
    finally:
        anonymous.close()
    # The card is untouched by all that.
    assert site.get(token).json()["pan"] == pan


# ---------------------------------------------------------------------------
# Erasure


def test_erasing_the_customer_erases_their_cards(site):
    v = site.vault
    admin = site.client("admin", "admin")
    # Through the API.
    cust = site.customers[2]
    card = site.create(site.pan(), subject=cust["subject"])
    evidence = site.create(site.pan(), subject=cust["subject"])
    assert site.client("pay", "payment").post(f"{CARDS}/{evidence['token']}/complete").status_code == 200
    error_of(site.client("agent", "support").delete(f"/v1/subjects/{cust['subject']}"), 403)
    r = admin.delete(f"/v1/subjects/{cust['subject']}")
    assert r.status_code == 200, r.text
    assert r.json()["erased_records"] == 1 and r.json()["erased_cards"] == 2, r.json()
    for c in (card, evidence):
        error_of(site.get(c["token"]), 404, "not_found")
    # The number is forgotten: sent again, it is new.
    assert site.create(site.pans[-2])["known"] is False

    # Through the CLI (the server stopped: it owns the directory).
    cust = site.customers[3]
    card = site.create(site.pan(), subject=cust["subject"])
    site.close_clients()
    stop_checked(v)
    r = v.cli("erase-subject", v.dir, cust["subject"])
    out = v.last_json(r)
    assert out["erased_records"] == 1 and out["erased_cards"] == 1, out
    v.start()
    error_of(site.get(card["token"]), 404, "not_found")


# ---------------------------------------------------------------------------
# Expiry (last: it moves the clock a year and more ahead)


def test_after_its_expiry_month_the_card_is_gone_and_its_evidence_goes_later(site):
    v = site.vault
    now = time.gmtime(v.now())
    expiry = f"{now.tm_mon:02d}/{now.tm_year % 100:02d}"  # valid to the end of this month
    pan = site.pan("492181")
    card = site.create(pan, expiry=expiry)
    saved = site.create(site.pan(), expiry=expiry, save=True)
    later = site.create(site.pan(), expiry=expiry_of(v.now(), 3))
    end = month_start(now.tm_year, now.tm_mon + 1)
    evidence_end = month_start(now.tm_year, now.tm_mon + 1 + 13)  # default: 13 months
    assert card["number_until"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end)), card
    assert card["evidence_until"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(evidence_end)), card

    # The month ends: the server's sweep (it runs when the clock's month
    # changes) replaces the numbers, saved or not, by their evidence.
    v.set_clock(end + 3600 - time.time())
    wait_for(lambda: site.get(card["token"]).json().get("state") == "evidence", "the expiry sweep")
    for c in (card, saved):
        got = site.get(c["token"]).json()
        assert got["state"] == "evidence" and got["pan"] == "****" + c["last4"], got
    assert site.get(later["token"]).json()["state"] == "active"
    swept = [e for e in audit_entries(site)
             if e["action"] == "card.expire" and e["record_id"] in (card["id"], saved["id"])]
    assert {e["principal"] for e in swept} == {"coffre"} and len(swept) == 2, swept
    # The evidence still recognises the card.
    probe = site.create(pan)
    assert probe["known"] is True
    assert site.client("admin", "admin").delete(f"{CARDS}/{probe['token']}").status_code == 204

    # A day before the evidence's end, an explicit sweep keeps it...
    v.set_clock(evidence_end - 86400 - time.time())
    out = v.last_json(v.cli("cards", "sweep", v.dir))
    assert out["evidence_months"] == 13 and out["evidence_deleted"] == 0, out
    assert site.get(card["token"]).json()["state"] == "evidence"
    # ... after it, the evidence is gone too (the month changed: the server
    # sweeps; `coffre cards sweep` over the admin socket as well).
    v.set_clock(evidence_end + 3600 - time.time())
    out = v.last_json(v.cli("cards", "sweep", v.dir))
    assert out["evidence_months"] == 13, out
    wait_for(lambda: site.get(card["token"]).status_code == 404, "the evidence sweep")
    for c in (card, saved):
        error_of(site.get(c["token"]), 404, "not_found")
    assert site.get(later["token"]).json()["state"] == "active"
    assert site.create(pan)["known"] is False
    deleted = [e for e in audit_entries(site) if e["action"] == "card.evidence_delete"]
    assert {card["id"], saved["id"]} <= {e["record_id"] for e in deleted}
    # Nothing of the swept numbers in the server's log.
    log = v.log_text()
    for p in site.pans:
        assert p not in log
