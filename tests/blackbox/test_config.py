"""`coffre serve DIR --config FILE`: the file's keys reach the real server
(the key file, relative to the config's directory; the trusted proxies), a
flag given on the command line overrides its key (--listen, --trusted-proxy),
and a bad file stops serve with the line of each error."""
import json
import os
import subprocess

from conftest import CLI_TIMEOUT, EXIT_INVALID, build_vault, child_env, stop_checked

PEOPLE = "/v1/collections/people/records"


def _read_via(v, ref, peer, forwarded_for):
    c = v.client("admin", purpose="admin", source_ip=peer)
    try:
        r = c.get(f"{PEOPLE}/{ref['id']}", headers={"X-Forwarded-For": forwarded_for})
        assert r.status_code == 200, r.text
    finally:
        c.close()


def _read_sources(v, key_file):
    r = v.cli("audit", "list", v.dir, env={"COFFRE_KEY_FILE": str(key_file)})
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    return [e.get("source") for e in entries if e.get("action") == "read"]


def test_serve_takes_the_config_and_a_flag_overrides_a_key(coffre_bin, tmp_path):
    s = build_vault(coffre_bin, tmp_path, people=2, find=(0,),
                    principals=[("admin", "service", "admin", None)])
    v = s.vault
    ref = s.refs[0]
    # The master key moves where only the config names it, by a path
    # relative to the config's own directory (serve runs in tmp_path).
    etc = tmp_path / "etc"
    etc.mkdir()
    key_file = etc / "people.key"
    os.rename(v.key_file, key_file)
    conf = etc / "people.toml"
    conf.write_text(
        "# a listener this host does not have: --listen overrides it\n"
        'listen = "192.0.2.1:8443"\n'
        "[key]\n"
        'file = "people.key"\n'
        "[proxy]\n"
        'trusted = ["127.0.0.2"]\n'
        "[limits]\n"
        "max_connections_per_source = 8\n")
    conf.chmod(0o640)

    # Vault.start gives --listen 127.0.0.1:0 on the command line.
    v.start(extra_args=["--config", conf])
    try:
        _read_via(v, ref, "127.0.0.2", "198.51.100.1")  # trusted by the file
    finally:
        stop_checked(v)
    assert _read_sources(v, key_file)[-1] == "https:198.51.100.1"

    # A repeated flag replaces the file's whole list: 127.0.0.2 is no longer
    # trusted, so its X-Forwarded-For is ignored.
    v.start(extra_args=["--config", conf, "--trusted-proxy", "127.0.0.3"])
    try:
        _read_via(v, ref, "127.0.0.2", "198.51.100.2")
        _read_via(v, ref, "127.0.0.3", "198.51.100.3")
    finally:
        stop_checked(v)
    assert _read_sources(v, key_file)[-2:] == ["https:127.0.0.2", "https:198.51.100.3"]


def test_a_bad_config_stops_serve_with_each_line(coffre_bin, tmp_path):
    conf = tmp_path / "people.toml"
    conf.write_text('listen = "127.0.0.1:0"\n'
                    "[limits]\n"
                    "max_connections = 0\n"
                    "[proxy]\n"
                    "trusted_proxies = [\"10.0.0.2\"]\n")
    conf.chmod(0o600)
    r = subprocess.run([str(coffre_bin), "serve", str(tmp_path / "vault"), "--config", str(conf)],
                       capture_output=True, text=True, timeout=CLI_TIMEOUT, env=child_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == EXIT_INVALID, r.stderr
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith(f"coffre: {conf}:3:19: key 'limits.max_connections': "), lines
    assert lines[1].startswith(f"coffre: {conf}:5:1: key 'proxy.trusted_proxies': unknown key"), \
        lines

    # Writable by others: refused whatever it holds.
    conf.write_text('listen = "127.0.0.1:0"\n')
    conf.chmod(0o666)
    r = subprocess.run([str(coffre_bin), "serve", str(tmp_path / "vault"), "--config", str(conf)],
                       capture_output=True, text=True, timeout=CLI_TIMEOUT, env=child_env(),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == EXIT_INVALID, r.stderr
    assert "writable by group or others" in r.stderr
