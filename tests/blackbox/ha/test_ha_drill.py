"""The high-availability drill of issue 16 (docs/cluster.md), with real
processes on loopback: etcd, two PostgreSQL 15 under Patroni with synchronous
replication (patroni_cluster.py), and two `coffre serve` nodes of one vault
(`coffre init --store` on one, `coffre join` on the other) whose store URL
lists both PostgreSQL hosts with target_session_attrs=read-write.

Under a steady write load on both nodes:
(1) kill -9 of the primary's postmaster: Patroni promotes the standby, the
    nodes reconnect by themselves;
(2) a restart of the primary PostgreSQL through Patroni;
(3) kill -9 of one coffre node: the other keeps serving.
After each: every write that got a 2xx is readable (through the other node
than the one that took it), no answer other than 2xx, 4xx and 503 was given,
and the time with 503 answers is measured and printed. At the end
`coffre audit verify` passes on every node.

Every person is generated (`coffre gen`).
"""
import concurrent.futures
import os
import shutil
import signal
import threading
import time

import pytest
import requests

from conftest import POLICY, SCHEMA, Vault, canonical
from patroni_cluster import PatroniCluster

PEOPLE = "/v1/collections/people/records"
WRITERS_PER_NODE = 2
WRITE_TIMEOUT = 20       # seconds, one write (a failover takes a few)
ACKS_BEFORE_FAULT = 15   # per node, before a fault is injected
ACKS_AFTER_FAULT = 15    # per serving node, after the cluster is back
FAULT_DEADLINE = 90      # seconds for the writes to come back after a fault

LOADER_ROLE = """
[roles.loader]
description = "HA drill writer and reader"

[roles.loader.collections.people]
actions  = ["create", "read"]
purposes = ["admin"]
fields   = { "*" = "clear" }
"""


class Node(Vault):
    """One `coffre serve` of the cluster vault: DIR is ROOT/node, its log
    ROOT/server.log (conftest's Vault, one scratch root per node)."""

    def __init__(self, binary, root, name):
        root.mkdir(parents=True)
        super().__init__(binary, root, "node")
        self.name = name

    def kill9(self):
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        if self._stdout_thread:
            self._stdout_thread.join(5)   # it ends at the pipe's end of file
        proc.stdout.close()
        self.url = None


class Outcome:
    __slots__ = ("node", "start", "end", "status", "ref", "person")

    def __init__(self, node, start, end, status, ref, person):
        self.node, self.start, self.end = node, start, end
        self.status, self.ref, self.person = status, ref, person


class Load:
    """Writers on every node, creating a new generated person per request
    (never retried: a 503 may hide a commit whose outcome the node could not
    know, and a retry of the same unique email would then answer 409).
    Every outcome is kept: the HTTP status, or the exception's name when
    there was no answer."""

    def __init__(self, nodes, people):
        self.nodes = nodes
        self.people = iter(people)
        self.lock = threading.Lock()
        self.outcomes = []
        self.stopping = threading.Event()
        self.threads = []

    def _next_person(self):
        with self.lock:
            return next(self.people, None)

    def _writer(self, node):
        client = node.client("loader", "admin")
        try:
            while not self.stopping.is_set() and node.running():
                person = self._next_person()
                if person is None:
                    return
                start = time.monotonic()
                try:
                    r = client.post(PEOPLE, json={"fields": person}, timeout=WRITE_TIMEOUT)
                    status = r.status_code
                    ref = r.json() if 200 <= status < 300 else None
                except (requests.RequestException, ValueError) as e:
                    status, ref = type(e).__name__, None
                with self.lock:
                    self.outcomes.append(Outcome(node.name, start, time.monotonic(), status, ref, person))
                if not isinstance(status, int):
                    time.sleep(0.05)   # no answer: do not spin
        finally:
            client.close()

    def start(self):
        for node in self.nodes:
            for _ in range(WRITERS_PER_NODE):
                t = threading.Thread(target=self._writer, args=(node,), daemon=True)
                t.start()
                self.threads.append(t)
        return self

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(WRITE_TIMEOUT + 10)
            assert not t.is_alive(), "a writer did not stop"

    def snapshot(self):
        with self.lock:
            return list(self.outcomes)

    def acked(self, node=None, after=None):
        return [o for o in self.snapshot() if isinstance(o.status, int) and 200 <= o.status < 300
                and (node is None or o.node == node) and (after is None or o.start > after)]

    def wait_acked(self, count, nodes, after=None, timeout=FAULT_DEADLINE, what=""):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(len(self.acked(n, after)) >= count for n in nodes):
                return time.monotonic()
            time.sleep(0.1)
        counts = {n: len(self.acked(n, after)) for n in nodes}
        statuses = sorted({str(o.status) for o in self.snapshot()})
        raise AssertionError(f"{what}: {count} acknowledged writes per node not reached within "
                             f"{timeout} s: {counts}; statuses seen: {statuses}")


