"""esb's offline DynamoDB service: moto's DynamoDB API with a write-ahead journal.

moto keeps everything in memory. This launcher makes it durable: every mutating request that moto
accepted (2xx) is appended to a journal file in the data volume and fsync'ed *before* the answer
leaves, so an acknowledged write survives `kill -9` of the service (and of the machine, as far as
the disk keeps its promises). On start, the journal is replayed into a fresh moto, in order.
Mutating requests are applied one at a time (a lock), so the journal's order is the order of effect.

Compaction: a journal of N writes replays in time proportional to N, however few items are left.
When a replay saw at least --compact-after entries, the launcher writes the state it rebuilt as a
new, short journal (per table: CreateTable, UpdateTimeToLive, TagResource, one PutItem per item),
checks that replaying it into an emptied moto gives exactly the same items, and only then swaps it in atomically
(write, fsync, rename, fsync the directory). A crash at any point leaves the old journal whole.

Torn journals (a power cut or a full disk mid-write): the journal is read whole before anything
is replayed. Unreadable lines (a torn tail, or a line an older esb appended behind one) are set
aside in `<journal>.bad-<time>` with a copy of the whole file, the journal is rewritten without
them (write, fsync, rename), and every readable line is replayed: no acknowledged write is lost,
and nothing is ever appended behind an unreadable line.

Only operations the journal can replay are served: reads, and the writes in MUTATING. Everything
else moto would accept (backups and restores, whose ARNs a replay cannot reproduce, imports,
exports, global tables) is refused with a named error instead of being acknowledged and lost at the
next restart. Requests that are not DynamoDB JSON get DynamoDB's errors (SerializationException,
UnknownOperationException, MissingAuthenticationTokenException), never moto's HTML or another
service's answer. Items nested deeper than DynamoDB's 32 levels are refused as DynamoDB refuses them.

Signatures: moto checks none, so this launcher verifies SigV4 itself, as DynamoDB does: the access
key must be esb's (ESB_ACCESS_KEY_ID / ESB_SECRET_ACCESS_KEY), the credential scope esb's region
(--region), service `dynamodb` and the request's date, the request at most 15 minutes old or
early, and the signature over the canonical request must match (compared in constant time).

Usage: esb_dynamodb.py --journal /data/journal.jsonl --port 8000 [--compact-after 1000] [--region us-east-1]
"""
import argparse
import calendar
import hashlib
import hmac
import io
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple
from werkzeug.test import EnvironBuilder

MUTATING = {
    "CreateTable", "DeleteTable", "UpdateTable", "PutItem", "UpdateItem", "DeleteItem",
    "BatchWriteItem", "TransactWriteItems", "UpdateTimeToLive", "TagResource", "UntagResource",
    "UpdateContinuousBackups", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction",
}
# Read-only: served as they are.
READS = {
    "GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", "DescribeTable", "ListTables",
    "DescribeTimeToLive", "ListTagsOfResource", "DescribeContinuousBackups", "DescribeLimits",
    "DescribeEndpoints", "ListBackups", "DescribeBackup", "DescribeContributorInsights",
    "ListContributorInsights", "DescribeKinesisStreamingDestination", "DescribeTableReplicaAutoScaling",
    "ListGlobalTables", "DescribeGlobalTable", "DescribeGlobalTableSettings", "ListExports", "ListImports",
    "DescribeExport", "DescribeImport", "GetResourcePolicy",
    # DynamoDB Streams
    "DescribeStream", "GetShardIterator", "GetRecords", "ListStreams",
}
TARGET_PREFIXES = ("DynamoDB_20120810.", "DynamoDBStreams_20120810.")
# DynamoDB's deepest nesting of maps and lists in an item.
MAX_DEPTH = 32


