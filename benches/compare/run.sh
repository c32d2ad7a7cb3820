#!/usr/bin/env bash
# squall beside axum, hyper, actix-web and Tornado: the same hello world (and a
# WSGI-style app that sleeps 50 ms) served by each, loaded with wrk over
# loopback from CPU 1, the server pinned to CPU 0 and unpinned (free on every
# CPU, as deployed) in the same rounds. Prints one markdown table.
#
#   benches/compare/run.sh                     everything, 3 interleaved rounds (~8 min)
#   ONLY='squall|axum' benches/compare/run.sh  rows whose label matches
#   BASELINE=<git rev> ONLY='squall native' benches/compare/run.sh
#                                              squall's hello at <rev> beside today's: an A/B
#
# Settings (environment): REPEAT=3 rounds, PLACEMENTS='pinned unpinned', DURATION=10s, CONNS=64, WARMUP=2s,
# SLOW=1 (0 skips the 50 ms scenario), BENCH_WORK=/tmp/squall-compare (builds,
# the Python virtualenv and raw wrk output; nothing is written in the repository).
# Installs wrk with apt-get when it is missing (as root). Loopback only; every
# server is started by this script in a session of its own and stopped by it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
SLOW=${SLOW:-1}
BASELINE=${BASELINE:-}
PORT=${PORT:-18700}

need wrk:wrk

say "building squall's examples (release; wsgi with the python feature)"
(cd "$repo" && cargo build --release --quiet --example hello --example mixed --example production)
(cd "$repo" && cargo build --release --quiet --features python --example wsgi)
SQ=$repo/target/release/examples
# The same hello on the other runtime (feature smol), in a target of its own.
(cd "$repo" && CARGO_TARGET_DIR="$WORK/target-smol" cargo build --release --quiet --no-default-features --features smol --example hello)
SMOL=$WORK/target-smol/release/examples

say "building the Rust peers (release; a cold build takes a few minutes)"
(cd "$here" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --locked)
PEERS=$WORK/target/release

if [[ -n $BASELINE ]]; then
    rev=$(git -C "$repo" rev-parse --short "$BASELINE")
    say "building squall's hello at $rev"
    rm -rf "$WORK/baseline" && mkdir -p "$WORK/baseline"
    git -C "$repo" archive "$rev" | tar -x -C "$WORK/baseline"
    (cd "$WORK/baseline" && CARGO_TARGET_DIR="$WORK/target-baseline" cargo build --release --quiet --example hello)
fi

say "preparing the Python virtualenv"
[[ -x $WORK/venv/bin/python ]] || python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"
# The Flask rows: a virtualenv of the interpreter squall embeds, for both servers.
say "preparing the Flask virtualenv (of /usr/bin/python3)"
[[ -x $WORK/venv-flask/bin/python ]] || /usr/bin/python3 -m venv "$WORK/venv-flask"
"$WORK/venv-flask/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/flask_requirements.txt"
FLASK_PATH="/items/42?limit=30&tag=a&tag=b"
PY="$WORK/venv/bin/python $here/python/tornado_app.py"
GRANIAN="$WORK/venv/bin/granian --interface wsgi --host 127.0.0.1 --working-dir $here/python"
WSGI="$SQ/wsgi 127.0.0.1:{PORT} --access-log off --app wsgi_app:app --path $here/python --executor pool"

