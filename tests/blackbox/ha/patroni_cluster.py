"""A real high-availability PostgreSQL on loopback, for the drills of issue 16:
one etcd (Debian etcd-server) and two PostgreSQL 15 servers managed by Patroni
(Debian patroni) with synchronous replication.

    cluster = PatroniCluster()
    try:
        cluster.start()                       # etcd, both members, a leader, a sync standby
        cluster.psql("CREATE TABLE t (v int)")   # as role `coffre`, on the primary
        old = cluster.primary()
        cluster.kill9_postmaster(old)         # Patroni promotes the standby
        new = cluster.wait_for_primary(other_than=old)
        cluster.wait_healthy()                # the old one is back, as a sync standby
    finally:
        cluster.stop()                        # nothing left running, nothing left on disk

Everything runs as the unprivileged `postgres` OS user (tests run as root) in
a fresh directory of /tmp owned by it (pytest's own temporary directories are
mode 0700 under root's, which postgres cannot enter). Ports are free loopback
ports. Role `coffre` (LOGIN, not superuser) owns database `coffre`; its
password is in a 0600 libpq passfile (`passfile`, give it to clients as
PGPASSFILE); `url` lists both members with target_session_attrs=read-write.

Patroni's timings are short (ttl 10, loop_wait 1, retry_timeout 5) and
primary_start_timeout is 0: a primary whose postmaster dies is not restarted
in place, Patroni fails over to the synchronous standby at once, and the old
primary comes back as a standby (pg_rewind).

Nothing is left behind, even when the test fails or pytest itself is killed:
stop() stops Patroni (which stops PostgreSQL), then etcd, then kills whatever
still runs from the cluster's directory; a watchdog process outside pytest's
process tree does the same if pytest dies without calling stop().

Not thread-safe: one thread drives a cluster (the drills' load threads only
speak HTTP to coffre).
"""
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

PG_BIN = Path("/usr/lib/postgresql/15/bin")
ETCD = Path("/usr/bin/etcd")
PATRONI = Path("/usr/bin/patroni")
RUN_AS = "postgres"

START_TIMEOUT = 120     # seconds for etcd, a leader and a streaming sync standby
STOP_TIMEOUT = 30       # seconds from SIGTERM to exit, per process
HTTP_TIMEOUT = 2        # seconds, one request to a Patroni REST API or etcd

# Patroni's dynamic configuration (bootstrap.dcs): short timings so a drill
# fails over in seconds, synchronous replication so an acknowledged commit is
# on both members.
DCS = {
    "ttl": 10,
    "loop_wait": 1,
    "retry_timeout": 5,
    "maximum_lag_on_failover": 1048576,
    "synchronous_mode": True,
    # A crashed primary is not restarted in place: fail over to the sync
    # standby (the behaviour the drill checks).
    "primary_start_timeout": 0,
    "postgresql": {
        "use_pg_rewind": True,
        "use_slots": True,
        "parameters": {
            "wal_level": "replica",
            "hot_standby": "on",
            "wal_log_hints": "on",
            "max_wal_senders": 8,
            "max_replication_slots": 8,
            "max_connections": 100,
            "wal_keep_size": "128MB",
        },
    },
}

# Local (per member) server settings. fsync is off: the drills kill
# processes, never the machine, so the page cache survives every crash they
# make, and the machine is shared by parallel tests. Acknowledged commits are
# still replicated synchronously before the answer.
LOCAL_PARAMETERS = {
    "fsync": "off",
    "shared_buffers": "32MB",
    "max_connections": 100,
    "log_min_messages": "warning",
    "log_connections": "off",
    "password_encryption": "scram-sha-256",
}