def depth(value):
    """How deep maps and lists nest in an attribute value (a scalar is 0)."""
    best, stack = 0, [(value, 0)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict):
            for k, inner in v.items():
                if k == "M" and isinstance(inner, dict):
                    best = max(best, d + 1)
                    stack.extend((x, d + 1) for x in inner.values())
                elif k == "L" and isinstance(inner, list):
                    best = max(best, d + 1)
                    stack.extend((x, d + 1) for x in inner)
    return best


def too_deep(body):
    """True when any attribute value in a write request nests deeper than DynamoDB allows."""
    stack = [body]
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            for k, inner in v.items():
                if k in ("Item", "ExpressionAttributeValues", "Key") and isinstance(inner, dict):
                    if any(depth(x) > MAX_DEPTH for x in inner.values()):
                        return True
                stack.append(inner)
        elif isinstance(v, list):
            stack.extend(v)
    return False


def error(start_response, status, kind, message):
    """DynamoDB's JSON error shape."""
    body = json.dumps({"__type": "com.amazonaws.dynamodb.v20120810#" + kind, "message": message}).encode()
    start_response(status, [("Content-Type", "application/x-amz-json-1.0"), ("Content-Length", str(len(body)))])
    return [body]


SIGV4 = re.compile(r"AWS4-HMAC-SHA256 Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")
# How far a request's X-Amz-Date may be from now, as AWS allows.
CLOCK_SKEW = 15 * 60


class Credentials:
    """The one key pair and region requests must be signed with."""

    def __init__(self, access_key, secret_key, region):
        self.access_key, self.secret_key, self.region = access_key, secret_key, region


def header_value(environ, name):
    """A request header as WSGI holds it (CONTENT_TYPE and CONTENT_LENGTH have no HTTP_ prefix)."""
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = "HTTP_" + key
    return environ.get(key)


