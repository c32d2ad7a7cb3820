"""Tornado's StaticFileHandler over a directory: python tornado_static_app.py PORT DIR.

One process, one IOLoop, no logging.
"""

import asyncio
import sys

import tornado.web


async def main(port, root):
    app = tornado.web.Application([(r"/(.*)", tornado.web.StaticFileHandler, {"path": root})])
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
