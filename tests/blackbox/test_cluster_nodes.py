"""Cluster nodes (docs/adr/0040-cluster-nodes.md), black box: a PostgreSQL of
the test's own (pgserver.py), `coffre init DIR --store URL` and `coffre join`,
two `coffre serve` processes on one vault in it, real HTTPS clients.

The password of the database role sits in a 0600 passfile (PGPASSFILE), never
in a URL: a URL holding one is refused, and not echoed.
"""
import json
import os
import shutil
import subprocess

import pytest

from conftest import (EXIT_DENIED, EXIT_EXISTS, EXIT_INVALID, EXIT_NOT_FOUND, POLICY, SCHEMA,
                      Vault, stop_checked)
from pgserver import PgServer

PEOPLE = "/v1/collections/people/records"
# audit-anchor.chains: the other nodes' chains as this node last anchored them
# (docs/audit-cluster.md).
LOCAL_STATE = {"audit-anchor", "audit-anchor.chains", "cluster.toml", "node.lock", "tls",
               "tls/cert.pem"}


@pytest.fixture(scope="module")
def pg():
    server = PgServer()
    try:
        server.start()
    except Exception:
        server.close()
        raise
    old = os.environ.get("PGPASSFILE")
    os.environ["PGPASSFILE"] = server.passfile   # children inherit it (child_env)
    yield server
    if old is None:
        os.environ.pop("PGPASSFILE", None)
    else:
        os.environ["PGPASSFILE"] = old
    server.close()


def files_of(directory):
    out = set()
    for base, dirs, files in os.walk(directory):
        for name in dirs + files:
            out.add(os.path.relpath(os.path.join(base, name), directory))
    return out


class Cluster:
    def __init__(self, pg, root, node1, node2, init_out, join_out):
        self.pg = pg
        self.root = root
        self.node1 = node1
        self.node2 = node2
        self.init_out = init_out
        self.join_out = join_out


@pytest.fixture(scope="module")
def cluster(pg, coffre_bin, vault_root):
    node1 = Vault(coffre_bin, vault_root, "node1")
    r = node1.cli("init", node1.dir, "--store", pg.url, "--schema", SCHEMA, "--policy", POLICY,
                  "--key-file", node1.key_file)
    init_out = Vault.last_json(r)
    # The second machine gets a copy of the master key (or reaches the same
    # PKCS#11 token), as an operator would give it.
    node2 = Vault(coffre_bin, vault_root, "node2")
    shutil.copyfile(node1.key_file, node2.key_file)
    os.chmod(node2.key_file, 0o600)
    r = node2.cli("join", node2.dir, "--store", pg.url, "--key-file", node2.key_file)
    join_out = Vault.last_json(r)
    node1.add_principal("admin", "service", "admin")
    node2.principals = node1.principals
    c = Cluster(pg, vault_root, node1, node2, init_out, join_out)
    yield c
    for node in (node1, node2):
        if node.running():
            node.stop()


def test_nodes_hold_only_local_state_and_the_vault_is_in_postgresql(cluster, pg):
    for node in (cluster.node1, cluster.node2):
        assert files_of(node.dir) == LOCAL_STATE, sorted(files_of(node.dir))
        text = (node.dir / "cluster.toml").read_text()
        assert pg.url in text and pg.password not in text
        assert oct(os.stat(node.dir / "cluster.toml").st_mode & 0o777) == "0o600"
    assert cluster.init_out["store"] == pg.url
    assert cluster.init_out["vault_id"] == cluster.join_out["vault_id"]
    assert cluster.init_out["node_id"] != cluster.join_out["node_id"]
    assert (cluster.node1.dir / "tls" / "cert.pem").read_bytes() == \
        (cluster.node2.dir / "tls" / "cert.pem").read_bytes()
    # The vault's rows are in the database, in coffre's tables.
    assert int(pg.sql("SELECT count(*) FROM coffre_meta")) > 0


def test_two_nodes_serve_one_vault(cluster):
    a, b = cluster.node1, cluster.node2
    a.start()
    b.start()
    people = a.gen(4, 1616, cluster.root / "cluster-people.ndjson")
    ca, cb = a.client("admin", "admin"), b.client("admin", "admin")
    try:
        made_on_a = ca.post(PEOPLE, json={"fields": people[0]})
        assert made_on_a.status_code == 201, made_on_a.text
        ref = made_on_a.json()
        got = cb.get(f"{PEOPLE}/{ref['id']}")
        assert got.status_code == 200, got.text
        assert got.json()["subject"] == ref["subject"]
        assert got.json()["fields"]["email"] == people[0]["email"]

        made_on_b = cb.post(PEOPLE, json={"fields": people[1]})
        assert made_on_b.status_code == 201, made_on_b.text
        got = ca.get(f"{PEOPLE}/{made_on_b.json()['id']}")
        assert got.status_code == 200, got.text

        # A unique email taken on one node is taken on the other.
        again = dict(people[2], email=people[0]["email"])
        dup = cb.post(PEOPLE, json={"fields": again})
        assert dup.status_code == 409, dup.text

        # A local command on a serving node runs in that node's server (its
        # admin socket) and sees what the other node wrote.
        r = b.cli("get", b.dir, "people", ref["id"])
        assert json.loads(r.stdout.splitlines()[-1])["subject"] == ref["subject"]
    finally:
        ca.close()
        cb.close()


