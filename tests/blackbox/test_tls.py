"""The TLS lifecycle, black box (docs/operations.md, "Certificates"):
`coffre tls set` with the server stopped and running, hot reload on `tls
set` and on SIGHUP without dropping open connections, certificates served
from files (as certbot writes them), the expiry warning.

Certificates come from a private CA made here (root -> intermediate ->
leaf) with Debian's python3-cryptography; what the server presents is read
from the handshake (its SHA-256 fingerprint).
"""
import datetime
import hashlib
import json
import ipaddress
import signal
import socket
import ssl
import subprocess

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import EXIT_INVALID, Vault, child_env, error_of, stop_checked, wait_for
from rawhttp import read_response

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


class Issued:
    def __init__(self, cert, key):
        self.cert = cert
        self.key = key

    @property
    def pem(self):
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self):
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())

    @property
    def fingerprint(self):
        return hashlib.sha256(self.cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def issue(cn, issuer=None, ca=False, not_before=NOW - DAY, not_after=NOW + 90 * DAY,
          eku=ExtendedKeyUsageOID.SERVER_AUTH):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    b = (x509.CertificateBuilder()
         .subject_name(name)
         .issuer_name(issuer.cert.subject if issuer else name)
         .public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(not_before)
         .not_valid_after(not_after)
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if ca:
        b = b.add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False,
                                          False), critical=True)
    else:
        b = b.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False)
        if eku is not None:
            b = b.add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
    cert = b.sign(issuer.key if issuer else key, hashes.SHA256())
    return Issued(cert, key)


@pytest.fixture(scope="module")
def ca():
    root = issue("coffre test root", ca=True, not_after=NOW + 3650 * DAY)
    inter = issue("coffre test intermediate", root, ca=True, not_after=NOW + 3650 * DAY)
    return root, inter


def write(path, data):
    path.write_bytes(data)
    return path