def free_ports(count):
    """`count` distinct loopback ports free at the time of the call."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def http_json(url, method="GET", body=None, timeout=HTTP_TIMEOUT):
    """(status, parsed JSON or text) of one request; (None, error) when the
    server cannot be reached."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"} if data else {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (OSError, ValueError) as e:
        return None, str(e)
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def _pids():
    for name in os.listdir("/proc"):
        if name.isdigit():
            yield int(name)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _ppid(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return int(stat[stat.rindex(b")") + 2:].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def processes_of(marker, parents=()):
    """Pids of live processes whose command line holds `marker` (a unique
    directory) or whose parent is one of `parents` (PostgreSQL's children
    rename themselves)."""
    needle = os.fsencode(str(marker))
    parents = set(parents)
    found = []
    for pid in _pids():
        if pid == os.getpid():
            continue
        cmd = _cmdline(pid)
        if (cmd and needle in cmd) or (parents and _ppid(pid) in parents):
            found.append(pid)
    return found


def kill_all(marker, parents=(), timeout=15):
    """SIGKILLs every process of processes_of(marker, parents) until none is
    left; returns the pids it had to kill."""
    killed = set()
    parents = set(parents)
    deadline = time.monotonic() + timeout
    while True:
        pids = processes_of(marker, parents)
        if not pids:
            return sorted(killed)
        if time.monotonic() > deadline:
            raise AssertionError(f"processes {pids} of {marker} survive SIGKILL")
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                parents.add(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)


# Runs outside pytest's process tree (double fork, own session): when its
# stdin reaches end of file without "done" (pytest died), it kills what the
# cluster left and removes its directory.
_WATCHDOG = r"""
import os, sys, shutil, signal, time
if os.fork():
    os._exit(0)
os.setsid()
root = sys.argv[1]
sys.path.insert(0, sys.argv[2])
data = sys.stdin.buffer.read()
if data.strip() == b"done":
    os._exit(0)
from patroni_cluster import kill_all
try:
    kill_all(root, timeout=30)
finally:
    shutil.rmtree(root, ignore_errors=True)
"""


class Member:
    """One Patroni-managed PostgreSQL."""

    def __init__(self, cluster, index, pg_port, api_port):
        self.name = f"pg{index}"
        self.dir = cluster.root / self.name
        self.data_dir = self.dir / "data"
        self.config = self.dir / "patroni.yml"
        self.log_path = self.dir / "patroni.log"
        self.pg_port = pg_port
        self.api_port = api_port
        self.api = f"http://127.0.0.1:{api_port}"
        self.proc = None
        self.postmasters = set()   # every postmaster pid seen, for the teardown

    def __repr__(self):
        return f"<{self.name} pg={self.pg_port} api={self.api_port}>"

    def postmaster_pid(self):
        """The pid in postmaster.pid, or None (not running, or being started)."""
        try:
            with open(self.data_dir / "postmaster.pid") as f:
                pid = int(f.readline())
        except (OSError, ValueError):
            return None
        self.postmasters.add(pid)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid

    def status(self):
        """Patroni's GET / for this member: {"role","state",...} or None."""
        code, body = http_json(self.api + "/patroni")
        return body if code is not None and isinstance(body, dict) else None

    def is_primary(self):
        code, _ = http_json(self.api + "/primary")
        return code == 200

    def log_tail(self, n=3000):
        try:
            return self.log_path.read_text(errors="replace")[-n:]
        except OSError:
            return ""


class PatroniCluster:
    def __init__(self, members=2, keep=None):
        user = pwd.getpwnam(RUN_AS)
        self.uid, self.gid = user.pw_uid, user.pw_gid
        self.keep = bool(os.environ.get("COFFRE_KEEP_TEST_DIRS")) if keep is None else keep
        self.root = Path(tempfile.mkdtemp(prefix="coffre-ha-", dir="/tmp"))
        os.chown(self.root, self.uid, self.gid)
        self.scope = "coffre-ha-" + secrets.token_hex(4)
        ports = free_ports(2 + 2 * members)
        self.etcd_port, self.etcd_peer_port = ports[0], ports[1]
        self.members = [Member(self, i, ports[2 + 2 * i], ports[3 + 2 * i]) for i in range(members)]
        self.superuser_password = secrets.token_urlsafe(24)
        self.replication_password = secrets.token_urlsafe(24)
        self.rewind_password = secrets.token_urlsafe(24)
        self.coffre_password = secrets.token_urlsafe(24)
        # Clients (coffre, psql) run as root: their passfile is root's, 0600,
        # in a directory only root may enter.
        self.client_dir = self.root / "client"
        self.client_dir.mkdir(mode=0o700)
        self.passfile = self.client_dir / "pgpass"
        self.admin_passfile = self.client_dir / "pgpass-admin"
        self.etcd_proc = None
        self.etcd_log = self.root / "etcd.log"
        self._watchdog = None
        self._stopped = False
        self._start_watchdog()

    # -- addresses ------------------------------------------------------------
    def hosts(self):
        return ",".join(f"127.0.0.1:{m.pg_port}" for m in self.members)

    @property
    def url(self):
        """The store URL of the drills: every member, the writable one wins."""
        return f"postgresql://coffre@{self.hosts()}/coffre?target_session_attrs=read-write"

    def member_url(self, member, database="coffre", user="coffre"):
        return f"postgresql://{user}@127.0.0.1:{member.pg_port}/{database}"

    def client_env(self, extra=None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "COFFRE_"))}
        env["PGPASSFILE"] = str(self.passfile)
        env["PGCONNECT_TIMEOUT"] = "3"
        env.update(extra or {})
        return env

    # -- lifecycle ------------------------------------------------------------
    def start(self, timeout=START_TIMEOUT):
        """etcd, then every member; returns once a leader runs, every other
        member streams as a synchronous standby, and role `coffre` owns
        database `coffre`."""
        deadline = time.monotonic() + timeout
        self._write_passfiles()
        self._start_etcd(deadline)
        for m in self.members:
            self._write_member_config(m)
        self._chown_tree()
        # The first member bootstraps alone, so it is the first leader (the
        # drills know where they start); the others then clone it.
        self._start_member(self.members[0])
        self.wait_for_primary(timeout=max(1, deadline - time.monotonic()))
        for m in self.members[1:]:
            self._start_member(m)
        self.wait_healthy(timeout=max(1, deadline - time.monotonic()))
        self._create_coffre_role()
        return self

    def stop(self):
        """Stops everything (Patroni stops its PostgreSQL), kills what
        remains, removes the directory unless kept. Safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        errors = []
        try:
            for m in self.members:
                if m.proc is not None and m.proc.poll() is None:
                    m.proc.send_signal(signal.SIGTERM)
            for m in self.members:
                if m.proc is not None:
                    try:
                        m.proc.wait(STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        errors.append(f"{m.name}: patroni did not exit within {STOP_TIMEOUT} s")
                        m.proc.kill()
                        m.proc.wait(10)
                    m.postmaster_pid()   # remember the last one
            if self.etcd_proc is not None and self.etcd_proc.poll() is None:
                self.etcd_proc.send_signal(signal.SIGTERM)
                try:
                    self.etcd_proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.etcd_proc.kill()
                    self.etcd_proc.wait(10)
        finally:
            parents = set()
            for m in self.members:
                parents |= m.postmasters
            kill_all(self.root, parents)
            if self._watchdog is not None:
                try:
                    self._watchdog.write(b"done")
                    self._watchdog.close()
                except OSError:
                    pass
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)
        if errors:
            raise AssertionError("; ".join(errors))

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- state ----------------------------------------------------------------
    def cluster_state(self):
        """Patroni's GET /cluster from the first member that answers, or None."""
        for m in self.members:
            code, body = http_json(m.api + "/cluster")
            if code == 200 and isinstance(body, dict):
                return body
        return None

    def primary(self):
        """The member whose GET /primary answers 200 (it holds the leader lock
        and runs as primary) and whose PostgreSQL has left recovery (Patroni
        answers 200 as soon as it asks for the promotion), or None."""
        for m in self.members:
            if m.is_primary() and self.psql(
                    "SELECT pg_is_in_recovery()", admin=True, check=False,
                    url=self.member_url(m, database="postgres", user="postgres")) == [["f"]]:
                return m
        return None

    def member(self, name):
        return next(m for m in self.members if m.name == name)

    def wait_for_primary(self, other_than=None, timeout=60):
        """The primary, once there is one (other than `other_than`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            p = self.primary()
            if p is not None and p is not other_than:
                return p
            time.sleep(0.2)
        raise AssertionError(f"no primary{' other than ' + other_than.name if other_than else ''} "
                             f"within {timeout} s; cluster: {self.cluster_state()}; "
                             f"logs: {self.logs_tail()}")

    def healthy(self):
        """True when one member leads and every other streams as a sync standby."""
        state = self.cluster_state()
        if not state:
            return False
        members = state.get("members", [])
        if len(members) != len(self.members):
            return False
        roles = sorted(m.get("role") for m in members)
        running = all(m.get("state") in ("running", "streaming") for m in members)
        return running and roles == sorted(["leader"] + ["sync_standby"] * (len(self.members) - 1))

    def wait_healthy(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive()
            if self.healthy():
                return
            time.sleep(0.2)
        raise AssertionError(f"cluster not healthy within {timeout} s: {self.cluster_state()}; "
                             f"logs: {self.logs_tail()}")

    def logs_tail(self, n=1500):
        return {m.name: m.log_tail(n) for m in self.members}

    # -- faults ---------------------------------------------------------------
    def kill9_postmaster(self, member):
        """kill -9 of `member`'s postmaster; returns its pid."""
        pid = member.postmaster_pid()
        assert pid is not None, f"{member.name} runs no postmaster"
        os.kill(pid, signal.SIGKILL)
        return pid

    def restart_postgres(self, member, timeout=60):
        """Restarts `member`'s PostgreSQL through Patroni (POST /restart: a
        fast shutdown and a start; a primary stays primary)."""
        code, body = http_json(member.api + "/restart", method="POST", body={}, timeout=timeout)
        assert code == 200, f"restart of {member.name}: {code} {body}"
        return body

    # -- SQL ------------------------------------------------------------------
    def psql(self, sql, url=None, admin=False, timeout=30, check=True):
        """Runs `sql` with psql (as root, over TCP; the text on stdin, not in
        argv) as role coffre on the writable member (or `url`, or as the
        superuser with `admin`); returns the rows as lists of strings."""
        if url is None:
            url = self.url if not admin else (
                f"postgresql://postgres@{self.hosts()}/postgres?target_session_attrs=read-write")
        env = self.client_env({"PGPASSFILE": str(self.admin_passfile if admin else self.passfile)})
        r = subprocess.run([str(PG_BIN / "psql"), "-X", "-q", "-A", "-t", "-F", "\t",
                            "-v", "ON_ERROR_STOP=1", "-d", url, "-f", "-"],
                           input=sql, capture_output=True, text=True, timeout=timeout, env=env)
        if check:
            assert r.returncode == 0, f"psql exited {r.returncode}: {r.stderr[-1000:]}"
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    # -- internals ------------------------------------------------------------
    def _start_watchdog(self):
        proc = subprocess.Popen([sys.executable, "-c", _WATCHDOG, str(self.root),
                                 str(Path(__file__).resolve().parent)],
                                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        proc.wait(10)   # the first fork exits at once; the watchdog lives on
        self._watchdog = proc.stdin

    def _as_postgres(self):
        env = {"HOME": str(self.root), "PATH": f"{PG_BIN}:/usr/bin:/bin", "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8"}
        return {"user": self.uid, "group": self.gid, "extra_groups": [], "env": env,
                "cwd": str(self.root), "stdin": subprocess.DEVNULL, "start_new_session": True}

    def _check_alive(self):
        if self.etcd_proc is not None and self.etcd_proc.poll() is not None:
            raise AssertionError(f"etcd exited {self.etcd_proc.returncode}: "
                                 f"{self.etcd_log.read_text(errors='replace')[-2000:]}")
        for m in self.members:
            if m.proc is not None and m.proc.poll() is not None:
                raise AssertionError(f"{m.name}: patroni exited {m.proc.returncode}: {m.log_tail()}")

    def _write_passfiles(self):
        def write(path, lines):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write("".join(lines))
        write(self.passfile, [f"127.0.0.1:{m.pg_port}:coffre:coffre:{self.coffre_password}\n"
                              for m in self.members])
        write(self.admin_passfile, [f"127.0.0.1:{m.pg_port}:*:postgres:{self.superuser_password}\n"
                                    for m in self.members])

    def _start_etcd(self, deadline):
        data = self.root / "etcd"
        data.mkdir(mode=0o700)
        os.chown(data, self.uid, self.gid)
        client = f"http://127.0.0.1:{self.etcd_port}"
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        log = open(self.etcd_log, "ab")
        try:
            self.etcd_proc = subprocess.Popen(
                [str(ETCD), "--name", "etcd0", "--data-dir", str(data),
                 "--listen-client-urls", client, "--advertise-client-urls", client,
                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                 "--initial-cluster", f"etcd0={peer}", "--initial-cluster-state", "new",
                 "--initial-cluster-token", self.scope, "--log-level", "warn"],
                stdout=log, stderr=log, **self._as_postgres())
        finally:
            log.close()
        while time.monotonic() < deadline:
            self._check_alive()
            code, body = http_json(client + "/health")
            if code == 200 and isinstance(body, dict) and body.get("health") == "true":
                return
            time.sleep(0.1)
        raise AssertionError(f"etcd not healthy: {self.etcd_log.read_text(errors='replace')[-2000:]}")

    def _write_member_config(self, m):
        m.dir.mkdir(mode=0o700)
        sock = m.dir / "sock"
        sock.mkdir(mode=0o700)
        parameters = dict(LOCAL_PARAMETERS, unix_socket_directories=str(sock))
        config = {
            "scope": self.scope,
            "namespace": "/coffre-ha/",
            "name": m.name,
            "log": {"level": "INFO"},
            "restapi": {"listen": f"127.0.0.1:{m.api_port}",
                        "connect_address": f"127.0.0.1:{m.api_port}"},
            "etcd3": {"host": f"127.0.0.1:{self.etcd_port}"},
            "bootstrap": {
                "dcs": DCS,
                # No fsync of the new files (see LOCAL_PARAMETERS).
                "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums",
                           "no-sync"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{m.pg_port}",
                "connect_address": f"127.0.0.1:{m.pg_port}",
                "data_dir": str(m.data_dir),
                "bin_dir": str(PG_BIN),
                "pgpass": str(m.dir / "pgpass"),
                "basebackup": [{"checkpoint": "fast"}, "no-sync"],
                "use_unix_socket": True,
                "remove_data_directory_on_rewind_failure": True,
                "remove_data_directory_on_diverged_timelines": True,
                "authentication": {
                    "superuser": {"username": "postgres", "password": self.superuser_password},
                    "replication": {"username": "replicator", "password": self.replication_password},
                    "rewind": {"username": "rewinder", "password": self.rewind_password},
                },
                "parameters": parameters,
                "pg_hba": [
                    "local all postgres peer",
                    "local replication postgres peer",
                    "host replication replicator 127.0.0.1/32 scram-sha-256",
                    "host all all 127.0.0.1/32 scram-sha-256",
                ],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                     "nosync": False},
        }
        # JSON is YAML.
        m.config.write_text(json.dumps(config, indent=2) + "\n")
        m.config.chmod(0o600)

    def _chown_tree(self):
        for path in [self.root] + [p for m in self.members for p in m.dir.rglob("*")] + \
                [m.dir for m in self.members]:
            os.chown(path, self.uid, self.gid)
        # The client directory stays root's.
        os.chown(self.client_dir, 0, 0)

    def _start_member(self, m):
        log = open(m.log_path, "ab")
        try:
            m.proc = subprocess.Popen([str(PATRONI), str(m.config)], stdout=log, stderr=log,
                                      **self._as_postgres())
        finally:
            log.close()

    def _create_coffre_role(self):
        # Not superuser, no CREATEDB/CREATEROLE: it owns its database, nothing else.
        self.psql(f"CREATE ROLE coffre LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                  f"PASSWORD '{self.coffre_password}'", admin=True)
        self.psql("CREATE DATABASE coffre OWNER coffre", admin=True)
        self.psql("REVOKE ALL ON DATABASE coffre FROM PUBLIC", admin=True)
