"""A small Flask app, mounted under /flask by tests/python_frameworks.rs."""

import threading

from flask import Flask, Response, jsonify, request, stream_with_context, url_for

app = Flask(__name__)
released = threading.Event()


@app.get("/json")
def as_json():
    return jsonify(framework="flask", script_name=request.script_root, path=request.path)


@app.post("/form")
def form():
    return f"hello {request.form['name']}"


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return f"{f.filename} {len(data)} {request.form.get('note', '')}"


@app.post("/stream-in")
def stream_in():
    data = request.stream.read()
    return f"{len(data)} {request.headers.get('Content-Length')}"


@app.get("/generate")
def generate():
    released.clear()

    def chunks():
        yield "first\n"
        released.wait(10)
        yield "second\n"
        yield "third\n"

    return Response(stream_with_context(chunks()), mimetype="text/plain")


@app.get("/release")
def release():
    released.set()
    return "released"


@app.get("/url")
def external_url():
    return url_for("as_json", _external=True)


@app.post("/only-post")
def only_post():
    return "posted"


@app.get("/boom")
def boom():
    raise RuntimeError("flask-boom-marker-2291")