# Rows: scenario|label|path|command ({PORT} is replaced). squall's access log is
# off (RUST_LOG=error, --access-log off) as Tornado's is left unconfigured; the
# three `access log` rows measure it, on the production example's hello.
rows=(
    "hello|squall native|/|$SQ/hello 127.0.0.1:{PORT}"
    "hello|squall native on smol|/|$SMOL/hello 127.0.0.1:{PORT}"
    "hello|axum 0.8|/|$PEERS/compare-axum 127.0.0.1:{PORT}"
    "hello|hyper 1 (no router)|/|$PEERS/compare-hyper 127.0.0.1:{PORT}"
    "hello|actix-web 4|/|$PEERS/compare-actix 127.0.0.1:{PORT}"
    "hello|squall native, access log off|/|$SQ/production 127.0.0.1:{PORT} --access-log off"
    "hello|squall native, access log written (buffered)|/|$SQ/production 127.0.0.1:{PORT} --access-log stderr"
    "hello|squall native, access log through env_logger|/|env RUST_LOG=squall::access=info $SQ/production 127.0.0.1:{PORT} --access-log log"
    "hello|tornado native|/|$PY {PORT} native"
    "hello|squall gateway, thread_pool(16)|/legacy/hello|$SQ/mixed 127.0.0.1:{PORT} --access-log off --executor pool --threads 16"
    "hello|tornado WSGIContainer, ThreadPoolExecutor(16)|/|$PY {PORT} wsgi 16"
    "hello|squall Python WSGI, thread_pool(16)|/|$WSGI --threads 16"
    "hello|granian 2.8 WSGI, 1 worker|/|$GRANIAN --port {PORT} wsgi_app:app"
)
rows+=(
    "flask|squall Python WSGI, thread_pool(16)|$FLASK_PATH|env VIRTUAL_ENV=$WORK/venv-flask $SQ/wsgi 127.0.0.1:{PORT} --access-log off --app flask_app:app --path $here/python --threads 16"
    "flask|granian 2.8 WSGI, 1 worker, 16 blocking threads|$FLASK_PATH|$WORK/venv-flask/bin/granian --interface wsgi --host 127.0.0.1 --working-dir $here/python --blocking-threads 16 --port {PORT} flask_app:app"
)
[[ -n $BASELINE ]] && rows+=("hello|squall native @ $rev|/|$WORK/target-baseline/release/examples/hello 127.0.0.1:{PORT}")
if [[ $SLOW == 1 ]]; then
    rows+=(
        "slow 50 ms|squall gateway, thread_pool(64)|/legacy/slow|$SQ/mixed 127.0.0.1:{PORT} --access-log off --executor pool --threads 64"
        "slow 50 ms|squall gateway, Inline|/legacy/slow|$SQ/mixed 127.0.0.1:{PORT} --access-log off --executor inline"
        "slow 50 ms|tornado WSGIContainer, ThreadPoolExecutor(64)|/slow|$PY {PORT} wsgi 64"
        "slow 50 ms|tornado WSGIContainer, inline|/slow|$PY {PORT} wsgi 0"
        "slow 50 ms|squall Python WSGI, thread_pool(64)|/slow|$WSGI --threads 64"
        "slow 50 ms|granian 2.8 WSGI, 64 blocking threads|/slow|$GRANIAN --blocking-threads 64 --port {PORT} wsgi_app:app"
    )
fi

# measure ROUND PLACEMENT SCENARIO LABEL PATH COMMAND -> "req/s p99 cpu_us_per_req" on stdout
measure() {
    local round=$1 placement=$2 scenario=$3 label=$4 path=$5 cmd=${6//\{PORT\}/$PORT}
    local log="$WORK/raw/$(tr -c 'a-zA-Z0-9' _ <<<"$scenario-$label-$placement")-$round"
    RUST_LOG=error setsid taskset -c "$(server_cpus "$placement")" $cmd >"$log.server" 2>&1 &
    local pid=$!
    local url="http://127.0.0.1:$PORT$path" ok=0
    for _ in $(seq 100); do
        if [[ $scenario == flask ]]; then
            [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null) == 200 ]] && { ok=1; break; }
        elif [[ $(curl -s --max-time 2 "$url" 2>/dev/null) == "Hello, world!" ]]; then ok=1; break; fi
        sleep 0.1
    done
    if [[ $ok == 1 ]]; then
        [[ $scenario != slow* ]] && taskset -c 1 wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null 2>&1
        wrk_load "$url" "$log.wrk" "$pid"
    else
        echo "0 - 0"
        say "$label did not answer on $url; see $log.server"
    fi
    kill -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    PORT=$((PORT + 1))
}

results=$WORK/results.txt
: >"$results"
for round in $(seq "$REPEAT"); do
    for row in "${rows[@]}"; do
        IFS='|' read -r scenario label path cmd <<<"$row"
        [[ -n $ONLY && ! $label =~ $ONLY ]] && continue
        for placement in $PLACEMENTS; do
            say "round $round/$REPEAT: $scenario, $label, $placement"
            echo "$scenario|$label|$placement|$(measure "$round" "$placement" "$scenario" "$label" "$path" "$cmd")" >>"$results"
            # measure runs in a subshell: move the port on here, so no row reuses another's.
            PORT=$((PORT + 10))
        done
    done
done

echo
echo "$(date -u +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(rustc --version | cut -d' ' -f1-2), Python $("$WORK/venv/bin/python" -c 'import platform; print(platform.python_version())'), wrk -t1 -c$CONNS -d$DURATION on CPU 1, the server pinned to CPU 0 or unpinned, median of $REPEAT round(s)"
echo
echo "| scenario | server | placement | req/s | p99 | server CPU µs/req | req/s, every round |"
echo "|---|---|---|---:|---:|---:|---|"
# Median by req/s; the CPU column is the median of its own.
median_rows "r r m" 1 <"$results"
