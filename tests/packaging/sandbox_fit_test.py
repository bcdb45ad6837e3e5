#!/usr/bin/python3
"""The unit's sandbox fits the server it confines (issue 15).

Where PID 1 is not systemd the unit cannot be started, and a sandbox that
forbids what the server needs fails only in production. So this runs the real
`coffre serve` under strace through a server's work (HTTPS, the admin socket,
an import, a principal, an erasure, a retention sweep, a clean stop) and holds
what it did to packaging/coffre@.service:
  - every system call is allowed by the unit's SystemCallFilter= lines, with
    the groups expanded by `systemd-analyze syscall-filter`;
  - every path it writes (opens for writing, creates, renames, links,
    removes, changes the mode of, binds a socket at) is the vault, inside it,
    its erasure journal or its audit anchor: the unit's ReadWritePaths=;
  - every socket it opens is of a family in RestrictAddressFamilies=;
  - under /proc it reads only its own process (ProcSubset=pid), and
    /proc/sys/kernel/random/uuid, which RocksDB falls back from.
A self-check feeds the checker a trace line that breaks each rule.

Then, as root where namespaces can be made, it runs the server in what of the
sandbox a shell can build without systemd: its own mount and PID namespaces,
the whole file system read-only but the three ReadWritePaths (bind mounts),
/proc with subset=pid and hidepid=invisible, as a uid without a passwd entry
(the vault's owner), no supplementary groups, no capabilities in any set and
no_new_privs. The server must serve, take an import, an erasure and a sweep
over its admin socket from commands run as root (which become that uid:
src/cli/run_as_owner.h), stop cleanly, and leave no file of another owner.

    sandbox_fit_test.py COFFRE SOURCE_DIR UNIT
Exit 77 (skipped) without strace or systemd-analyze.
"""

import os
import pwd
import re
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import urllib.request

TOLERATED_PROC = {"/proc/sys/kernel/random/uuid"}
OWN_PROC = re.compile(r"^/proc/(self|thread-self|\d+)(/|$)")
CALL = re.compile(r"^\d+ +([a-z_0-9]+)\((.*)$")
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC")
STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
# Calls whose every string argument is a path they change.
PATH_WRITERS = {"mkdir", "mkdirat", "rename", "renameat", "renameat2", "unlink", "unlinkat",
                "link", "linkat", "symlink", "symlinkat", "chmod", "fchmodat", "truncate",
                "rmdir", "mknod", "mknodat", "chown", "lchown", "fchownat", "utimensat"}


def expand(token, cache):
    """A SystemCallFilter= token as a set of system call names."""
    if not token.startswith("@"):
        return {token}
    if token not in cache:
        out = subprocess.run(["systemd-analyze", "syscall-filter", token], check=True,
                             capture_output=True, text=True).stdout
        names = set()
        for line in out.splitlines()[1:]:
            line = line.strip()
            if line and not line.startswith("#"):
                names |= expand(line, cache)
        cache[token] = names
    return cache[token]


def unit_rules(unit):
    """(allowed system calls, read-write paths for INSTANCE, address families)."""
    cache, allowed, allow_list = {}, set(), None
    rw, families = [], set()
    with open(unit) as f:
        for line in f:
            line = line.strip()
            if line.startswith("SystemCallFilter="):
                value = line.split("=", 1)[1]
                negate = value.startswith("~")
                names = set().union(*(expand(t, cache) for t in value.lstrip("~").split()))
                if allow_list is None:
                    allow_list = not negate
                if negate:
                    allowed -= names
                else:
                    allowed |= names
            elif line.startswith("ReadWritePaths="):
                rw += line.split("=", 1)[1].split()
            elif line.startswith("RestrictAddressFamilies="):
                families |= set(line.split("=", 1)[1].split())
    if not allow_list:
        sys.exit("FAIL: %s has no allow-list SystemCallFilter=" % unit)
    return allowed, rw, families


