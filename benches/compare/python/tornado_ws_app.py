"""Tornado's WebSocketHandler, serving what the chat example serves to the
WebSocket bench:

    python tornado_ws_app.py PORT

    /echo         each message back as it came
    /chatsocket   each text message to every open socket (write_message buffers)

One process, one IOLoop, no logging.
"""

import asyncio
import sys

import tornado.web
import tornado.websocket


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


class Chat(tornado.websocket.WebSocketHandler):
    members = set()

    def open(self):
        Chat.members.add(self)

    def on_message(self, message):
        for member in list(Chat.members):
            try:
                member.write_message(message)
            except tornado.websocket.WebSocketClosedError:
                Chat.members.discard(member)

    def on_close(self):
        Chat.members.discard(self)


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.write("Hello, world!")


async def main(port):
    app = tornado.web.Application([(r"/", Hello), (r"/echo", Echo), (r"/chatsocket", Chat)])
    app.listen(port, address="127.0.0.1")
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
