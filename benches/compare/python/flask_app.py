"""A Flask endpoint as real apps have them: a path parameter, query
arguments, and a JSON answer of about 2 KB. Served by squall's embedded
interpreter and by granian, from the same virtualenv."""

from flask import Flask, jsonify, request

app = Flask(__name__)


@app.get("/items/<int:item_id>")
def item(item_id):
    limit = request.args.get("limit", 10, type=int)
    tags = request.args.getlist("tag")
    related = [
        {"id": item_id + i, "name": f"item {item_id + i}", "tags": tags, "score": round(1 / (i + 1), 4)}
        for i in range(1, limit + 1)
    ]
    return jsonify(id=item_id, name=f"item {item_id}", tags=tags, related=related)
