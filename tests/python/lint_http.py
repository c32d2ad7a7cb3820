"""Lints HTTP exchanges with httplint, the message checker behind REDbot.

Reads exchanges from stdin, one per line: when the request was sent (Unix
seconds), the request head and the raw response, each hex-encoded,
separated by spaces. Prints one line for each
WARN or BAD note (and sub-note), naming the request; prints nothing when
every response is clean. The test that feeds it asserts on that output.
"""

import sys

from httplint import HttpRequestLinter, HttpResponseLinter
from httplint.note import levels


def split_head(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    fields = []
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        fields.append((name.strip(), value.strip()))
    return lines[0], fields, body


def dechunk(body):
    out = b""
    while body:
        size_line, _, body = body.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2:]
    return out


def walk(notes):
    for note in notes:
        yield note
        yield from walk(note.subnotes)


def lint(sent, request_raw, response_raw):
    top, fields, _ = split_head(request_raw)
    method, uri, version = top.split(b" ", 2)
    request = HttpRequestLinter()
    request.process_request_topline(method, uri, version)
    request.process_headers(fields)
    request.finish_content(True)

    top, fields, body = split_head(response_raw)
    version, status, phrase = (top.split(b" ", 2) + [b""])[:3]
    response = HttpResponseLinter(start_time=sent)
    response.request = request
    response.is_head_response = method == b"HEAD"
    response.process_response_topline(version, status, phrase)
    response.process_headers(fields)
    chunked = any(n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in fields)
    if response.can_have_content():
        response.feed_content(dechunk(body) if chunked else body)
    response.finish_content(True)
    label = " ".join(
        [method.decode(), uri.decode()]
        + [f"{n.decode()}: {v.decode()}" for n, v in split_head(request_raw)[1]
           if n.lower() not in (b"host",)]
    )
    for note in walk(response.notes):
        if note.level in (levels.WARN, levels.BAD):
            print(f"{label} -> {status.decode()} [{note.level.name}] {note.summary}")


for line in sys.stdin:
    if line.strip():
        sent, request_hex, response_hex = line.split()
        lint(float(sent), bytes.fromhex(request_hex), bytes.fromhex(response_hex))