def violations(trace_lines, allowed, rw_paths, families):
    """What the trace did that the unit forbids, one line each."""
    found = []

    def writable(path):
        if not path.startswith("/"):
            return False  # relative to an unknown directory: not provably inside
        path = os.path.normpath(path)
        if OWN_PROC.match(path):
            return True  # a thread's name (comm): /proc stays writable under ProtectSystem=strict
        return any(path == p or path.startswith(p + "/") for p in rw_paths)

    for line in trace_lines:
        m = CALL.match(line)
        if not m:
            continue
        name, args = m.groups()
        if name not in allowed:
            found.append("system call %s is not in SystemCallFilter=" % name)
        strings = STRING.findall(args)
        if name in ("open", "openat", "creat", "openat2") and strings:
            path = strings[0]
            if name == "creat" or WRITE_FLAGS.search(args):
                if not writable(path) and path != "/dev/null":
                    found.append("writes %s (%s), outside ReadWritePaths=" % (path, name))
            if path.startswith("/proc/") and path not in TOLERATED_PROC and not OWN_PROC.match(path):
                found.append("reads %s, hidden by ProcSubset=pid" % path)
        elif name in PATH_WRITERS:
            for path in strings:
                if not writable(path):
                    found.append("%s %s, outside ReadWritePaths=" % (name, path))
        elif name == "bind" and "sun_path=" in args:
            path = re.search(r'sun_path="([^"]*)"', args).group(1)
            if not writable(path):
                found.append("binds a socket at %s, outside ReadWritePaths=" % path)
        elif name == "socket":
            family = args.split(",", 1)[0].strip()
            if family not in families:
                found.append("opens a %s socket, not in RestrictAddressFamilies=" % family)
    return sorted(set(found))


def run(cmd, **kw):
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if done.returncode != 0:
        sys.exit("FAIL: %s exited %d: %s" % (" ".join(cmd[:3]), done.returncode, done.stderr))
    return done


def serve_and_work(coffre, vault, server, tmp):
    """Reads the server's address, does a server's work through it, stops it."""
    try:
        line = server.stdout.readline()
        match = re.search(r'"listening":"([^"]+)"', line)
        if not match:
            raise AssertionError("the server did not start: %r" % line)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        with urllib.request.urlopen(match.group(1) + "/healthz", context=context,
                                    timeout=30) as r:
            assert r.status == 200, r.status
        people = run([coffre, "gen", "--count", "30"]).stdout
        ids = os.path.join(os.path.dirname(vault), "ids.ndjson")  # writable by the owner
        rejects = os.path.join(os.path.dirname(vault), "rejects")
        run([coffre, "import", vault, "people", "-", "--ids-out", ids, "--rejects", rejects],
            input=people)
        run([coffre, "principal", "add", vault, "crm", "--kind", "service",
             "--role", "support_agent"])
        with open(ids) as f:
            subject = re.search(r'"subject":"([0-9a-f]+)"', f.readline()).group(1)
        run([coffre, "erase-subject", vault, subject])
        run([coffre, "retention", "run", vault])
    finally:
        # The server is the child of strace or unshare: SIGTERM, its clean stop.
        with open("/proc/%d/task/%d/children" % (server.pid, server.pid)) as f:
            children = f.read().split()
        for child in children:
            os.kill(int(child), signal.SIGTERM)
        server.wait(timeout=120)


# The sandbox a shell can build: $1 the vault, then the command.
EMULATED_SANDBOX = r"""
set -e
vault=$1; uid=$2; shift 2
for p in "$vault" "$vault.erasures" "$vault.audit-anchor"; do mount --bind "$p" "$p"; done
mount --bind / / 2>/dev/null || true
mount -o remount,bind,ro /
mount -t proc -o subset=pid,hidepid=invisible proc /proc
exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs \
  --bounding-set=-all --inh-caps=-all --ambient-caps=-all -- "$@"
"""


