"""The WSGI app every gateway row serves: Hello, world! at once, or after
sleeping 50 ms on /slow (a call waiting on a database, say). Standard library
only, so that squall's embedded interpreter needs no virtualenv for it."""

import time

HELLO = b"Hello, world!"


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]
