"""Tornado, serving what squall serves in the comparison.

    python tornado_app.py PORT native            RequestHandler: Hello, world! on /
    python tornado_app.py PORT wsgi THREADS      WSGIContainer; THREADS 0 runs the app on the
                                                 IOLoop (Tornado's default), else a thread pool

The WSGI app is wsgi_app.py's, the one every gateway row serves.
One process, one IOLoop, no logging: the access log is left unconfigured.
"""

import asyncio
import sys
from concurrent.futures import ThreadPoolExecutor

import tornado.httpserver
import tornado.web
import tornado.wsgi

from wsgi_app import HELLO
from wsgi_app import app as wsgi_app


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