def served_fingerprint(port, timeout=10):
    """The SHA-256 of the certificate a new handshake gets."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


class KeepAlive:
    """One TLS connection kept open across requests (no verification: the
    certificate is what changes)."""

    def __init__(self, port):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.sock = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.fingerprint = hashlib.sha256(self.sock.getpeercert(binary_form=True)).hexdigest()

    def healthz(self):
        self.sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, headers, _ = read_response(self.sock)
        return status, headers

    def close(self):
        self.sock.close()


def colon_hex(fp):
    return ":".join(fp[i:i + 2] for i in range(0, len(fp), 2))


@pytest.fixture(scope="module")
def vault(coffre_bin, vault_root):
    v = Vault(coffre_bin, vault_root)
    v.init()
    yield v
    if v.running():
        v.stop()


def tls_set(v, tmp, leaf, chain=b"", key=None, ca=None, check=True):
    cert = write(tmp / "cert-in.pem", leaf.pem + chain)
    keyf = write(tmp / "key-in.pem", (key or leaf).key_pem)
    args = ["tls", "set", v.dir, "--cert", cert, "--key", keyf]
    if ca is not None:
        args += ["--ca", write(tmp / "ca-in.pem", ca.pem)]
    return v.cli(*args, check=check)


def test_bad_certificates_are_refused_and_change_nothing(vault, ca, tmp_path):
    root, inter = ca
    v = vault
    before = v.cert.read_bytes()
    leaf = issue("localhost", inter)
    cases = [
        # (what, kwargs, words of the error)
        ("another key", dict(leaf=leaf, chain=inter.pem, key=issue("other", inter), ca=root),
         "does not match"),
        ("leaf without its intermediate", dict(leaf=leaf, ca=root), "incomplete"),
        ("no anchor known", dict(leaf=leaf, chain=inter.pem), "CN=coffre test root"),
        ("expired", dict(leaf=issue("localhost", inter, not_before=NOW - 30 * DAY,
                                    not_after=NOW - DAY), chain=inter.pem, ca=root),
         "expired on"),
        ("not yet valid", dict(leaf=issue("localhost", inter, not_before=NOW + DAY),
                               chain=inter.pem, ca=root), "not valid before"),
        ("a client certificate", dict(leaf=issue("svc", inter, eku=ExtendedKeyUsageOID.CLIENT_AUTH),
                                      chain=inter.pem, ca=root), "not for TLS servers"),
    ]
    for what, kw, words in cases:
        r = tls_set(v, tmp_path, check=False, **kw)
        assert r.returncode == EXIT_INVALID, (what, r.returncode, r.stderr)
        assert words in r.stderr, (what, r.stderr)
        assert "PRIVATE KEY" not in r.stderr + r.stdout, what
    garbage = v.cli("tls", "set", v.dir, "--cert", write(tmp_path / "g.pem", b"hello"),
                    "--key", write(tmp_path / "k.pem", leaf.key_pem), check=False)
    assert garbage.returncode == EXIT_INVALID and "no PEM X.509" in garbage.stderr, garbage.stderr
    missing = v.cli("tls", "set", v.dir, "--cert", tmp_path / "absent.pem", "--key",
                    tmp_path / "k.pem", check=False)
    assert missing.returncode == EXIT_INVALID and "absent.pem" in missing.stderr, missing.stderr
    assert v.cert.read_bytes() == before
    # The vault still serves init's certificate, on loopback only.
    v.start()
    try:
        assert served_fingerprint(v.port) == hashlib.sha256(
            x509.load_pem_x509_certificate(before).public_bytes(
                serialization.Encoding.DER)).hexdigest()
    finally:
        stop_checked(v)


def test_tls_set_with_the_server_stopped(vault, ca, tmp_path):
    root, inter = ca
    v = vault
    leaf = issue("localhost", inter)
    out = Vault.last_json(tls_set(v, tmp_path, leaf, inter.pem, ca=root))
    assert out["fingerprint"] == colon_hex(leaf.fingerprint), out
    assert out["subject"] == "CN=localhost" and out["chain_certificates"] == 2, out
    assert out["served"] is None, out  # no server
    assert 88 <= out["expires_in_days"] <= 90, out
    assert v.cert.read_bytes() == leaf.pem + inter.pem  # for clients
    # A root at the end of the file is the chain's own anchor: no --ca needed.
    leaf2 = issue("localhost", inter)
    out = Vault.last_json(tls_set(v, tmp_path, leaf2, inter.pem + root.pem))
    assert out["chain_certificates"] == 3, out
    v.start()
    try:
        assert served_fingerprint(v.port) == leaf2.fingerprint
    finally:
        stop_checked(v)
    r = v.cli("audit", "list", v.dir)
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    sets = [e for e in entries if e.get("action") == "tls.set"]
    assert len(sets) >= 2 and all(e["outcome"] == "allowed" for e in sets[-2:]), sets
    assert colon_hex(leaf2.fingerprint) in sets[-1]["reason"], sets[-1]
    assert "PRIVATE" not in r.stdout


def test_tls_set_while_serving_reloads_without_dropping_connections(vault, ca, tmp_path):
    root, inter = ca
    v = vault
    v.start()
    try:
        old = KeepAlive(v.port)
        assert old.healthz()[0] == 200
        leaf = issue("localhost", inter)
        r = tls_set(v, tmp_path, leaf, inter.pem, ca=root)
        out = Vault.last_json(r)
        assert out["served"] == colon_hex(leaf.fingerprint), out
        # New handshakes get the new certificate ...
        assert served_fingerprint(v.port) == leaf.fingerprint
        # ... and the connection opened before keeps working, on the old one.
        assert old.healthz()[0] == 200
        assert old.fingerprint != leaf.fingerprint
        old.close()
        # A refused certificate while serving: nothing changes.
        bad = tls_set(v, tmp_path, issue("localhost", inter), inter.pem, ca=root,
                      key=issue("x", inter), check=False)
        assert bad.returncode == EXIT_INVALID and "does not match" in bad.stderr, bad.stderr
        assert served_fingerprint(v.port) == leaf.fingerprint
        # SIGHUP reloads the vault's certificate (the same one here).
        v.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "TLS certificate loaded" in v.log_text()
                 and v.log_text().count("TLS certificate loaded") >= 2, "the SIGHUP reload")
        assert served_fingerprint(v.port) == leaf.fingerprint
        assert v.running()
    finally:
        stop_checked(v)
    log = v.log_text()
    assert "PRIVATE KEY" not in log
    assert leaf.key_pem.split(b"\n")[1].decode() not in log


def test_serve_from_files_reloads_on_sighup(coffre_bin, tmp_path, ca):
    root, inter = ca
    v = Vault(coffre_bin, tmp_path)
    v.init()
    live = tmp_path / "live"
    live.mkdir()
    first = issue("localhost", inter)
    write(live / "fullchain.pem", first.pem + inter.pem)
    write(live / "privkey.pem", first.key_pem)
    # Files are user-supplied: a non-loopback listener is allowed.
    v.start(["--tls-cert", live / "fullchain.pem", "--tls-key", live / "privkey.pem"])
    try:
        assert served_fingerprint(v.port) == first.fingerprint
        # The chain's root is neither in the file nor in the system store.
        assert "incomplete" in v.log_text()
        old = KeepAlive(v.port)
        assert old.healthz()[0] == 200
        # certbot renews: new files, then `systemctl reload` (SIGHUP).
        second = issue("localhost", inter)
        write(live / "fullchain.pem", second.pem + inter.pem + root.pem)
        write(live / "privkey.pem", second.key_pem)
        v.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: served_fingerprint(v.port) == second.fingerprint, "the renewed certificate")
        assert old.healthz()[0] == 200, "the open connection was dropped"
        old.close()
        # A half-renewed pair (the key of another certificate): the server
        # keeps the one it serves and says why.
        write(live / "privkey.pem", issue("other", inter).key_pem)
        v.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "was not reloaded" in v.log_text(), "the refused reload")
        assert "does not match" in v.log_text()
        assert served_fingerprint(v.port) == second.fingerprint
        # tls set stores into the vault; the server keeps serving the files
        # and says which certificate it serves.
        third = issue("localhost", inter)
        out = Vault.last_json(tls_set(v, tmp_path, third, inter.pem, ca=root))
        assert out["served"] == colon_hex(second.fingerprint), out
        assert served_fingerprint(v.port) == second.fingerprint
    finally:
        stop_checked(v)
    assert "PRIVATE KEY" not in v.log_text()


def test_non_loopback_with_files_and_flags_go_together(coffre_bin, tmp_path, ca):
    root, inter = ca
    v = Vault(coffre_bin, tmp_path)
    v.init()
    leaf = issue("localhost", inter)
    cert = write(tmp_path / "fullchain.pem", leaf.pem + inter.pem + root.pem)
    key = write(tmp_path / "privkey.pem", leaf.key_pem)
    lone = v.cli("serve", v.dir, "--tls-cert", cert, check=False, timeout=60)
    assert lone.returncode == EXIT_INVALID and "go together" in lone.stderr, lone.stderr
    wrong = write(tmp_path / "wrong.pem", issue("x", inter).key_pem)
    bad = v.cli("serve", v.dir, "--tls-cert", cert, "--tls-key", wrong, check=False, timeout=60)
    assert bad.returncode == EXIT_INVALID and "does not match" in bad.stderr, bad.stderr
    p = subprocess.Popen([str(v.bin), "serve", str(v.dir), "--listen", "0.0.0.0:0",
                          "--tls-cert", str(cert), "--tls-key", str(key)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env(),
                         cwd=tmp_path)
    try:
        line = p.stdout.readline().decode()
        assert json.loads(line)["listening"].startswith("https://0.0.0.0:"), line
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait(60)


def test_expiry_within_30_days_is_warned(coffre_bin, tmp_path, ca):
    root, inter = ca
    v = Vault(coffre_bin, tmp_path)
    v.init()
    soon = issue("localhost", inter, not_after=NOW + 10 * DAY)
    r = tls_set(v, tmp_path, soon, inter.pem, ca=root)
    assert "warning" in r.stderr and "less than 30 days" in r.stderr, r.stderr
    assert Vault.last_json(r)["expires_in_days"] in (9, 10)
    v.start()
    try:
        wait_for(lambda: "expires in 9 days" in v.log_text(), "the expiry warning in the log")
    finally:
        stop_checked(v)


# --- mTLS: services authenticated by a client certificate ------------------

def client_cert(cn, issuer, **kw):
    return issue(cn, issuer, eku=ExtendedKeyUsageOID.CLIENT_AUTH, **kw)


@pytest.fixture(scope="module")
def mtls(coffre_bin, tmp_path_factory):
    """A vault serving with --tls-client-ca: the services CA and an unrelated
    CA, both trusted at the TLS layer, so that a binding's own CA is what
    refuses the unrelated one."""
    root = tmp_path_factory.mktemp("mtls")
    v = Vault(coffre_bin, root)
    v.init()
    services = issue("services CA", ca=True, not_after=NOW + 3650 * DAY)
    other = issue("other CA", ca=True, not_after=NOW + 3650 * DAY)
    certs = {
        "fp": client_cert("fp-svc", services),
        "ca": client_cert("ca-svc", services),
        "gone": client_cert("gone-svc", services),
        "unbound": client_cert("someone-else", services),
        "ca_other_ca": client_cert("ca-svc", other),  # right subject, wrong CA
        "expired": client_cert("fp-svc", services, not_before=NOW - 30 * DAY,
                               not_after=NOW - DAY),
        "rogue": client_cert("fp-svc", issue("rogue CA", ca=True)),  # not trusted at all
    }
    files = {}
    for name, c in certs.items():
        files[name] = (write(root / f"{name}.crt", c.pem), write(root / f"{name}.key", c.key_pem))
    write(root / "services-ca.pem", services.pem)
    write(root / "client-cas.pem", services.pem + other.pem)
    add = ["principal", "add", v.dir]
    out = Vault.last_json(v.cli(*add, "fp-svc", "--kind", "service", "--role", "auditor",
                                "--cert-fingerprint", colon_hex(certs["fp"].fingerprint).upper()))
    assert out["cert_fingerprint"] == certs["fp"].fingerprint, out
    v.principals["fp-svc"] = {"api_key": out["api_key"]}
    out = Vault.last_json(v.cli(*add, "ca-svc", "--kind", "service", "--role", "auditor",
                                "--cert-ca", root / "services-ca.pem", "--cert-subject",
                                "CN=ca-svc"))
    assert out["cert_subject"] == "CN=ca-svc", out
    v.cli(*add, "gone-svc", "--kind", "service", "--role", "auditor", "--cert-fingerprint",
          certs["gone"].fingerprint)
    v.cli("principal", "suspend", v.dir, "gone-svc")
    v.start(["--tls-client-ca", root / "client-cas.pem"])
    yield v, files, certs
    stop_checked(v)


def audit_as(v, cert_files, token=None):
    s = requests_session(v, cert_files, token)
    try:
        return s.get(v.url + "/v1/audit?limit=1", timeout=30)
    finally:
        s.close()


def requests_session(v, cert_files, token=None):
    s = requests.Session()
    s.verify = str(v.cert)
    s.trust_env = False
    s.headers["X-Coffre-Purpose"] = "investigation"
    if cert_files is not None:
        s.cert = tuple(str(p) for p in cert_files)
    if token is not None:
        s.headers["Authorization"] = f"Bearer {token}"
    return s


def test_a_bound_certificate_authenticates_its_service(mtls):
    v, files, _ = mtls
    for name in ("fp", "ca"):
        r = audit_as(v, files[name])
        assert r.status_code == 200, (name, r.status_code, r.text[:300])
    # The audit log names who came in by certificate.
    r = v.cli("audit", "list", v.dir)
    entries = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    reads = [e["principal"] for e in entries if e.get("action") == "audit.read"]
    assert "fp-svc" in reads and "ca-svc" in reads, reads
    # An API key still works, without a certificate.
    assert audit_as(v, None, v.principals["fp-svc"]["api_key"]).status_code == 200
    # No certificate, no key.
    error_of(audit_as(v, None), 401, "unauthenticated")


def test_certificates_that_must_not_authenticate(mtls):
    v, files, _ = mtls
    # Issued by the services CA, bound to nobody.
    error_of(audit_as(v, files["unbound"]), 401, "unauthenticated")
    # The subject of ca-svc, issued by another CA the TLS layer trusts: the
    # binding names its CA.
    error_of(audit_as(v, files["ca_other_ca"]), 401, "unauthenticated")
    # A suspended service.
    error_of(audit_as(v, files["gone"]), 403, "suspended")
    # Expired, or from a CA the server does not trust: the handshake fails.
    for name in ("expired", "rogue"):
        with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
            audit_as(v, files[name])
    # The server still serves.
    assert audit_as(v, files["fp"]).status_code == 200


def test_certificate_bindings_are_checked(mtls, tmp_path):
    v, files, certs = mtls
    add = ["principal", "add", v.dir]
    cases = [
        (["h1", "--kind", "user", "--role", "auditor", "--cert-fingerprint",
          certs["unbound"].fingerprint], "service principals only"),
        (["s1", "--kind", "service", "--role", "auditor", "--cert-fingerprint", "abc"],
         "64 hexadecimal digits"),
        (["s2", "--kind", "service", "--role", "auditor", "--cert-subject", "CN=x"],
         "both the CA and the subject"),
        (["s3", "--kind", "service", "--role", "auditor", "--cert-fingerprint",
          certs["unbound"].fingerprint, "--cert-ca", files["fp"][0], "--cert-subject", "CN=x"],
         "not both"),
        (["s4", "--kind", "service", "--role", "auditor", "--cert-ca", files["fp"][1],
          "--cert-subject", "CN=x"], "no PEM X.509 certificate"),
        (["s5", "--kind", "service", "--role", "auditor", "--cert-ca",
          write(tmp_path / "ca-and-key.pem", certs["fp"].pem + certs["fp"].key_pem),
          "--cert-subject", "CN=x"], "private key"),
    ]
    for args, words in cases:
        r = v.cli(*add, *args, check=False)
        assert r.returncode == EXIT_INVALID and words in r.stderr, (args, r.returncode, r.stderr)
    # A fingerprint bound twice.
    r = v.cli(*add, "s6", "--kind", "service", "--role", "auditor", "--cert-fingerprint",
              certs["fp"].fingerprint, check=False)
    assert r.returncode == 4, r.stderr
    # Removing the service frees its certificate: it authenticates nobody.
    v.cli(*add, "tmp-svc", "--kind", "service", "--role", "auditor", "--cert-fingerprint",
          certs["unbound"].fingerprint)
    assert audit_as(v, files["unbound"]).status_code == 200
    v.cli("principal", "remove", v.dir, "tmp-svc")
    assert audit_as(v, files["unbound"]).status_code == 401


def test_the_config_file_names_the_certificate_files(coffre_bin, tmp_path, ca):
    root, inter = ca
    v = Vault(coffre_bin, tmp_path)
    v.init()
    first = issue("localhost", inter)
    write(tmp_path / "fullchain.pem", first.pem + inter.pem + root.pem)
    write(tmp_path / "privkey.pem", first.key_pem).chmod(0o640)
    conf = tmp_path / "people.toml"
    # Relative paths are the config file's directory's.
    conf.write_text('[tls]\ncert = "fullchain.pem"\nkey = "privkey.pem"\n')
    conf.chmod(0o640)
    v.start(["--config", conf])
    try:
        assert served_fingerprint(v.port) == first.fingerprint
        second = issue("localhost", inter)
        write(tmp_path / "fullchain.pem", second.pem + inter.pem + root.pem)
        write(tmp_path / "privkey.pem", second.key_pem)
        v.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: served_fingerprint(v.port) == second.fingerprint, "the reloaded files")
    finally:
        stop_checked(v)
