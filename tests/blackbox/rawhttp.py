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


def _connect(port, cafile, timeout, source_ip=None, before_tls=b""):
    ctx = ssl.create_default_context(cafile=str(cafile))
    raw = socket.create_connection(("127.0.0.1", port), timeout=timeout,
                                   source_address=(source_ip, 0) if source_ip else None)
    if before_tls:
        raw.sendall(before_tls)  # e.g. a PROXY protocol header
    return ctx.wrap_socket(raw, server_hostname="127.0.0.1")


def tls_connect(port, cafile, timeout=20.0, source_ip=None, before_tls=b""):
    """A TLS connection from `source_ip` (a 127.0.0.x address), after
    sending `before_tls` in clear."""
    return _connect(port, cafile, timeout, source_ip, before_tls)


def read_response(sock, timeout=20.0):
    """(status, {lower-case header: value}, body) of the next response."""
    return _read_response(sock, time.monotonic() + timeout)


def _readable(sock, wait, got):
    """True once the server has answered or closed; what it sent is added to
    `got`. A socket can be readable with no answer: TLS 1.3 session tickets
    arrive after the handshake, and reading them yields nothing."""
    if sock.pending():
        return True
    r, _, _ = select.select([sock], [], [], wait)
    if not r:
        return False
    saved = sock.gettimeout()
    sock.setblocking(False)
    try:
        got.append(sock.recv(65536))  # b"" once closed
        return True
    except ssl.SSLWantReadError:
        return False  # only session tickets
    except (OSError, ssl.SSLError):
        return True  # reset: whatever came is read next
    finally:
        sock.settimeout(saved)


def exchange(port, cafile, head: bytes, body_chunks=(), wait_after_head=0.0, timeout=20.0):
    """Sends `head` then each of `body_chunks`, stopping early if the server
    answers; returns (status, {lower-case header: value}, body)."""
    deadline = time.monotonic() + timeout
    sock = _connect(port, cafile, timeout)
    got = []
    try:
        try:
            sock.sendall(head)
            answered = _readable(sock, wait_after_head, got)
            for chunk in body_chunks:
                if answered or _readable(sock, 0, got):
                    break
                sock.sendall(chunk)
        except (OSError, ssl.SSLError):
            pass  # the server stopped reading: its answer may still be there
        return _read_response(sock, deadline, b"".join(got))
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _read_response(sock, deadline, buf=b""):
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
