"""The high-availability harness itself (patroni_cluster.py), before any
coffre runs on it: etcd and two PostgreSQL 15 under Patroni come up with a
leader and a synchronous standby; a commit acknowledged by the primary
survives kill -9 of its postmaster; Patroni promotes the standby, the old
primary comes back as a standby; a restart through Patroni keeps the data;
and nothing is left running or on disk afterwards, even when the process
driving the cluster dies without cleaning up.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from patroni_cluster import PatroniCluster, processes_of

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def cluster():
    c = PatroniCluster()
    try:
        c.start()
        yield c
    finally:
        root = c.root
        c.stop()
        assert processes_of(root) == [], "processes left after stop()"
        assert not root.exists() or c.keep


def test_cluster_is_synchronous_and_coffre_owns_only_its_database(cluster):
    state = cluster.cluster_state()
    roles = sorted(m["role"] for m in state["members"])
    assert roles == ["leader", "sync_standby"], state
    assert cluster.primary() is cluster.members[0]
    settings = dict(cluster.psql(
        "SELECT name, setting FROM pg_settings WHERE name IN "
        "('synchronous_standby_names', 'synchronous_commit', 'server_version_num')"))
    assert settings["synchronous_commit"] == "on", settings
    assert cluster.members[1].name in settings["synchronous_standby_names"], settings
    assert settings["server_version_num"].startswith("15"), settings
    [[superuser, createdb, createrole]] = cluster.psql(
        "SELECT rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = current_user")
    assert (superuser, createdb, createrole) == ("f", "f", "f")
    [[owner]] = cluster.psql("SELECT pg_get_userbyid(datdba) FROM pg_database "
                             "WHERE datname = current_database()")
    assert owner == "coffre"
    # The passfile is root's alone; the URL holds no password.
    assert oct(os.stat(cluster.passfile).st_mode & 0o777) == "0o600"
    assert cluster.coffre_password not in cluster.url
    # Everything of PostgreSQL runs as postgres, not root.
    for m in cluster.members:
        pid = m.postmaster_pid()
        assert pid and os.stat(f"/proc/{pid}").st_uid == cluster.uid


def test_acknowledged_commits_survive_kill9_of_the_primary_and_failover(cluster):
    cluster.psql("CREATE TABLE drill (v int PRIMARY KEY)")
    cluster.psql("INSERT INTO drill SELECT generate_series(1, 500)")
    old = cluster.primary()
    killed_at = time.monotonic()
    cluster.kill9_postmaster(old)
    new = cluster.wait_for_primary(other_than=old, timeout=60)
    promoted_in = time.monotonic() - killed_at
    print(f"\nfailover: {new.name} primary {promoted_in:.1f} s after kill -9 of {old.name}'s postmaster")
    assert promoted_in < 30
    # The multi-host URL finds the new primary by itself.
    cluster.psql("INSERT INTO drill SELECT generate_series(501, 600)")
    assert cluster.psql("SELECT count(*), min(v), max(v) FROM drill") == [["600", "1", "600"]]
    # The old primary comes back as the synchronous standby, with every row.
    cluster.wait_healthy(timeout=90)
    assert cluster.primary() is new
    [[count]] = cluster.psql("SELECT count(*) FROM drill", url=cluster.member_url(old))
    assert count == "600"


def test_restart_through_patroni_keeps_the_primary_and_the_data(cluster):
    primary = cluster.primary()
    before = primary.postmaster_pid()
    cluster.restart_postgres(primary)
    cluster.wait_healthy(timeout=90)
    assert cluster.primary() is primary
    assert primary.postmaster_pid() != before
    assert cluster.psql("SELECT count(*) FROM drill") == [["600"]]


def test_nothing_is_left_when_the_driver_dies_without_stopping(tmp_path):
    """A driver that starts etcd and a member then dies with os._exit: the
    watchdog kills what it left and removes its directory."""
    script = tmp_path / "driver.py"
    script.write_text(
        "import json, os, sys, time\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from patroni_cluster import PatroniCluster\n"
        "c = PatroniCluster()\n"
        "c._write_passfiles()\n"
        "c._start_etcd(time.monotonic() + 60)\n"
        "for m in c.members: c._write_member_config(m)\n"
        "c._chown_tree()\n"
        "c._start_member(c.members[0])\n"
        "c.wait_for_primary(timeout=90)\n"
        "print(json.dumps({'root': str(c.root), 'postmaster': c.members[0].postmaster_pid()}),"
        " flush=True)\n"
        "os._exit(3)\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=150,
                       env={k: v for k, v in os.environ.items() if k != "COFFRE_KEEP_TEST_DIRS"})
    assert r.returncode == 3, r.stderr[-2000:]
    left = json.loads(r.stdout.strip().splitlines()[-1])
    root = Path(left["root"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (root.exists() or processes_of(root)):
        time.sleep(0.25)
    assert processes_of(root) == [], "the watchdog left processes running"
    assert not root.exists(), "the watchdog left the directory"
    assert process_state(left["postmaster"]) in (None, "Z"), "the postmaster still runs"


def process_state(pid):
    """The state letter of /proc/PID/stat, or None when there is no such
    process (a zombie, "Z", is dead: its parent, here init, has not reaped it yet)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(b")") + 2:].split()[0].decode()


def test_example_configs_of_docs_cluster_are_valid(tmp_path):
    """docs/examples/haproxy.cfg passes `haproxy -c`; docs/examples/patroni.yml
    keeps what docs/cluster.md promises (synchronous replication, fail over
    rather than restart a crashed primary, pg_rewind)."""
    import yaml
    examples = HERE.parents[2] / "docs" / "examples"
    cert = tmp_path / "cert.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=coffre", "-days", "1",
                        "-keyout", str(tmp_path / "key.pem"), "-out", str(cert)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    cfg = (examples / "haproxy.cfg").read_text()
    assert "/etc/haproxy/coffre-cert.pem" in cfg
    checked = tmp_path / "haproxy.cfg"
    checked.write_text(cfg.replace("/etc/haproxy/coffre-cert.pem", str(cert)))
    r = subprocess.run(["/usr/sbin/haproxy", "-c", "-f", str(checked)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mode tcp" in cfg and "/readyz" in cfg

    patroni = yaml.safe_load((examples / "patroni.yml").read_text())
    dcs = patroni["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True and dcs["primary_start_timeout"] == 0
    assert dcs["loop_wait"] + 2 * dcs["retry_timeout"] <= dcs["ttl"]
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["parameters"]["wal_log_hints"] == "on"
    assert patroni["postgresql"]["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert any("coffre coffre" in line and "scram-sha-256" in line
               for line in patroni["postgresql"]["pg_hba"])
