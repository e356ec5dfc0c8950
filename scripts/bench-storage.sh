#!/usr/bin/env bash
# Benchmark of the storage engines (issue 7), on this machine, in one run:
# - each engine's container, from `docker run` to its port answering on the host, and its memory
#   once ready (docker stats), over RUNS fresh starts with an empty volume: the built-in S3 server,
#   the built-in DynamoDB service, and RustFS / ScyllaDB Alternator when their images are loaded;
# - the DynamoDB journal: start time with a long journal (ENTRIES writes to 100 items) against the
#   same data after compaction.
# Needs the images `esb up` builds (run scripts/up.sh or the tests first).
source "$(dirname "$0")/lib.sh"
RUNS="${RUNS:-5}"
ENTRIES="${ENTRIES:-20000}"
RUSTFS_IMAGE="${RUSTFS_IMAGE:-rustfs/rustfs:latest}"
ALTERNATOR_IMAGE="${ALTERNATOR_IMAGE:-scylladb/scylla:latest}"
work=$(mktemp -d)
trap 'docker rm -f esb-bench-storage >/dev/null 2>&1; docker volume rm esb-bench-storage >/dev/null 2>&1; rm -rf "$work"' EXIT

latest() { docker images --format '{{.Repository}}:{{.Tag}} {{.CreatedAt}}' | grep "^$1:" | sort -k2 -r | head -1 | cut -d' ' -f1; }
S3_IMAGE=$(latest esb/daemon)
DYNAMODB_IMAGE=$(latest esb/storage-dynamodb)
[ -n "$S3_IMAGE" ] && [ -n "$DYNAMODB_IMAGE" ] || { echo "bench-storage: build the images first (scripts/up.sh)"; exit 1; }

now() { date +%s.%N; }
# start <port> <mount> <image> <args...>: prints "seconds MiB"
start() {
  local port=$1 mount=$2 image=$3; shift 3
  docker rm -f esb-bench-storage >/dev/null 2>&1 || true
  local t0; t0=$(now)
  docker run -d --name esb-bench-storage -p "127.0.0.1::$port" -v "$mount" "$image" "$@" >/dev/null
  local host; host=$(docker port esb-bench-storage "$port/tcp" | head -1 | cut -d: -f2)
  for _ in $(seq 1 3000); do
    if curl -s -o /dev/null "http://127.0.0.1:$host/"; then break; fi
    sleep 0.02
  done
  local t1; t1=$(now)
  local mem; mem=$(docker stats --no-stream --format '{{.MemUsage}}' esb-bench-storage | cut -d/ -f1)
  docker rm -f esb-bench-storage >/dev/null
  awk -v a="$t0" -v b="$t1" -v m="$mem" 'BEGIN { printf "%.3f %s\n", b - a, m }'
}
# engine <name> <port> <data dir> <image> <args...>: median of RUNS fresh starts
engine() {
  local name=$1 port=$2 data=$3; shift 3
  : > "$work/times"
  local mem=""
  for _ in $(seq 1 "$RUNS"); do
    docker volume rm esb-bench-storage >/dev/null 2>&1 || true
    read -r t m < <(start "$port" "esb-bench-storage:$data" "$@")
    echo "$t" >> "$work/times"
    mem=$m
  done
  local median; median=$(sort -n "$work/times" | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
  printf '| %s | %s s | %s |\n' "$name" "$median" "$mem"
  echo "$median" > "$work/median-$name"
}

echo "| Engine | Start to first answer (median of $RUNS) | Memory when ready |"
echo "| --- | ---: | ---: |"
engine "built-in S3 (s3s-fs)" 9000 /data "$S3_IMAGE" storage-s3 --root /data --listen 0.0.0.0:9000
engine "built-in DynamoDB (moto + journal)" 8000 /data "$DYNAMODB_IMAGE" --journal /data/journal.jsonl --port 8000
if docker image inspect "$RUSTFS_IMAGE" >/dev/null 2>&1; then
  engine "RustFS" 9000 /data -e RUSTFS_ACCESS_KEY=esblocal -e RUSTFS_SECRET_KEY=esblocalsecret "$RUSTFS_IMAGE" /data
else
  echo "| RustFS | not measured: $RUSTFS_IMAGE is not loaded (no registry here) | |"
fi
if docker image inspect "$ALTERNATOR_IMAGE" >/dev/null 2>&1; then
  engine "ScyllaDB Alternator" 8000 /var/lib/scylla "$ALTERNATOR_IMAGE" --alternator-port 8000 --alternator-write-isolation always \
    --smp 1 --memory 750M --overprovisioned 1 --developer-mode 1
else
  echo "| ScyllaDB Alternator | not measured: $ALTERNATOR_IMAGE is not loaded (no registry here) | |"
fi

# The journal: ENTRIES PutItems to 100 items, as the launcher writes them.
python3 - "$work/journal.jsonl" "$ENTRIES" <<'EOF'
import json, sys
auth = "AWS4-HMAC-SHA256 Credential=esblocal/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0"
def entry(action, body):
    return json.dumps({"target": "DynamoDB_20120810." + action, "authorization": auth, "body": json.dumps(body)})
with open(sys.argv[1], "w") as f:
    f.write(entry("CreateTable", {"TableName": "t", "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}], "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]}) + "\n")
    for i in range(int(sys.argv[2])):
        f.write(entry("PutItem", {"TableName": "t", "Item": {"id": {"S": f"item-{i % 100}"}, "n": {"N": str(i)}, "pad": {"S": "x" * 200}}}) + "\n")
EOF
chmod 777 "$work"
journal() { start 8000 "$work:/data" "$DYNAMODB_IMAGE" --journal /data/journal.jsonl --port 8000 --compact-after "$1"; }
read -r long _ < <(journal 100000000)
read -r compacting _ < <(journal 1000)
read -r short _ < <(journal 100000000)
echo
echo "| DynamoDB journal | Start to first answer |"
echo "| --- | ---: |"
echo "| $((ENTRIES + 1)) entries, not compacted | $long s |"
echo "| the start that compacts it | $compacting s |"
awk -v s="$short" -v l="$long" -v n="$(wc -l < "$work/journal.jsonl")" \
  'BEGIN { printf "| after compaction (%d entries, same 100 items) | %s s (%.2fx of not compacted) |\n", n, s, s / l }'
