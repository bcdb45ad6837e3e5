"""pgserver.py, the PostgreSQL the cluster black-box tests start: role
coffre reaches its database over TCP with the passfile's password only, is
not a superuser, the URL holds no password, and the server survives a
kill -9 and a restart with its data; close() leaves nothing behind."""
import os
import stat
import subprocess

import pytest

from pgserver import BIN, PgServer


def psql_as_coffre(pg, url, query, passfile=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if passfile:
        env["PGPASSFILE"] = passfile
    return subprocess.run([f"{BIN}/psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", query],
                          env=env, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture(scope="module")
def pg():
    server = PgServer().start()
    yield server
    server.close()


def test_role_coffre_logs_in_with_the_passfile_only(pg):
    assert ":" not in pg.url.split("@")[0].removeprefix("postgresql://")
    assert stat.S_IMODE(os.stat(pg.passfile).st_mode) == 0o600
    ok = psql_as_coffre(pg, pg.url, "SELECT current_user, current_database()", pg.passfile)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "coffre|coffre"
    refused = psql_as_coffre(pg, pg.url, "SELECT 1", passfile="/dev/null")
    assert refused.returncode != 0
    assert pg.sql("SELECT rolsuper FROM pg_roles WHERE rolname = 'coffre'") == "f"


def test_new_database_is_owned_by_coffre(pg):
    url = pg.new_database("other_db")
    assert url.endswith("/other_db")
    assert pg.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'other_db'") \
        == "coffre"
    r = psql_as_coffre(pg, url, "CREATE TABLE t (k bytea PRIMARY KEY)", pg.passfile)
    assert r.returncode == 0, r.stderr


def test_kill9_and_start_again_keep_the_data(pg):
    r = psql_as_coffre(pg, pg.url, "CREATE TABLE kept (n int); INSERT INTO kept VALUES (42)",
                       pg.passfile)
    assert r.returncode == 0, r.stderr
    pg.kill9()
    assert psql_as_coffre(pg, pg.url, "SELECT 1", pg.passfile).returncode != 0
    pg.start_again()
    assert pg.sql("SELECT n FROM kept") == "42"
    pg.stop()
    pg.start_again()
    assert pg.sql("SELECT n FROM kept") == "42"


def test_close_removes_everything():
    server = PgServer().start()
    d = server.dir
    server.close()
    assert not os.path.exists(d)
