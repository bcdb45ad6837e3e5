"""A PostgreSQL 15 server of the benchmarks' own (bench/cluster/run).

initdb into a temporary directory as the unprivileged `postgres` OS user
(the benchmarks run as root), listening on 127.0.0.1 on a free port with
TLS (a self-signed P-256 certificate made here; ssl = on), plus its Unix
socket in the same directory for the superuser. Role `coffre` (LOGIN, not a
superuser; its password in a 0600 passfile, scram-sha-256) owns the
databases the benchmark creates. The superuser (`postgres`, trust on the
Unix socket only) is used for what a DBA does: CREATE DATABASE, and
CREATE EXTENSION pgcrypto for the peer. Stopped and removed by stop().

The settings are a dedicated server's (durable commits as by default,
shared_buffers and a WAL large enough that no checkpoint falls inside a
measured run), the same for coffre, for the plain COPY and for the peer.
"""

import os
import pwd
import signal
import secrets
import shutil
import subprocess
import tempfile
import time

PG_BIN = "/usr/lib/postgresql/15/bin"
SUPERUSER_OS = "postgres"

CONF = """
listen_addresses = '127.0.0.1'
port = %(port)d
unix_socket_directories = '%(dir)s'
max_connections = 200
ssl = on
ssl_cert_file = '%(dir)s/server.crt'
ssl_key_file = '%(dir)s/server.key'
password_encryption = 'scram-sha-256'
shared_buffers = '%(shared_buffers)s'
work_mem = '16MB'
maintenance_work_mem = '512MB'
max_wal_size = '16GB'
checkpoint_timeout = '30min'
fsync = on
synchronous_commit = on
log_min_messages = warning
logging_collector = off
"""

HBA = """
local   all  postgres                 trust
hostssl all  coffre    127.0.0.1/32   scram-sha-256
host    all  coffre    127.0.0.1/32   scram-sha-256
"""


def _quiet(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} failed ({r.returncode}): {r.stderr.strip()[-2000:]}")
    return r.stdout


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class BenchPg:
    def __init__(self, parent_dir="/tmp", shared_buffers="2GB"):
        self.parent_dir = parent_dir
        self.shared_buffers = shared_buffers
        self.dir = None
        self.proc = None
        self.port = None

    # -- lifecycle ---------------------------------------------------------
    def start(self):
        pw = pwd.getpwnam(SUPERUSER_OS)
        self.dir = tempfile.mkdtemp(prefix="coffre-bench-pg-", dir=self.parent_dir)
        os.chmod(self.dir, 0o755)
        data = os.path.join(self.dir, "data")
        os.mkdir(data, 0o700)
        os.chown(data, pw.pw_uid, pw.pw_gid)
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.port = free_port()
        self._as_postgres([f"{PG_BIN}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                           "--encoding=UTF8", "--locale=C", "--no-sync"])
        # TLS: a self-signed server certificate (clients use sslmode=require).
        _quiet(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-keyout", f"{self.dir}/server.key", "-out", f"{self.dir}/server.crt",
                "-days", "2", "-subj", "/CN=127.0.0.1"])
        for f in ("server.key", "server.crt"):
            os.chown(os.path.join(self.dir, f), pw.pw_uid, pw.pw_gid)
        os.chmod(f"{self.dir}/server.key", 0o600)
        with open(os.path.join(data, "postgresql.auto.conf"), "a") as f:
            f.write(CONF % {"port": self.port, "dir": self.dir,
                            "shared_buffers": self.shared_buffers})
        with open(os.path.join(data, "pg_hba.conf"), "w") as f:
            f.write(HBA)
        self.log = os.path.join(self.dir, "postgres.log")
        logf = open(self.log, "ab")
        os.chown(self.log, pw.pw_uid, pw.pw_gid)
        self.proc = subprocess.Popen(
            ["runuser", "-u", SUPERUSER_OS, "--", f"{PG_BIN}/postgres", "-D", data],
            stdout=logf, stderr=logf, cwd="/")
        logf.close()
        deadline = time.time() + 60
        while True:
            r = subprocess.run([f"{PG_BIN}/pg_isready", "-h", self.dir, "-p", str(self.port)],
                               capture_output=True)
            if r.returncode == 0:
                break
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("postgres did not start: " + open(self.log).read()[-2000:])
            time.sleep(0.1)
        self.password = secrets.token_hex(16)
        self.sql(f"CREATE ROLE coffre LOGIN PASSWORD '{self.password}'")
        self.passfile = os.path.join(self.dir, "passfile")
        with open(self.passfile, "w") as f:
            f.write(f"127.0.0.1:{self.port}:*:coffre:{self.password}\n")
        os.chmod(self.passfile, 0o600)
        return self

    def stop(self, keep=False):
        if self.proc and self.proc.poll() is None:
            # Fast shutdown, sent to the postmaster itself (runuser does not
            # pass SIGINT on).
            try:
                os.kill(self.postmaster_pid(), signal.SIGINT)
            except (OSError, ValueError):
                self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.dir and not keep:
            shutil.rmtree(self.dir, ignore_errors=True)

    def postmaster_pid(self):
        with open(os.path.join(self.dir, "data", "postmaster.pid")) as f:
            return int(f.readline())

    # -- access -------------------------------------------------------------
    def _as_postgres(self, cmd, **kw):
        return _quiet(["runuser", "-u", SUPERUSER_OS, "--", *cmd], cwd="/", **kw)

    def sql(self, query, db="postgres"):
        """Runs `query` as the superuser over the Unix socket; returns its
        unaligned, tuples-only output."""
        return self._as_postgres(["psql", "-h", self.dir, "-p", str(self.port), "-U", "postgres",
                                  "-d", db, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                                  "-c", query])

    def new_database(self, name):
        """A database owned by `coffre`; returns its store URL (no password)."""
        self.sql(f"DROP DATABASE IF EXISTS {name}")
        self.sql(f"CREATE DATABASE {name} OWNER coffre")
        return self.url(name)

    def drop_database(self, name):
        self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def url(self, db):
        return f"postgresql://coffre@127.0.0.1:{self.port}/{db}"

    def env(self, sslmode="require"):
        """Environment for libpq clients connecting as `coffre` over TCP."""
        e = dict(os.environ)
        e["PGPASSFILE"] = self.passfile
        if sslmode:
            e["PGSSLMODE"] = sslmode
        return e

    def psql(self, db, args, sslmode="require", **kw):
        """psql as `coffre` over TCP (TLS), `args` appended; returns stdout."""
        return _quiet(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "coffre", "-d", db,
                       "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", *args],
                      env=self.env(sslmode), **kw)

    def cpu_ticks(self):
        """CPU (user + system, clock ticks) of the whole server: the
        postmaster, its live children, and the children it has reaped
        (backends of closed connections)."""
        pid = self.postmaster_pid()
        total = 0
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                children = [int(c) for c in f.read().split()]
        except OSError:
            children = []
        for c in children:
            try:
                with open(f"/proc/{c}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])
            except (OSError, ValueError):
                pass
        return total