def unavailability(outcomes, since):
    """Per node: the 503s and the window they span (first 503 request sent to
    last 503 answer received), in seconds after `since`."""
    report = {}
    for node in sorted({o.node for o in outcomes}):
        mine = [o for o in outcomes if o.node == node]
        refused = [o for o in mine if o.status == 503]
        back = [o for o in mine if isinstance(o.status, int) and 200 <= o.status < 300
                and o.start > max([since] + [o.end for o in refused])]
        report[node] = {
            "writes": len(mine),
            "acked": sum(1 for o in mine if isinstance(o.status, int) and 200 <= o.status < 300),
            "503": len(refused),
            "window_s": round(max(o.end for o in refused) - min(o.start for o in refused), 2)
            if refused else 0.0,
            "first_503_after_s": round(min(o.start for o in refused) - since, 2) if refused else None,
            "writes_back_after_s": round(min(o.end for o in back) - since, 2) if back else None,
        }
    return report


def check_answers(outcomes, allow_no_answer=()):
    """Only 2xx, 4xx and 503 were answered; requests without an answer only
    on the nodes in `allow_no_answer` (a node killed on purpose)."""
    bad = [(o.node, o.status) for o in outcomes
           if not (isinstance(o.status, int) and (200 <= o.status < 300 or 400 <= o.status < 500
                                                   or o.status == 503))
           and not (not isinstance(o.status, int) and o.node in allow_no_answer)]
    assert bad == [], f"answers other than 2xx, 4xx and 503: {sorted(set(bad))[:20]} ({len(bad)})"


def check_readable(outcomes, readers):
    """Every acknowledged write is there, with its fields, read through
    another node than the one that took it (when there is one)."""
    acked = [o for o in outcomes if isinstance(o.status, int) and 200 <= o.status < 300]

    def read(o):
        reader = next((r for r in readers if r.name != o.node), readers[0])
        client = reader.client("loader", "admin")
        try:
            r = client.get(f"{PEOPLE}/{o.ref['id']}")
        finally:
            client.close()
        if r.status_code != 200:
            return (o.node, o.ref["id"], r.status_code)
        if r.json()["fields"].get("email") != canonical(o.person)["email"]:
            return (o.node, o.ref["id"], "other fields")
        return None

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        missing = [m for m in pool.map(read, acked) if m]
    assert missing == [], f"{len(missing)} of {len(acked)} acknowledged writes unreadable: {missing[:10]}"
    return len(acked)


@pytest.fixture(scope="module")
def ha(coffre_bin):
    cluster = PatroniCluster()
    nodes = []
    saved = os.environ.get("PGPASSFILE")
    try:
        cluster.start()
        os.environ["PGPASSFILE"] = str(cluster.passfile)   # coffre's children inherit it
        root = cluster.root / "coffre"
        n1 = Node(coffre_bin, root / "n1", "node1")
        n2 = Node(coffre_bin, root / "n2", "node2")
        nodes += [n1, n2]
        policy = root / "policy.toml"
        policy.write_text(POLICY.read_text(encoding="utf-8") + LOADER_ROLE, encoding="utf-8")
        # Each node keeps the master key at its default place, DIR.key: a
        # copy for node2, as an operator would install it.
        n1.cli("init", n1.dir, "--store", cluster.url, "--schema", SCHEMA, "--policy", policy,
               "--key-file", n1.key_file)
        shutil.copyfile(n1.key_file, n2.key_file)
        n2.key_file.chmod(0o600)
        n2.cli("join", n2.dir, "--store", cluster.url, "--key-file", n2.key_file)
        n1.add_principal("loader", "service", "loader")
        n2.principals = n1.principals
        people = n1.gen(12000, 1606, root / "people.ndjson")
        for n in nodes:
            n.start()
        yield cluster, nodes, people
    finally:
        for n in nodes:
            if n.running():
                n.stop()   # test_4 checks a clean stop; here, only stop
        if saved is None:
            os.environ.pop("PGPASSFILE", None)
        else:
            os.environ["PGPASSFILE"] = saved
        cluster.stop()


