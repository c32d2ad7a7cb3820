"""WSGI apps the Python tests mount: plain PEP 3333 callables, no framework."""

import threading
import time
from wsgiref.validate import validator

CLOSED = []


def _hello(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
    elif path == "/lines":
        stream = environ["wsgi.input"]
        first = stream.readline()
        rest = stream.readlines()
        body = b"|".join([first] + rest)
    elif path.startswith("/environ"):
        body = "\n".join(f"{k}={v}" for k, v in sorted(environ.items()) if isinstance(v, str)).encode("latin-1")
    elif path == "/errors":
        environ["wsgi.errors"].write("python-error-marker-7731\n")
        body = b"logged"
    else:
        body = b"Hello, world!"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


# Every request through the stdlib's own PEP 3333 checker.
validated = validator(_hello)


def lazy(environ, start_response):
    """Calls start_response only inside the first iteration, as PEP 3333 allows."""
    def body():
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Lazy", "yes")])
        yield b"lazy "
        yield b""
        yield b"body"
    return body()


def legacy_write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"then returned"]


def latin1_header(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Name", "caf\xe9")])
    return [b"ok"]


class Closing:
    def __init__(self, chunks, tag):
        self.chunks, self.tag = chunks, tag

    def __iter__(self):
        for chunk in self.chunks:
            if chunk is None:
                raise RuntimeError("failed mid-body")
            yield chunk

    def close(self):
        CLOSED.append(self.tag)


def closing(environ, start_response):
    tag = environ["QUERY_STRING"]
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] == "/fails":
        return Closing([b"part", None], tag)
    return Closing([b"complete"], tag)


def closed(environ, start_response):
    body = ",".join(CLOSED).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def exc_info_before_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("replaced")
    except ValueError:
        import sys
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"replaced by the error page"]


def broken(environ, start_response):
    kind = environ["PATH_INFO"].strip("/")
    if kind == "str-body":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return ["text, not bytes"]
    if kind == "bytes-status":
        start_response(b"200 OK", [])
        return [b"x"]
    if kind == "crlf-header":
        start_response("200 OK", [("X-Bad", "a\r\nInjected: yes")])
        return [b"x"]
    if kind == "non-latin1-header":
        start_response("200 OK", [("X-Bad", "\u20ac")])
        return [b"x"]
    if kind == "raises":
        raise KeyError("python-raise-marker-4410")
    if kind == "no-start":
        return [b"never started"]
    return [b"?"]


_barrier = threading.Barrier(2)


def barrier(environ, start_response):
    """Meets another call within 400 ms when two run at once."""
    try:
        _barrier.wait(timeout=0.4)
        body = b"met"
    except threading.BrokenBarrierError:
        _barrier.reset()
        body = b"alone"
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def slow(environ, start_response):
    time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"Hello, world!"]


def exc_info_after_body(environ, start_response):
    """Calls start_response with exc_info after the first chunk went out: PEP
    3333 says it must raise the error again, so the response is cut."""
    import sys
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b"first part"
    try:
        raise ValueError("python-late-error-5150")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    yield b"never sent"


def sleepy(environ, start_response):
    time.sleep(0.7)
    body = ("multiprocess=%s" % environ["wsgi.multiprocess"]).encode()
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [body]


def interpreter(environ, start_response):
    """What a virtualenv decides: the interpreter's prefixes and path, and
    which `six` it imports (one is installed system-wide)."""
    import json
    import sys
    try:
        import six
        six_version = six.__version__
    except ImportError:
        six_version = None
    body = json.dumps({
        "prefix": sys.prefix,
        "exec_prefix": sys.exec_prefix,
        "executable": sys.executable,
        "path": sys.path,
        "six": six_version,
    }).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
