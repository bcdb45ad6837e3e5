"""Drill of issue 13 item 2 ("nothing deleted comes back"), against the real
server and CLI: personal data is deleted by each path a vault has, an older
copy of the data directory (taken before the deletions) is restored over it,
keeping the key file and the erasure journal, and every deleted item stays
gone:

- a record deleted over the API (DELETE /v1/collections/{c}/records/{id});
- a record deleted by the retention sweeper (`coffre retention run`);
- a card deleted over the API (DELETE /v1/cards/{token});
- a card made irreversible by `complete` (its number gone);
- a card whose expiry month ended (its number gone, by the sweep);
- an expired card whose evidence retention ended, deleted by `cards sweep`.

After the restore the audit log is older than its anchor: commands refuse
it, and the refusal names `coffre audit reanchor` (issue 13 item 9).

The vault is examples/card-site.toml plus a `visits` collection deleted 30
days after its last write; card evidences are kept 1 month
(`--card-evidence-months 1`). Card numbers are computed (Luhn), never real;
people come from `coffre gen`.
"""
import calendar
import shutil
import time

import pytest

from conftest import EXIT_INTEGRITY, REPO, Vault, error_of, luhn_complete, stop_checked, wait_for

SCHEMA = REPO / "examples" / "card-site.toml"
POLICY = REPO / "examples" / "card-site-policy.toml"
CARDS = "/v1/cards"
CUSTOMERS = "/v1/collections/customers/records"
VISITS = "/v1/collections/visits/records"

VISITS_SCHEMA = """
[collections.visits]
fields = [ { name = "note", type = "text", required = true } ]
[collections.visits.retention]
delete_after = "30d"
"""
VISITS_POLICY = """
[roles.admin.collections.visits]
actions  = ["create", "read"]
purposes = ["admin"]
fields   = { "*" = "clear" }
"""


def month_start(year, month):
    """Unix seconds of the first instant (UTC) of (year, month); month may exceed 12."""
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return calendar.timegm((year, month, 1, 0, 0, 0, 0, 0, 0))


def expiry_in(unix, months_ahead):
    """MM/YY of the month `months_ahead` after the one of `unix`."""
    t = time.gmtime(unix)
    m = t.tm_mon - 1 + months_ahead
    return f"{m % 12 + 1:02d}/{(t.tm_year + m // 12) % 100:02d}"


@pytest.fixture(scope="module")
def vault(coffre_bin, vault_root):
    v = Vault(coffre_bin, vault_root)
    schema = vault_root / "card-site-visits.toml"
    schema.write_text(SCHEMA.read_text() + VISITS_SCHEMA)
    policy = vault_root / "card-site-visits-policy.toml"
    policy.write_text(POLICY.read_text() + VISITS_POLICY)
    v.cli("init", v.dir, "--schema", schema, "--policy", policy, "--card-evidence-months", "1")
    for name, role in (("pay", "payment"), ("admin", "admin")):
        v.add_principal(name, "service", role)
    yield v
    if v.running():
        stop_checked(v)