def signature_problem(environ, body, creds, now):
    """None when the request carries a valid SigV4 signature of `creds`, else (error type, message)."""
    m = SIGV4.match(environ.get("HTTP_AUTHORIZATION", "").strip())
    if not m:
        return "IncompleteSignatureException", "the Authorization header is not AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=..."
    credential, signed, signature = m.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return "IncompleteSignatureException", "the credential must be <key>/<date>/<region>/dynamodb/aws4_request"
    key, day, region, service, _ = parts
    if not hmac.compare_digest(key.encode(), creds.access_key.encode()):
        return "UnrecognizedClientException", "The security token included in the request is invalid (sign with esb's local credentials)."
    if service != "dynamodb":
        return "InvalidSignatureException", f"Credential should be scoped to correct service: 'dynamodb', not '{service}'."
    if region != creds.region:
        return "InvalidSignatureException", f"Credential should be scoped to a valid region: '{creds.region}', not '{region}'."
    amz_date = environ.get("HTTP_X_AMZ_DATE", "")
    try:
        signed_at = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    except ValueError:
        return "IncompleteSignatureException", "the X-Amz-Date header must be an ISO 8601 basic time, e.g. 20261202T010203Z"
    if not amz_date.startswith(day):
        return "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP"
    if abs(now - signed_at) > CLOCK_SKEW:
        return "InvalidSignatureException", f"Signature expired: {amz_date} is more than 15 minutes from the server's time"
    names = signed.split(";")
    if "host" not in names or names != sorted(names):
        return "InvalidSignatureException", "SignedHeaders must list host, in order"
    lines = []
    for name in names:
        value = header_value(environ, name)
        if value is None:
            return "InvalidSignatureException", f"the signed header {name} is not in the request"
        lines.append(f"{name}:{' '.join(value.split())}\n")
    raw_path = (environ.get("RAW_URI") or environ.get("REQUEST_URI") or environ.get("PATH_INFO") or "/").split("?", 1)[0]
    pairs = urllib.parse.parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query = "&".join(f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}" for k, v in sorted(pairs))
    payload = environ.get("HTTP_X_AMZ_CONTENT_SHA256") or hashlib.sha256(body).hexdigest()
    canonical = "\n".join([
        environ.get("REQUEST_METHOD", ""), urllib.parse.quote(raw_path or "/", safe="/~"), query, "".join(lines), signed, payload,
    ])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    k = ("AWS4" + creds.secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        return "InvalidSignatureException", "The request signature we calculated does not match the signature you provided."
    return None


def log(message, **fields):
    print(json.dumps({"timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "message": message, **fields}), flush=True)


class Journal:
    """WSGI middleware: journal accepted mutating requests, durably, before answering."""

    def __init__(self, app, path, creds):
        self.app = app
        self.path = path
        self.creds = creds
        self.lock = threading.Lock()
        self.file = open(path, "ab")

    def __call__(self, environ, start_response):
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith(TARGET_PREFIXES):
            if not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256 "):
                return error(start_response, "400 Bad Request", "MissingAuthenticationTokenException", "Request is missing Authentication Token")
            return error(start_response, "400 Bad Request", "UnknownOperationException", f"unknown operation `{target}`: this is DynamoDB (X-Amz-Target DynamoDB_20120810.<Operation>)")
        if not environ.get("HTTP_AUTHORIZATION", "").startswith("AWS4-HMAC-SHA256 "):
            return error(start_response, "400 Bad Request", "MissingAuthenticationTokenException", "Request is missing Authentication Token")
        operation = target.split(".", 1)[1]
        if operation not in MUTATING and operation not in READS:
            return error(
                start_response, "400 Bad Request", "ValidationException",
                f"{operation} is not supported by esb's built-in DynamoDB: its effect could not be kept across a restart",
            )
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length)
        problem = signature_problem(environ, body, self.creds, time.time())
        if problem:
            log("request refused", target=target, reason=problem[1])
            return error(start_response, "400 Bad Request", *problem)
        try:
            parsed = json.loads(body or b"{}")
            if not isinstance(parsed, dict):
                raise ValueError("not an object")
        except ValueError:
            return error(start_response, "400 Bad Request", "SerializationException", "the request body is not a JSON object")
        if operation in MUTATING and too_deep(parsed):
            return error(start_response, "400 Bad Request", "ValidationException", "Nesting Levels have exceeded supported limits")
        environ["wsgi.input"] = io.BytesIO(body)
        captured = {}

        def capture(status, headers, exc_info=None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        def answer(chunks):
            status = captured.get("status", "500 Internal Server Error")
            if status.startswith("5") and not chunks.lstrip().startswith(b"{"):
                # moto's HTML error page: answer as DynamoDB would.
                log("moto failed a request", target=target, status=status)
                return error(start_response, "500 Internal Server Error", "InternalServerError", "Internal server error")
            start_response(status, captured["headers"])
            return [chunks]

        if operation not in MUTATING:
            return answer(b"".join(self.app(environ, capture)))
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
        return answer(chunks)


def call(app, target, body, authorization=""):
    """One request to the in-process moto app; returns (status code, parsed JSON body)."""
    env = EnvironBuilder(
        method="POST", path="/", data=body if isinstance(body, bytes) else json.dumps(body).encode(),
        headers={
            "X-Amz-Target": target, "Authorization": authorization,
            "Content-Type": "application/x-amz-json-1.0", "Host": "localhost",
        },
    ).get_environ()
    captured = {}

    def capture(status, headers, exc_info=None):
        captured["status"] = status
        return lambda data: None

    data = b"".join(app(env, capture))
    try:
        parsed = json.loads(data) if data else {}
    except ValueError:
        parsed = {}
    return int(captured.get("status", "500").split()[0]), parsed


REGION = re.compile(r"Credential=[^/]*/[^/]*/([^/]+)/")
PREFIX = "DynamoDB_20120810."


def auth_for(region):
    """An Authorization header moto reads the region from (it does not check signatures)."""
    return f"AWS4-HMAC-SHA256 Credential=esblocal/20000101/{region}/dynamodb/aws4_request, SignedHeaders=host, Signature=0"


def write_journal(path, entries, suffix):
    """Replaces the journal with `entries`, atomically: written beside it, fsync'ed, renamed, and
    the directory fsync'ed."""
    tmp = path + suffix
    with open(tmp, "wb") as f:
        for e in entries:
            f.write(json.dumps(e).encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path)


def fsync_dir(path):
    directory = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


def recover(path):
    """Reads the journal's entries. Unreadable lines are set aside with a copy of the file and the
    journal is rewritten without them, ending in a newline, before anything is appended."""
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        raw = f.read()
    entries, bad = [], []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict) or not isinstance(entry.get("target"), str) or not isinstance(entry.get("body"), str):
                raise ValueError("not a journal entry")
            entries.append(entry)
        except ValueError:
            bad.append((number, line))
    if bad or (raw and not raw.endswith(b"\n")):
        if bad:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            aside = f"{path}.bad-{stamp}"
            with open(aside, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            log("journal: unreadable lines set aside; the readable ones are kept", lines=[n for n, _ in bad], copy=aside, kept=len(entries))
        write_journal(path, entries, ".recover")
    return entries


def replay(app, path):
    """Applies the journal in order; returns (entries, regions seen)."""
    count, regions = 0, set()
    for entry in recover(path):
        call(app, entry["target"], entry["body"].encode(), entry.get("authorization", ""))
        found = REGION.search(entry.get("authorization", ""))
        regions.add(found.group(1) if found else "us-east-1")
        count += 1
    return count, regions


def pages(app, target, body, auth, items_key, next_key, start_key):
    while True:
        status, out = call(app, target, body, auth)
        if status != 200:
            raise RuntimeError(f"{target} answered {status}: {out}")
        yield from out.get(items_key, [])
        if not out.get(next_key):
            return
        body = {**body, start_key: out[next_key]}


def snapshot(app, regions):
    """The state of `app` as a short journal: entries that rebuild it from nothing."""
    entries = []
    for region in sorted(regions):
        auth = auth_for(region)

        def add(action, body):
            entries.append({"target": PREFIX + action, "authorization": auth, "body": json.dumps(body)})

        for name in pages(app, PREFIX + "ListTables", {}, auth, "TableNames", "LastEvaluatedTableName", "ExclusiveStartTableName"):
            table = call(app, PREFIX + "DescribeTable", {"TableName": name}, auth)[1]["Table"]
            on_demand = table.get("BillingModeSummary", {}).get("BillingMode") == "PAY_PER_REQUEST"

            def throughput(d):
                t = d.get("ProvisionedThroughput", {})
                return {"ReadCapacityUnits": t.get("ReadCapacityUnits") or 1, "WriteCapacityUnits": t.get("WriteCapacityUnits") or 1}

            create = {"TableName": name, "KeySchema": table["KeySchema"], "AttributeDefinitions": table["AttributeDefinitions"]}
            if on_demand:
                create["BillingMode"] = "PAY_PER_REQUEST"
            else:
                create["ProvisionedThroughput"] = throughput(table)
            gsis = []
            for g in table.get("GlobalSecondaryIndexes", []):
                index = {"IndexName": g["IndexName"], "KeySchema": g["KeySchema"], "Projection": g["Projection"]}
                if not on_demand:
                    index["ProvisionedThroughput"] = throughput(g)
                gsis.append(index)
            if gsis:
                create["GlobalSecondaryIndexes"] = gsis
            lsis = [{"IndexName": i["IndexName"], "KeySchema": i["KeySchema"], "Projection": i["Projection"]}
                    for i in table.get("LocalSecondaryIndexes", [])]
            if lsis:
                create["LocalSecondaryIndexes"] = lsis
            stream = table.get("StreamSpecification")
            if stream and stream.get("StreamEnabled"):
                create["StreamSpecification"] = stream
            add("CreateTable", create)
            ttl = call(app, PREFIX + "DescribeTimeToLive", {"TableName": name}, auth)[1].get("TimeToLiveDescription", {})
            if ttl.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
                add("UpdateTimeToLive", {"TableName": name, "TimeToLiveSpecification": {"Enabled": True, "AttributeName": ttl["AttributeName"]}})
            tags = call(app, PREFIX + "ListTagsOfResource", {"ResourceArn": table["TableArn"]}, auth)[1].get("Tags", [])
            if tags:
                add("TagResource", {"ResourceArn": table["TableArn"], "Tags": tags})
            for item in pages(app, PREFIX + "Scan", {"TableName": name}, auth, "Items", "LastEvaluatedKey", "ExclusiveStartKey"):
                add("PutItem", {"TableName": name, "Item": item})
    return entries


def contents(app, regions):
    """Every table's items, comparable: {(region, table): sorted JSON of items}."""
    out = {}
    for region in sorted(regions):
        auth = auth_for(region)
        for name in pages(app, PREFIX + "ListTables", {}, auth, "TableNames", "LastEvaluatedTableName", "ExclusiveStartTableName"):
            items = pages(app, PREFIX + "Scan", {"TableName": name}, auth, "Items", "LastEvaluatedKey", "ExclusiveStartKey")
            out[(region, name)] = sorted(json.dumps(i, sort_keys=True) for i in items)
    return out


def reset(app):
    """Empties moto (its state is process-wide, so a second app would share it)."""
    env = EnvironBuilder(method="POST", path="/moto-api/reset", headers={"Host": "localhost"}).get_environ()
    b"".join(app(env, lambda status, headers, exc_info=None: None))


def compact(app, path, regions, replayed):
    """Rewrites the journal as a snapshot of `app` when that is shorter and provably equivalent:
    the snapshot is replayed into an emptied moto and must give the very same items; when it does
    not, the old journal is replayed again and kept."""
    started = time.time()
    entries = snapshot(app, regions)
    if len(entries) >= replayed:
        log("journal compaction skipped: nothing to gain", entries=replayed)
        return
    expected = contents(app, regions)
    reset(app)
    failed = None
    for e in entries:
        status, out = call(app, e["target"], e["body"].encode(), e["authorization"])
        if status != 200:
            failed = f"{e['target']} answered {status}: {out}"
            break
    if failed is None and contents(app, regions) != expected:
        failed = "the snapshot does not rebuild the same items"
    if failed is not None:
        reset(app)
        replay(app, path)
        log("journal compaction abandoned; the journal is unchanged", reason=failed)
        return
    write_journal(path, entries, ".compact")
    log("journal compacted", before=replayed, after=len(entries), seconds=round(time.time() - started, 3))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--journal", default="/data/journal.jsonl")
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--compact-after", type=int, default=1000)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    os.makedirs(os.path.dirname(args.journal) or ".", exist_ok=True)
    # As a container's PID 1, Python ignores SIGTERM unless it handles it: `docker stop` would wait
    # out its whole timeout. Every acknowledged write is already synced, so stopping at once is safe
    # (a write cut off mid-line was never acknowledged; the next start sets it aside).
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    started = time.time()
    for stale in (args.journal + ".compact", args.journal + ".recover"):
        if os.path.exists(stale):
            # A compaction or recovery that did not finish: the journal itself is whole.
            os.remove(stale)
    replayed, regions = replay(app, args.journal)
    log("journal replayed", entries=replayed, seconds=round(time.time() - started, 3))
    if replayed >= args.compact_after:
        try:
            compact(app, args.journal, regions, replayed)
        except Exception as e:  # the journal is untouched; serving matters more than compacting
            log("journal compaction failed", error=repr(e))
    creds = Credentials(os.environ.get("ESB_ACCESS_KEY_ID", "esblocal"), os.environ.get("ESB_SECRET_ACCESS_KEY", "esblocalsecret"), args.region)
    run_simple(args.host, args.port, Journal(app, args.journal, creds), threaded=True, use_reloader=False)


if __name__ == "__main__":
    sys.exit(main())
