"""Shamir unseal, black box (docs/key-custody.md, issue 15 item 7): a vault
whose master key is split into shares starts sealed (/healthz 200, /readyz
and every data route 503 `sealed`, CLI commands refused), K-1 shares do not
unseal, a share of another vault or a corrupt one exits 5 and keeps the
count, a duplicate is not counted, the K-th share unseals (GET 200), and no
plain share ever reaches a file under the vault's root or the server log.
Then `keys rotate` makes a new set and the old shares stop working.
"""
import json
import subprocess

import pytest
import requests

from conftest import (EXIT_DENIED, EXIT_FAILURE, EXIT_INVALID, EXIT_OK, Vault, build_vault, child_env,
                      stop_checked)

K, N = 3, 5


def keygen(v, name):
    r = v.cli("keygen", "--out-secret", v.root / f"{name}.secret")
    return Vault.last_json(r)["public_key"]


def plain_share(v, holder, path):
    r = v.cli("decrypt", "--secret-key", v.root / f"{holder}.secret", path)
    line = r.stdout
    assert line.startswith("coffre-key-share v1 "), "decrypt yields the plain share line"
    return line


def unseal(v, line, check=True):
    r = v.cli("unseal", v.dir, input=line, check=False)
    if check:
        assert r.returncode == EXIT_OK, r.stderr
    return r


def pipe_unseal(v, holder, path):
    """The documented ceremony: decrypt | unseal, through a real pipe."""
    dec = subprocess.Popen([str(v.bin), "decrypt", "--secret-key", str(v.root / f"{holder}.secret"),
                            str(path)], stdout=subprocess.PIPE, env=child_env(), cwd=v.root)
    un = subprocess.run([str(v.bin), "unseal", str(v.dir)], stdin=dec.stdout, capture_output=True,
                        text=True, env=child_env(), cwd=v.root, timeout=120)
    dec.stdout.close()
    assert dec.wait(60) == 0
    return un


def every_file_bytes(root):
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.name.endswith(".secret"):
            out.append((p, p.read_bytes()))
    return out


@pytest.fixture(scope="module")
def sealed(coffre_bin, vault_root):
    s = build_vault(coffre_bin, vault_root, people=5, find=[0],
                    principals=[("support", "service", "support_agent", None)])
    v = s.vault
    holders = [f"h{i}" for i in range(1, N + 1)]
    pubs = [keygen(v, h) for h in holders]
    # Refused, and nothing written: K > N, K < 2, a holder twice, a bad key,
    # a running server.
    bad = [(N + 1, pubs), (1, pubs), (K, pubs[:4] + pubs[:1]), (K, pubs[:4] + ["00" * 31])]
    for k, recipients in bad:
        args = ["keys", "split", v.dir, "--threshold", k, "--out-dir", v.root / "shares"]
        for p in recipients:
            args += ["--recipient", p]
        r = v.cli(*args, check=False)
        assert r.returncode == EXIT_INVALID, (k, r.stderr)
        assert v.key_file.exists() and not list((v.root / "shares").glob("*"))
        assert not (v.root / "vault.tls-key").exists()
    args = ["keys", "split", v.dir, "--threshold", K, "--out-dir", v.root / "shares"]
    for p in pubs:
        args += ["--recipient", p]
    v.start()
    r = v.cli(*args, check=False)
    assert r.returncode != EXIT_OK and "stop it" in r.stderr
    stop_checked(v)
    out = Vault.last_json(v.cli(*args))
    assert out["threshold"] == K and len(out["shares"]) == N
    assert not v.key_file.exists(), "the key file is removed"
    s.shares = out["shares"]
    s.holders = holders
    s.pubs = pubs
    yield s
    if v.running():
        stop_checked(v)


def test_split_files_are_private_and_sealed(sealed):
    v = sealed.vault
    for path in sealed.shares:
        st = (v.root / "shares" / path.rsplit("/", 1)[-1]).stat()
        assert st.st_mode & 0o777 == 0o600
    # Another holder's key does not open a share.
    r = v.cli("decrypt", "--secret-key", v.root / "h2.secret", sealed.shares[0], check=False)
    assert r.returncode != EXIT_OK
    # Without the server, a command says to serve and unseal.
    r = v.cli("principal", "list", v.dir, check=False)
    assert r.returncode == EXIT_FAILURE and "coffre unseal" in r.stderr


