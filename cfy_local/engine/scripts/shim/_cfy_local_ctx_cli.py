"""The ``ctx`` command of script operations (Python client).

This file runs in the script's process, started as ``python -I -S`` by the per-operation
``ctx`` executable, once per ``ctx`` call: every millisecond of start-up counts, as a script
typically calls ``ctx`` several times. So the client is dumb on purpose: it imports only
built-in C modules (``_socket``, ``posix``; not even ``os``), sends its raw arguments to
the operation's proxy, and prints what the proxy answers. Option parsing, ``@`` JSON
decoding, resolution and output formatting all happen in the proxy
(cfy_local/engine/scripts/ctx_proxy.py), so every client behaves the same.

Wire format (CLI requests):
  request:  b"CTX1\\0" + token + b"\\0" + arg1 + b"\\0" + arg2 ...   (argv cannot hold NUL)
  response: b"<exit code> <stdout length>\\n" + stdout bytes + stderr bytes
"""
import posix
import sys

import _socket

MAGIC = b"CTX1\0"
DEFAULT_TIMEOUT = 30.0

CLOSED_MESSAGE = ("ctx: the context proxy of this operation is closed: the operation has ended, "
                  "and ctx can only be used while its operation runs\n")


def _connection_options(argv):
    """The two options the client itself needs: where to connect, and how long to wait."""
    socket_url = None
    timeout = DEFAULT_TIMEOUT
    index = 0
    while index < len(argv):
        arg = argv[index]
        index += 1
        if arg == "--":
            break
        name, eq, value = arg.partition("=")
        if name in ("-t", "--timeout", "--socket-url") and (not eq or name.startswith("--")):
            if not eq:
                if index >= len(argv):
                    continue   # the proxy reports the missing value
                value = argv[index]
                index += 1
            if name == "--socket-url":
                socket_url = value
            else:
                try:
                    timeout = float(value)
                except ValueError:
                    pass       # the proxy reports the bad number
    return socket_url, timeout


def _fail(message):
    sys.stderr.write(message)
    return 1


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    socket_url, timeout = _connection_options(argv)
    if socket_url is None:
        socket_url = posix.environ.get(b"CTX_SOCKET_URL", b"").decode("utf-8", "surrogateescape")
    if not socket_url:
        return _fail("ctx: Missing CTX_SOCKET_URL environment variable or socket_url command line argument\n")
    scheme, sep, path = socket_url.partition("://")
    if not sep or scheme != "unix":
        return _fail("ctx: Unsupported protocol: %s (the ctx proxy of cfy-local listens on a unix:// socket)\n"
                     % (scheme if sep else socket_url))
    token = posix.environ.get(b"CFY_LOCAL_CTX_TOKEN", b"")
    request = MAGIC + b"\0".join([token] + [arg.encode("utf-8", "surrogateescape") for arg in argv])
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    chunks = []
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return _fail(CLOSED_MESSAGE)
        sock.sendall(request)
        sock.shutdown(_socket.SHUT_WR)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    except _socket.timeout:
        return _fail("ctx: no answer from the ctx proxy within %s seconds\n" % timeout)
    except OSError as err:
        return _fail("ctx: cannot reach the ctx proxy: %s\n" % (err,))
    finally:
        sock.close()
    data = b"".join(chunks)
    header, newline, body = data.partition(b"\n")
    try:
        exit_code, stdout_length = [int(field) for field in header.split(b" ")]
    except ValueError:
        if not data:
            return _fail(CLOSED_MESSAGE)
        return _fail("ctx: unexpected answer from the ctx proxy\n")
    out = sys.stdout.buffer
    out.write(body[:stdout_length])
    out.flush()
    if len(body) > stdout_length:
        err = sys.stderr.buffer
        err.write(body[stdout_length:])
        err.flush()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
