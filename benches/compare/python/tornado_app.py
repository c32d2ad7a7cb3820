"""Tornado, serving what squall serves in the comparison.

    python tornado_app.py PORT native            RequestHandler: Hello, world! on /
    python tornado_app.py PORT wsgi THREADS      WSGIContainer; THREADS 0 runs the app on the
                                                 IOLoop (Tornado's default), else a thread pool

The WSGI app answers Hello, world! at once, or after sleeping 50 ms on /slow.
One process, one IOLoop, no logging: the access log is left unconfigured.
"""

import asyncio
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import tornado.httpserver
import tornado.web
import tornado.wsgi

HELLO = b"Hello, world!"


def wsgi_app(environ, start_response):
    if environ.get("PATH_INFO") == "/slow":
        time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write(HELLO)


async def main(port, mode, threads):
    if mode == "native":
        app = tornado.web.Application([(r"/", Hello)])
    elif threads == 0:
        app = tornado.wsgi.WSGIContainer(wsgi_app)
    else:
        app = tornado.wsgi.WSGIContainer(wsgi_app, executor=ThreadPoolExecutor(threads))
    server = tornado.httpserver.HTTPServer(app)
    server.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    port, mode = int(sys.argv[1]), sys.argv[2]
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    asyncio.run(main(port, mode, threads))