@pytest.fixture(scope="module")
def people_source(ha):
    """One iterator over the generated people, shared by the drills (a
    unique email is never sent twice)."""
    return iter(ha[2])


def run_fault(ha, people_source, fault, what, serving=None, allow_no_answer=()):
    """Load on both nodes; `fault()` once each node has acknowledged writes;
    load until every node in `serving` has acknowledged writes sent after the
    fault's effects were over; returns (outcomes, fault time, report)."""
    cluster, nodes, _ = ha
    serving = serving or [n.name for n in nodes]
    load = Load(nodes, people_source).start()
    try:
        load.wait_acked(ACKS_BEFORE_FAULT, [n.name for n in nodes], what=f"{what}, before")
        at = time.monotonic()
        fault()
        recovered = time.monotonic()
        load.wait_acked(ACKS_AFTER_FAULT, serving, after=recovered, what=f"{what}, after")
    finally:
        load.stop()
    outcomes = load.snapshot()
    report = unavailability(outcomes, at)
    print(f"\n{what}: fault handled in {recovered - at:.1f} s; per node: {report}")
    check_answers(outcomes, allow_no_answer)
    readers = [n for n in nodes if n.running()]
    checked = check_readable(outcomes, readers)
    print(f"{what}: {checked} acknowledged writes read back")
    return outcomes, at, report


def test_1_kill9_of_the_primary_postmaster_under_load(ha, people_source):
    cluster, _, _ = ha
    old = cluster.primary()
    assert old is not None

    def fault():
        cluster.kill9_postmaster(old)
        cluster.wait_for_primary(other_than=old, timeout=60)

    _, _, report = run_fault(ha, people_source, fault, "kill -9 of the primary's postmaster")
    for node, r in report.items():
        assert r["writes_back_after_s"] is not None, (node, r)
    # The old primary comes back as the synchronous standby before the next drill.
    cluster.wait_healthy(timeout=120)


def test_2_kill9_of_a_coffre_node_under_load(ha, people_source):
    cluster, nodes, _ = ha
    n1, n2 = nodes

    def fault():
        n2.kill9()

    outcomes, _, _ = run_fault(ha, people_source, fault, "kill -9 of coffre node2",
                                serving=[n1.name], allow_no_answer=(n2.name,))
    assert any(o.node == n2.name and isinstance(o.status, int) and 200 <= o.status < 300
               for o in outcomes), "node2 acknowledged nothing before it was killed"
    # Every chain verifies, the killed node's up to its last entry: through
    # the node that serves, then with node2 back.
    r = n1.cli("audit", "verify", n1.dir, "--audit-anchor", n1.dir / "audit-anchor", check=False)
    assert r.returncode == 0, f"audit verify after kill -9 of node2: {r.stdout[-1500:]} {r.stderr[-1500:]}"
    n2.start()
    client = n2.client("loader", "admin")
    try:
        some = next(o for o in outcomes if o.node == n1.name and o.ref)
        assert client.get(f"{PEOPLE}/{some.ref['id']}").status_code == 200
    finally:
        client.close()


def test_3_audit_verify_passes_on_every_node(ha):
    _, nodes, _ = ha
    for n in nodes:
        # A node's anchor is DIR/audit-anchor (coffre join); audit verify's
        # default is still the embedded DIR.audit-anchor, hence the option.
        r = n.cli("audit", "verify", n.dir, "--audit-anchor", n.dir / "audit-anchor", check=False)
        assert r.returncode == 0, f"{n.name}: audit verify exited {r.returncode}: " \
                                  f"{r.stdout[-1500:]} {r.stderr[-1500:]}"


def test_4_postgresql_restart_under_load(ha, people_source):
    cluster, _, _ = ha
    primary = cluster.primary()

    def fault():
        cluster.restart_postgres(primary)

    run_fault(ha, people_source, fault, "restart of the primary PostgreSQL")
    cluster.wait_healthy(timeout=120)
    # Both nodes stop cleanly afterwards (their last audit checkpoint commits).
    for n in ha[1]:
        rc = n.stop()
        assert rc == 0, f"{n.name}: serve exited {rc} after SIGTERM; log: {n.log_tail()}"


