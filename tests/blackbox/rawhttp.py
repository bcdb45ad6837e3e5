"""HTTP/1.1 over TLS by hand, for requests that real clients will not send
(malformed framing, oversized bodies the server may refuse before reading).

    status, headers, body = exchange(port, cafile, b"GET /healthz HTTP/1.1\r\n...\r\n\r\n")

Single-threaded (an SSL object must not be read and written at once): the
request is written in pieces, and between pieces the socket is checked for
an early answer, so a server that answers 413 after the headers is read
before the client pushes a body it will not take. Every wait is bounded.
"""
import select
import socket
import ssl
import time


class NoResponse(Exception):
    """The server closed the connection (or stayed silent) without a response."""


def _connect(port, cafile, timeout):
    ctx = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def _readable(sock, wait):
    if sock.pending():
        return True
    r, _, _ = select.select([sock], [], [], wait)
    return bool(r)


def exchange(port, cafile, head: bytes, body_chunks=(), wait_after_head=0.0, timeout=20.0):
    """Sends `head` then each of `body_chunks`, stopping early if the server
    answers; returns (status, {lower-case header: value}, body)."""
    deadline = time.monotonic() + timeout
    sock = _connect(port, cafile, timeout)
    try:
        try:
            sock.sendall(head)
            answered = _readable(sock, wait_after_head)
            for chunk in body_chunks:
                if answered or _readable(sock, 0):
                    break
                sock.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass  # the server stopped reading: its answer may still be there
        return _read_response(sock, deadline)
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _read_response(sock, deadline):
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += _recv(sock, deadline)
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1."):
        raise NoResponse(f"not an HTTP response: {lines[0][:80]!r}")
    status = int(parts[1])
    headers = {}
    for line in lines[1:]:
        k, _, val = line.partition(":")
        headers[k.strip().lower()] = val.strip()
    length = int(headers.get("content-length", "0") or 0)
    while len(rest) < length:
        rest += _recv(sock, deadline)
    return status, headers, rest[:length]


def _recv(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise NoResponse("timed out")
    sock.settimeout(left)
    try:
        data = sock.recv(65536)
    except socket.timeout:
        raise NoResponse("timed out") from None
    except (OSError, ssl.SSLError) as e:
        raise NoResponse(f"connection ended: {e}") from None
    if not data:
        raise NoResponse("connection closed")
    return data


def request_head(method, path, headers, port):
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
