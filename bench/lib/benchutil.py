"""Helpers shared by the Python benchmarks (bench/http/run,
bench/credentials/run): process control, wrk runs with CPU accounting.

A wrk script used with `wrk_run` prints one line starting with RESULT_MARK
followed by a JSON object with at least requests, duration_us, p50_us,
p90_us, p99_us, max_us, connect, read, write, status and timeout (see
WRK_DONE).
"""

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RESULT_MARK = "COFFRE_BENCH_RESULT "
TICK = os.sysconf("SC_CLK_TCK")

# The done() of every wrk script: the figures as JSON (latency in
# microseconds). Percent signs are doubled for the %-formatting of scripts.
WRK_DONE = r"""
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "%(mark)s{\"requests\":%%d,\"duration_us\":%%d,\"p50_us\":%%d,\"p90_us\":%%d," ..
    "\"p99_us\":%%d,\"max_us\":%%d,\"connect\":%%d,\"read\":%%d,\"write\":%%d," ..
    "\"status\":%%d,\"timeout\":%%d}\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect, e.read, e.write, e.status, e.timeout))
end
"""

_prefix = "bench"


def set_prefix(name):
    global _prefix
    _prefix = name


def log(msg):
    print(f"{_prefix}: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def raise_fd_limit(wanted):
    """Raise this process's open-file limit (inherited by children) to
    `wanted`, or to the hard limit if lower."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


def wait_port(port, proc, what, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            die(f"{what} exited with status {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    die(f"{what} did not listen on port {port}")


def stop(proc):
    if proc and proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_coffre(coffre, vault, extra_args=(), log_file=None):
    """`coffre serve` on a free loopback port: (process, url, port). Its
    stderr (the server's log) goes to `log_file` if given, else nowhere."""
    stderr = open(log_file, "ab") if log_file else subprocess.DEVNULL
    server = subprocess.Popen([coffre, "serve", vault, "--listen", "127.0.0.1:0", *extra_args],
                              stdout=subprocess.PIPE, stderr=stderr, text=True)
    if log_file:
        stderr.close()
    ready = json.loads(server.stdout.readline() or "{}")
    if "listening" not in ready:
        die("coffre serve did not start")
    url = ready["listening"]
    return server, url, int(url.rsplit(":", 1)[1])


def process_tree_ticks(pid):
    """CPU time (user + system, in clock ticks) of `pid` and its live children."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
            with open(f"/proc/{p}/task/{p}/children") as f:
                todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return total


def machine_busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal: user, nice and system
    # only (the loopback network's softirq time is no process's, and is
    # there for the reference as for coffre)
    return v[0] + v[1] + v[2]


def proc_status_kib(pid, field):
    """A `kB` field of /proc/PID/status (VmRSS, VmHWM, ...), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    die(f"no {field} in /proc/{pid}/status")


def reset_peak_rss(pid):
    """Reset VmHWM to the current RSS (Linux clear_refs value 5)."""
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def wrk_run(url, script, threads, connections, seconds, server_pid=None):
    """One wrk run; with `server_pid`, also the CPU the server used per
    request and the CPU the rest of the machine (neither the server nor wrk)
    used meanwhile, in cores: other users' load that disturbed the run."""
    before_children = os.times()
    server0 = process_tree_ticks(server_pid) if server_pid else 0
    busy0, t0 = machine_busy_ticks(), time.time()
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
         "-s", script, url],
        check=True, capture_output=True, text=True).stdout
    elapsed = time.time() - t0
    server1 = process_tree_ticks(server_pid) if server_pid else 0
    busy1 = machine_busy_ticks()
    after_children = os.times()
    wrk_seconds = (after_children.children_user + after_children.children_system -
                   before_children.children_user - before_children.children_system)
    for line in out.splitlines():
        if line.startswith(RESULT_MARK):
            r = json.loads(line[len(RESULT_MARK):])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            server_seconds = (server1 - server0) / TICK
            r["server_cores"] = server_seconds / elapsed
            r["server_us_per_request"] = server_seconds * 1e6 / max(1, r["requests"])
            r["wrk_cores"] = wrk_seconds / elapsed
            r["other_cores"] = max(0.0, ((busy1 - busy0) / TICK - server_seconds - wrk_seconds) / elapsed)
            return r
    die("wrk printed no result:\n" + out)


def fmt_rps(x):
    return f"{x:,.0f}"


def fmt_ms(us):
    return f"{us / 1000:.2f} ms"