def emulated_sandbox(coffre, src, tmp):
    """Phase 2 (see the module's help); a reason when it cannot run here."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        return "needs root, unshare and setpriv"
    if subprocess.run(["unshare", "-m", "-p", "-f", "true"], capture_output=True).returncode:
        return "namespaces cannot be made here"
    uid = 61000
    while True:
        try:
            pwd.getpwuid(uid)
            uid += 1
        except KeyError:
            break
    base = os.path.join(tmp, "sandboxed")
    os.mkdir(base)
    os.chmod(tmp, 0o755)
    vault = os.path.join(base, "people")
    run([coffre, "init", vault, "--schema", os.path.join(src, "examples/people.toml"),
         "--policy", os.path.join(src, "examples/people-policy.toml")])
    run(["chown", "-R", "%d:%d" % (uid, uid), base])
    server = subprocess.Popen(
        ["unshare", "-m", "-p", "-f", "--propagation", "private", "sh", "-c", EMULATED_SANDBOX,
         "sh", vault, str(uid), coffre, "serve", vault, "--listen", "127.0.0.1:0"],
        cwd="/", env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0"), stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True)
    serve_and_work(coffre, vault, server, tmp)
    if server.returncode != 0:
        sys.exit("FAIL: the sandboxed server exited %d: %s" % (server.returncode,
                                                             server.stderr.read()))
    strays = run(["find", base, "(", "!", "-uid", str(uid), "-o", "!", "-gid", str(uid), ")",
                  "-print"]).stdout
    if strays:
        sys.exit("FAIL: files of another owner beside the sandboxed server: " + strays)
    return None


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: sandbox_fit_test.py COFFRE SOURCE_DIR UNIT")
    coffre, src, unit = sys.argv[1:]
    if not shutil.which("strace") or not shutil.which("systemd-analyze"):
        print("SKIPPED: needs strace and systemd-analyze")
        sys.exit(77)
    allowed, rw_template, families = unit_rules(unit)

    # Self-check: each rule catches its breach.
    probe_rw = [p.replace("/var/lib/coffre/%i", "/v/people") for p in rw_template]
    bad = ['1 ptrace(PTRACE_ATTACH, 2) = 0',
           '1 openat(AT_FDCWD, "/etc/coffre/people.key.new", O_WRONLY|O_CREAT, 0600) = 3',
           '1 rename("/v/people/x", "/v/other") = 0',
           '1 socket(AF_NETLINK, SOCK_RAW, 0) = 3',
           '1 openat(AT_FDCWD, "/proc/meminfo", O_RDONLY) = 3']
    good = ['1 openat(AT_FDCWD, "/v/people/000001.sst", O_WRONLY|O_CREAT, 0644) = 3',
            '1 openat(AT_FDCWD, "/v/people.audit-anchor", O_WRONLY|O_APPEND) = 3',
            '1 socket(AF_INET6, SOCK_STREAM, 0) = 3']
    if len(violations(bad, allowed, probe_rw, families)) != len(bad):
        sys.exit("FAIL: self-check: the checker missed a breach: %s"
                 % violations(bad, allowed, probe_rw, families))
    if violations(good, allowed, probe_rw, families):
        sys.exit("FAIL: self-check: the checker refused %s" % violations(good, allowed, probe_rw,
                                                                          families))

    tmp = tempfile.mkdtemp()
    try:
        vault = os.path.join(tmp, "people")
        rw_paths = [p.replace("/var/lib/coffre/%i", vault) for p in rw_template]
        run([coffre, "init", vault, "--schema", os.path.join(src, "examples/people.toml"),
             "--policy", os.path.join(src, "examples/people-policy.toml")])
        trace = os.path.join(tmp, "trace")
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=0")  # LeakSanitizer ptraces at exit
        server = subprocess.Popen(
            ["strace", "-f", "-qq", "-s", "4096", "-o", trace, "--", coffre, "serve", vault,
             "--listen", "127.0.0.1:0"], cwd="/", env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True)
        serve_and_work(coffre, vault, server, tmp)
        with open(trace) as f:
            lines = f.readlines()
        # The work was the server's (over its admin socket), not the CLI's own.
        journal, anchor = rw_paths[1], rw_paths[2]
        for what, needle in (("the import", re.escape(vault + "/import-tmp-")),
                             ("the erasure", '"%s", O_(WRONLY|RDWR)' % re.escape(journal)),
                             ("an anchor checkpoint", '"%s", O_(WRONLY|RDWR)' % re.escape(anchor))):
            if not any(re.search(needle, line) for line in lines):
                sys.exit("FAIL: the traced server did not run %s (%s)" % (what, needle))
        found = violations(lines, allowed, rw_paths, families)
        if found:
            sys.exit("FAIL: the server does what coffre@.service forbids:\n  " + "\n  ".join(found))
        calls = {m.group(1) for m in map(CALL.match, lines) if m}
        print("ok: %d trace lines, %d distinct system calls, all within the unit"
              % (len(lines), len(calls)))
        why_not = emulated_sandbox(coffre, src, tmp)
        print("ok: the server ran in the emulated sandbox" if why_not is None
              else "emulated sandbox not run: " + why_not)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