def test_one_process_at_a_time_serves_a_node(cluster):
    a = cluster.node1
    assert a.running()
    r = subprocess.run([str(a.bin), "serve", str(a.dir), "--listen", "127.0.0.1:0"],
                       capture_output=True, text=True, timeout=60, env=dict(os.environ),
                       stdin=subprocess.DEVNULL)
    assert r.returncode != 0
    assert "in use by another coffre process" in r.stderr, r.stderr[-1000:]
    stop_checked(cluster.node2)
    stop_checked(a)


def test_init_refuses_a_database_that_holds_a_vault(cluster, pg):
    node3 = Vault(cluster.node1.bin, cluster.root, "node3")
    r = node3.cli("init", node3.dir, "--store", pg.url, "--schema", SCHEMA,
                  "--key-file", node3.key_file, check=False)
    assert r.returncode == EXIT_EXISTS, r.stderr
    assert "coffre join" in r.stderr
    assert not node3.dir.exists() and not node3.key_file.exists()
    assert not (cluster.root / "node3.erasures").exists()


def test_join_with_a_wrong_key_exits_5_and_leaves_nothing(cluster, pg):
    node3 = Vault(cluster.node1.bin, cluster.root, "node3")
    other = Vault(cluster.node1.bin, cluster.root, "other")   # another vault's master key
    other.init()
    wrong = other.key_file
    r = node3.cli("join", node3.dir, "--store", pg.url, "--key-file", wrong, check=False)
    assert r.returncode == EXIT_DENIED, r.stderr
    assert "does not open this vault" in r.stderr
    assert not node3.dir.exists()
    assert not (cluster.root / "node3.erasures").exists()


def test_join_refuses_a_database_without_a_vault(cluster, pg):
    empty = pg.new_database("no_vault")
    node3 = Vault(cluster.node1.bin, cluster.root, "node3")
    r = node3.cli("join", node3.dir, "--store", empty, "--key-file", cluster.node1.key_file,
                  check=False)
    assert r.returncode == EXIT_NOT_FOUND, r.stderr
    assert "coffre init" in r.stderr
    assert not node3.dir.exists()


def test_a_password_in_the_url_is_refused_and_not_echoed(cluster, pg):
    # The role's real password: the URL would work, and is refused anyway.
    with_password = pg.url.replace("coffre@", f"coffre:{pg.password}@", 1)
    as_parameter = f"{pg.url}?password={pg.password}"
    node3 = Vault(cluster.node1.bin, cluster.root, "node3")
    for url in (with_password, as_parameter):
        for args in (["init", node3.dir, "--store", url, "--schema", SCHEMA,
                      "--key-file", node3.key_file],
                     ["join", node3.dir, "--store", url, "--key-file", cluster.node1.key_file]):
            r = node3.cli(*args, check=False)
            assert r.returncode == EXIT_INVALID, (args[0], r.stderr)
            assert "password" in r.stderr
            assert pg.password not in r.stderr and pg.password not in r.stdout
            assert not node3.dir.exists() and not node3.key_file.exists()


def test_file_commands_refuse_on_a_node_naming_the_alternative(cluster):
    a = cluster.node1
    r = a.cli("backup", a.dir, cluster.root / "node1-backup", check=False)
    assert r.returncode != 0
    assert "pg_basebackup" in r.stderr, r.stderr
    assert not (cluster.root / "node1-backup").exists()


def test_every_node_opens_again_after_both_served(cluster):
    # Both nodes stopped: each opens the vault again as itself (its lock,
    # its anchor, its erasure journal), and reads what the other wrote.
    a, b = cluster.node1, cluster.node2
    assert not a.running() and not b.running()
    for node in (a, b):
        r = node.cli("principal", "list", node.dir)
        assert any(json.loads(line)["name"] == "admin" for line in r.stdout.splitlines()
                   if line.strip())


def test_two_inits_at_once_make_one_vault(cluster, pg):
    """Two `init --store` racing on one empty database: one vault, whose own
    key still opens it (the loser wrote nothing: no second keyring or key
    check over the winner's)."""
    url = pg.new_database("race")
    nodes = [Vault(cluster.node1.bin, cluster.root, f"race{i}") for i in (1, 2)]
    procs = [subprocess.Popen([str(n.bin), "init", str(n.dir), "--store", url, "--schema",
                               str(SCHEMA), "--key-file", str(n.key_file)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ), cwd=cluster.root) for n in nodes]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    for p in procs:
        p.stdout.close()
        p.stderr.close()
    winners = [n for n, (rc, _) in zip(nodes, results) if rc == 0]
    assert len(winners) == 1, results
    loser_rc, loser_err = next(r for r in results if r[0] != 0)
    assert loser_rc in (EXIT_EXISTS, 1), loser_err
    loser = next(n for n in nodes if n is not winners[0])
    assert not loser.dir.exists() and not loser.key_file.exists()
    r = winners[0].cli("principal", "list", winners[0].dir)
    assert r.returncode == 0
    assert pg.sql("SELECT count(*) FROM coffre_meta WHERE k = 'format'::bytea", database="race") \
        == "1"