def test_nothing_deleted_comes_back_after_restoring_an_older_copy(vault):
    v = vault
    people = v.gen(3, 131, v.root / "people.ndjson")
    v.start()
    admin = v.client("admin", "admin")
    pay = v.client("pay", "payment")
    try:
        def customer(p):
            fields = {k: p[k] for k in ("first_name", "last_name", "email")}
            r = admin.post(CUSTOMERS, json={"fields": fields})
            assert r.status_code == 201, r.text
            return r.json()

        def card(seed, expiry, **extra):
            pan = luhn_complete("497010" + f"{seed:09d}")
            r = pay.post(CARDS, json={"pan": pan, "expiry": expiry, **extra})
            assert r.status_code == 201, r.text
            return r.json(), pan

        deleted_customer = customer(people[0])
        kept_customer = customer(people[1])
        r = admin.post(VISITS, json={"fields": {"note": "visite du 3 mars"}})
        assert r.status_code == 201, r.text
        visit = r.json()
        now = v.now()
        deleted_card, _ = card(314159261, expiry_in(now, 36))
        completed_card, completed_pan = card(314159262, expiry_in(now, 36))
        expiring_card, expiring_pan = card(314159263, expiry_in(now, 2))  # number gone at month+3
        swept_card, _ = card(314159264, expiry_in(now, 0))  # evidence gone at month+2
        kept_card, kept_pan = card(314159265, expiry_in(now, 36))
    finally:
        admin.close()
        pay.close()
    stop_checked(v)

    # The older copy, taken with the vault closed (a consistent copy).
    backup = v.root / "older-copy"
    shutil.copytree(v.dir, backup)

    # Delete by every path.
    v.start()
    admin = v.client("admin", "admin")
    pay = v.client("pay", "payment")
    try:
        assert admin.delete(f"{CUSTOMERS}/{deleted_customer['id']}").status_code == 204
        assert admin.delete(f"{CARDS}/{deleted_card['token']}").status_code == 204
        r = pay.post(f"{CARDS}/{completed_card['token']}/complete")
        assert r.status_code == 200 and r.json()["state"] == "evidence", r.text
        # Three months on: the visit is past its 30 days, the expiring card
        # past its month, the swept card's evidence past its month.
        t = time.gmtime(v.now())
        v.set_clock(month_start(t.tm_year, t.tm_mon + 3) + 86400 - time.time())
        out = v.last_json(v.cli("retention", "run", v.dir))
        assert out.get("deleted", 0) >= 1, out
        v.cli("cards", "sweep", v.dir)
        wait_for(lambda: pay.get(f"{CARDS}/{swept_card['token']}").status_code == 404, "the evidence sweep")
        # Each is gone before the restore.
        error_of(admin.get(f"{CUSTOMERS}/{deleted_customer['id']}"), 404, "not_found")
        error_of(admin.get(f"{VISITS}/{visit['id']}"), 404, "not_found")
        error_of(pay.get(f"{CARDS}/{deleted_card['token']}"), 404, "not_found")
        for c in (completed_card, expiring_card):
            got = pay.get(f"{CARDS}/{c['token']}").json()
            assert got["state"] == "evidence", got
    finally:
        admin.close()
        pay.close()
    stop_checked(v)

    # Restore the older copy over DIR; the key file and the erasure journal
    # (kept apart from the data backups) stay as they are.
    shutil.rmtree(v.dir)
    shutil.copytree(backup, v.dir)
    refused = v.cli("get", v.dir, "customers", kept_customer["id"], check=False)
    assert refused.returncode == EXIT_INTEGRITY, refused.stderr
    assert "coffre audit reanchor" in refused.stderr, (
        "the refusal after a restore must name the command that fixes it: " + refused.stderr[-500:])
    v.cli("audit", "reanchor", v.dir)

    v.start()
    admin = v.client("admin", "admin")
    pay = v.client("pay", "payment")
    try:
        error_of(admin.get(f"{CUSTOMERS}/{deleted_customer['id']}"), 404, "not_found")
        error_of(admin.get(f"{VISITS}/{visit['id']}"), 404, "not_found")
        error_of(pay.get(f"{CARDS}/{deleted_card['token']}"), 404, "not_found")
        error_of(pay.get(f"{CARDS}/{swept_card['token']}"), 404, "not_found")
        for c, pan in ((completed_card, completed_pan), (expiring_card, expiring_pan)):
            r = pay.get(f"{CARDS}/{c['token']}")
            assert r.status_code in (200, 404), r.text
            assert pan not in r.text, "a card number made irreversible came back with the older copy"
            if r.status_code == 200:
                assert r.json()["state"] == "evidence", r.text
        # What was not deleted is still there.
        r = admin.get(f"{CUSTOMERS}/{kept_customer['id']}")
        assert r.status_code == 200, r.text
        r = pay.get(f"{CARDS}/{kept_card['token']}")
        assert r.status_code == 200 and r.json()["pan"] == kept_pan, r.text
    finally:
        admin.close()
        pay.close()
    stop_checked(v)
