"""esb's offline DynamoDB service: moto's DynamoDB API with a write-ahead journal.

moto keeps everything in memory. This launcher makes it durable: every mutating request that moto
accepted (2xx) is appended to a journal file in the data volume and fsync'ed *before* the answer
leaves, so an acknowledged write survives `kill -9` of the service (and of the machine, as far as
the disk keeps its promises). On start, the journal is replayed into a fresh moto, in order.
Mutating requests are applied one at a time (a lock), so the journal's order is the order of effect.

Usage: esb_dynamodb.py --journal /data/journal.jsonl --port 8000
"""
import argparse
import io
import json
import os
import sys
import threading
import time

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
from werkzeug.test import EnvironBuilder

MUTATING = {
    "CreateTable", "DeleteTable", "UpdateTable", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactWriteItems", "UpdateTimeToLive", "TagResource", "UntagResource",
    "UpdateContinuousBackups", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
}


def log(message, **fields):
    print(json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "message": message, **fields}), flush=True)


class Journal:
    """WSGI middleware: journal accepted mutating requests, durably, before answering."""

    def __init__(self, app, path):
        self.app = app
        self.path = path
        self.lock = threading.Lock()
        self.file = open(path, "ab")

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.rsplit(".", 1)[-1] not in MUTATING:
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(body)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        with self.lock:
            chunks = b"".join(self.app(environ, capture))
            if captured.get("status", "500").startswith("2"):
                entry = {
                    "target": target,
                    "authorization": environ.get("HTTP_AUTHORIZATION", ""),
                    "body": body.decode("utf-8"),
                }
                self.file.write(json.dumps(entry).encode() + b"\n")
                self.file.flush()
                os.fsync(self.file.fileno())
        start_response(captured["status"], captured["headers"])
        return [chunks]


def replay(app, path):
    if not os.path.exists(path):
        return 0
    count = 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                # A torn last line (the process died mid-write) was never acknowledged.
                log("journal: skipping an incomplete last entry")
                break
            env = EnvironBuilder(
                method="POST", path="/", data=entry["body"].encode(),
                headers={
                    "X-Amz-Target": entry["target"], "Authorization": entry["authorization"],
                    "Content-Type": "application/x-amz-json-1.0", "Host": "localhost",
                },
            ).get_environ()
            b"".join(app(env, lambda status, headers, exc_info=None: None))
            count += 1
    return count


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", default="/data/journal.jsonl")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.journal) or ".", exist_ok=True)
    app = DomainDispatcherApplication(create_backend_app)
    started = time.time()
    replayed = replay(app, args.journal)
    log("journal replayed", entries=replayed, seconds=round(time.time() - started, 3))
    run_simple(args.host, args.port, Journal(app, args.journal), threaded=True, use_reloader=False)


if __name__ == "__main__":
    sys.exit(main())
