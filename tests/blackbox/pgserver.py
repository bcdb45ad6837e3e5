"""A PostgreSQL 15 server of the test's own, for the black-box tests: the
Python twin of tests/pg_server.h.

    pg = PgServer()
    pg.start()                        # initdb, start, role and database coffre
    env = dict(os.environ, PGPASSFILE=pg.passfile)
    url = pg.url                      # postgresql://coffre@127.0.0.1:PORT/coffre
    other = pg.new_database("t1")     # a fresh database owned by coffre
    pg.sql("SELECT count(*) FROM coffre_meta")   # as the superuser, rows '\\n'-joined
    pg.kill9(); pg.start_again()      # a crash, then a restart on the same port
    pg.close()                        # stops it and removes its directory

initdb runs into a temporary directory under /tmp; tests run as root, which
PostgreSQL refuses, so the server runs as the unprivileged `postgres` OS
user (as the test's own user when not root). Role `coffre` (LOGIN, not a
superuser) owns database `coffre` and connects over TCP on 127.0.0.1 with
scram-sha-256; its password sits in a 0600 passfile (`passfile`). The
superuser connects only through the Unix socket, in a 0700 directory.
fsync is off: a kill -9 of the server loses nothing (the kernel keeps the
pages); only a power loss would.

Every wait is bounded. Use it as a context manager, or call close().
"""
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"
TIMEOUT = 120  # seconds, any one PostgreSQL program


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    def __init__(self):
        self.dir = None
        self.port = None
        self.password = None
        self.running = False
        self._as_root = os.geteuid() == 0
        if self._as_root:
            pw = pwd.getpwnam("postgres")
            self._uid, self._gid = pw.pw_uid, pw.pw_gid

    # -- paths and URLs ---------------------------------------------------
    @property
    def data(self):
        return os.path.join(self.dir, "data")

    @property
    def sock(self):
        return os.path.join(self.dir, "sock")

    @property
    def passfile(self):
        return os.path.join(self.dir, "pgpass")

    @property
    def url(self):
        return self.url_for("coffre")

    def url_for(self, database):
        return f"postgresql://coffre@127.0.0.1:{self.port}/{database}"

    # -- life cycle --------------------------------------------------------
    def _give(self, path):
        if self._as_root:
            os.chown(path, self._uid, self._gid)

    def _run(self, args, log):
        with open(log, "ab") as out:
            self._give(log)
            kw = {}
            if self._as_root:
                kw = {"user": self._uid, "group": self._gid, "extra_groups": []}
            return subprocess.run(args, stdout=out, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, cwd=self.dir,
                                  timeout=TIMEOUT, check=False, **kw).returncode

    def _tail(self, name, n=4000):
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read()[-n:].decode(errors="replace")
        except OSError:
            return ""

    def start(self):
        self.dir = tempfile.mkdtemp(prefix="coffre-pg-", dir="/tmp")
        os.chmod(self.dir, 0o711)
        for sub in ("data", "sock"):
            p = os.path.join(self.dir, sub)
            os.mkdir(p, 0o700)
            self._give(p)
        rc = self._run([f"{BIN}/initdb", "-D", self.data, "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256",
                        "-E", "UTF8", "--locale=C", "--no-sync"],
                       os.path.join(self.dir, "initdb.log"))
        if rc != 0:
            raise RuntimeError("initdb failed:\n" + self._tail("initdb.log"))
        hba = os.path.join(self.data, "pg_hba.conf")
        with open(hba, "w") as f:
            f.write("local all postgres trust\nhost all all 127.0.0.1/32 scram-sha-256\n")
        self._give(hba)
        for attempt in range(3):
            self.port = _free_port()
            try:
                self._start_server()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.password = secrets.token_hex(16)
        self.sql(f"CREATE ROLE coffre LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                 f"PASSWORD '{self.password}'", database="postgres")
        self.sql("CREATE DATABASE coffre OWNER coffre", database="postgres")
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"*:*:*:coffre:{self.password}\n")
        return self

    def _start_server(self):
        log = os.path.join(self.dir, "server.log")
        open(log, "ab").close()
        self._give(log)
        opts = (f"-p {self.port} -k {self.sock} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c full_page_writes=off -c max_connections=100")
        rc = self._run([f"{BIN}/pg_ctl", "start", "-D", self.data, "-w", "-t", "60",
                        "-l", log, "-o", opts], os.path.join(self.dir, "pg_ctl.log"))
        if rc != 0:
            raise RuntimeError("pg_ctl start failed:\n" + self._tail("pg_ctl.log") + "\n" +
                               self._tail("server.log"))
        self.running = True

    def stop(self):
        rc = self._run([f"{BIN}/pg_ctl", "stop", "-D", self.data, "-m", "fast", "-w"],
                       os.path.join(self.dir, "pg_ctl.log"))
        if rc != 0:
            raise RuntimeError("pg_ctl stop failed:\n" + self._tail("pg_ctl.log"))
        self.running = False

    def start_again(self):
        # After kill -9 the old backends may hold the shared memory a moment.
        deadline = time.monotonic() + 15
        while True:
            try:
                self._start_server()
                return
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def kill9(self):
        with open(os.path.join(self.data, "postmaster.pid")) as f:
            pid = int(f.readline())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.01)
        self.running = False

    def close(self):
        if self.dir is None:
            return
        if self.running:
            self._run([f"{BIN}/pg_ctl", "stop", "-D", self.data, "-m", "immediate", "-w"],
                      os.path.join(self.dir, "pg_ctl.log"))
            self.running = False
        if not os.environ.get("COFFRE_KEEP_TEST_DIRS"):
            shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    def __enter__(self):
        return self.start() if self.dir is None else self

    def __exit__(self, *exc):
        self.close()

    # -- SQL as the superuser ----------------------------------------------
    def sql(self, query, database="coffre"):
        """Runs `query` as the superuser; returns the rows of the last
        statement, one per line, columns separated by '|'."""
        r = subprocess.run([f"{BIN}/psql", "-h", self.sock, "-p", str(self.port), "-U", "postgres",
                            "-d", database, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query],
                           capture_output=True, text=True, timeout=TIMEOUT, check=False,
                           stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise RuntimeError(f"SQL failed: {query}: {r.stderr.strip()}")
        return r.stdout.rstrip("\n")

    def new_database(self, name):
        if not name.replace("_", "").isalnum():
            raise ValueError("bad database name")
        self.sql(f"CREATE DATABASE {name} OWNER coffre", database="postgres")
        return self.url_for(name)
