"""A real Tornado app for squall's cookie and XSRF interop tests.

    python tornado_interop.py PORT SECRET                 one cookie_secret
    python tornado_interop.py PORT 1=OLD,2=NEW CURRENT    a dict of secrets and key_version

    GET  /form          the xsrf_form_html (and the _xsrf cookie)
    POST /post          "accepted" when the XSRF check passes (403 otherwise)
    GET  /set?value=V   set_signed_cookie("user", V)
    GET  /get           get_signed_cookie("user"), or "none"
"""

import asyncio
import sys

import tornado.web


class Form(tornado.web.RequestHandler):
    def get(self):
        self.write(self.xsrf_form_html())


class Post(tornado.web.RequestHandler):
    def post(self):
        self.write("accepted")


class SetUser(tornado.web.RequestHandler):
    def get(self):
        self.set_signed_cookie("user", self.get_argument("value"))
        self.write("set")


class GetUser(tornado.web.RequestHandler):
    def get(self):
        value = self.get_signed_cookie("user")
        self.write(value.decode() if value is not None else "none")


async def main():
    port = int(sys.argv[1])
    settings = {"xsrf_cookies": True}
    if len(sys.argv) > 3:
        settings["cookie_secret"] = {int(k): v for k, v in (p.split("=", 1) for p in sys.argv[2].split(","))}
        settings["key_version"] = int(sys.argv[3])
    else:
        settings["cookie_secret"] = sys.argv[2]
    app = tornado.web.Application(
        [(r"/form", Form), (r"/post", Post), (r"/set", SetUser), (r"/get", GetUser)], **settings
    )
    app.listen(port, address="127.0.0.1")
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