def sealed_gauge(v):
    """coffre_sealed from the metrics listener, by a real Prometheus parser."""
    from prometheus_client.parser import text_string_to_metric_families
    text = requests.get(v.ready["metrics"], timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == "coffre_sealed":
            return family.samples[0].value
    raise AssertionError("no coffre_sealed in the scrape")


def test_sealed_server_unseals_with_k_shares(sealed):
    v = sealed.vault
    v.start(["--metrics-listen", "127.0.0.1:0"])
    assert sealed_gauge(v) == 1
    c = v.client("support", purpose="support")
    try:
        assert c.get("/healthz").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "sealed"
        rec = sealed.refs[0]["id"]
        r = c.get(f"/v1/collections/people/records/{rec}")
        assert r.status_code == 503 and r.json()["error"]["code"] == "sealed"
        r = c.post("/v1/collections/people/records", json={})
        assert r.status_code == 503 and r.json()["error"]["code"] == "sealed"
        # Admin commands through the socket are refused while sealed.
        r = v.cli("principal", "list", v.dir, check=False)
        assert r.returncode != EXIT_OK and "sealed" in r.stderr

        lines = [plain_share(v, h, p) for h, p in zip(sealed.holders, sealed.shares)]
        out = json.loads(pipe_unseal(v, "h1", sealed.shares[0]).stdout)
        assert out == {"sealed": True, "given": 1, "threshold": K}
        # The same share again: not counted.
        out = json.loads(unseal(v, lines[0]).stdout)
        assert out == {"sealed": True, "given": 1, "threshold": K}
        # A share of another vault: exit 5, count kept.
        (v.root / "other-root").mkdir()
        other = Vault(v.bin, v.root / "other-root")
        other.init()
        other_pub = keygen(other, "oh1")
        keygen(other, "oh2")
        r = other.cli("keys", "split", other.dir, "--threshold", 2, "--out-dir",
                      other.root / "shares", "--recipient", other_pub, "--recipient",
                      Vault.last_json(other.cli("keygen", "--out-secret",
                                                other.root / "oh3.secret"))["public_key"])
        foreign = plain_share(other, "oh1", Vault.last_json(r)["shares"][0])
        r = unseal(v, foreign, check=False)
        assert r.returncode == EXIT_DENIED and "another vault" in r.stderr
        # A corrupt share (one hex digit of the share changed): exit 5.
        words = lines[1].split(" ")
        words[7] = ("0" if words[7][0] != "0" else "1") + words[7][1:]
        r = unseal(v, " ".join(words), check=False)
        assert r.returncode == EXIT_DENIED, r.stderr
        r = unseal(v, "not a share\n", check=False)
        assert r.returncode == EXIT_DENIED
        out = json.loads(unseal(v, lines[3]).stdout)
        assert out == {"sealed": True, "given": 2, "threshold": K}, "K-1 shares: still sealed"
        assert c.get("/readyz").status_code == 503
        assert c.get(f"/v1/collections/people/records/{rec}").status_code == 503
        # The K-th share unseals.
        out = json.loads(pipe_unseal(v, "h5", sealed.shares[4]).stdout)
        assert out == {"sealed": False, "given": K, "threshold": K}
        assert c.get("/readyz").status_code == 200
        assert sealed_gauge(v) == 0
        r = c.get(f"/v1/collections/people/records/{rec}")
        assert r.status_code == 200, r.text
        assert v.cli("principal", "list", v.dir).returncode == EXIT_OK
        # A share after unsealing changes nothing.
        out = json.loads(unseal(v, lines[2]).stdout)
        assert out["sealed"] is False

        # No plain share (nor its hex) in any file under the root, the log included.
        secrets_hex = [line.split(" ")[7] for line in lines]
        for path, data in every_file_bytes(v.root):
            assert b"coffre-key-share v1" not in data, path
            for h in secrets_hex:
                assert h.encode() not in data and bytes.fromhex(h) not in data, path
    finally:
        c.close()


def test_rotate_makes_a_new_set(sealed):
    v = sealed.vault
    assert v.running(), "unsealed by the previous test"
    new = [keygen(v, f"n{i}") for i in range(1, 4)]
    args = ["keys", "rotate", v.dir, "--threshold", 2, "--out-dir", v.root / "shares2"]
    for p in new:
        args += ["--recipient", p]
    out = Vault.last_json(v.cli(*args))
    assert out["generation"] == 2 and len(out["shares"]) == 3
    sealed.rotated = out["shares"]
    # A key file rotation is refused on a split vault.
    assert v.cli("keys", "rotate", v.dir, check=False).returncode != EXIT_OK
    stop_checked(v)
    v.start()
    r = unseal(v, plain_share(v, "h1", sealed.shares[0]), check=False)
    assert r.returncode == EXIT_DENIED and "generation" in r.stderr
    unseal(v, plain_share(v, "n1", out["shares"][0]))
    done = json.loads(unseal(v, plain_share(v, "n3", out["shares"][2])).stdout)
    assert done["sealed"] is False
    c = v.client("support", purpose="support")
    try:
        r = c.get(f"/v1/collections/people/records/{sealed.refs[0]['id']}")
        assert r.status_code == 200
    finally:
        c.close()
    stop_checked(v)


def test_tls_set_on_a_split_vault_is_what_it_serves_sealed(sealed, tmp_path):
    """A sealed server serves the vault's certificate with DIR.tls-key: a new
    certificate set while unsealed must be the one served at the next
    (sealed) start, so `tls set` replaces DIR.tls-key too."""
    from test_tls import issue, served_fingerprint, tls_set
    v = sealed.vault
    assert not v.running()
    v.start()
    unseal(v, plain_share(v, "n1", sealed.rotated[0]))
    assert json.loads(unseal(v, plain_share(v, "n2", sealed.rotated[1])).stdout)["sealed"] is False
    root = issue("split vault test root", ca=True)
    leaf = issue("localhost", root)
    tls_set(v, tmp_path, leaf, ca=root)
    assert (v.root / "vault.tls-key").read_bytes() == leaf.key_pem
    assert served_fingerprint(v.port) == leaf.fingerprint
    stop_checked(v)
    v.start()  # sealed again: the new certificate with the new key
    try:
        assert served_fingerprint(v.port) == leaf.fingerprint
    finally:
        stop_checked(v)
