#!/usr/bin/env bash
# WebSocket: squall's chat example beside Tornado's WebSocketHandler and axum's
# WebSocket (tokio-tungstenite), each serving /echo and a broadcast room at
# /chatsocket. The load generator (wsload, one thread) runs on CPU 1, the
# server pinned to CPU 0 and unpinned (free on every CPU, as deployed) in the
# same rounds. Three measurements, each on a freshly started server:
#
#   idle     IDLE sockets opened and held: the server's resident memory per socket
#   echo     ECHO_CONNS sockets each sending a 32-byte text and awaiting its echo
#            for DURATION seconds: round trips per second, server CPU per round trip
#   fan-out  FANOUT receivers in the room; one sender sends MESSAGES messages, each
#            once every receiver has the one before: deliveries per second, server
#            CPU per delivery
#
#   benches/compare/ws.sh                   every server, 3 interleaved rounds (~4 min)
#   ONLY='squall|axum' benches/compare/ws.sh
#
# Settings (environment): REPEAT=3, PLACEMENTS='pinned unpinned', IDLE=10000, ECHO_CONNS=64, DURATION=10,
# FANOUT=1000, MESSAGES=200, BENCH_WORK=/tmp/squall-compare (builds, the Python
# virtualenv, raw output; nothing is written in the repository). Loopback only;
# every server is started by this script in a session of its own and stopped by it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
IDLE=${IDLE:-10000}
ECHO_CONNS=${ECHO_CONNS:-64}
DURATION=${DURATION:-10}
FANOUT=${FANOUT:-1000}
MESSAGES=${MESSAGES:-200}
PORT=${PORT:-18800}
# The server and the load generator each hold IDLE sockets at once.
ulimit -n $((IDLE + 1024)) || { echo "cannot raise the open-files limit to $((IDLE + 1024)) (hard limit $(ulimit -Hn))" >&2; exit 1; }

say "building squall's chat example (release, feature websocket)"
(cd "$repo" && cargo build --release --quiet --features websocket --example chat)

say "building axum's WebSocket peer and the load generator (release)"
(cd "$here" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --locked -p compare-axum-ws -p compare-wsload)
LOAD=$WORK/target/release/compare-wsload

say "preparing the Python virtualenv"
[[ -x $WORK/venv/bin/python ]] || python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"

rows=(
    "squall (chat example)|$repo/target/release/examples/chat 127.0.0.1:{PORT} --access-log off"
    "axum 0.8 ws (tokio-tungstenite)|$WORK/target/release/compare-axum-ws 127.0.0.1:{PORT}"
    "tornado 6.6 WebSocketHandler|$WORK/venv/bin/python $here/python/tornado_ws_app.py {PORT}"
)

# CPU time (user + system, all threads) of the processes in the server's session, in ticks.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# start LABEL COMMAND ROUND PHASE: starts the server on the CPUs of $PLACEMENT;
# sets PID and URL.
start() {
    local cmd=${2//\{PORT\}/$PORT}
    LOG="$WORK/raw/ws-$(tr -c 'a-zA-Z0-9' _ <<<"$1-$PLACEMENT")-$3-$4"
    RUST_LOG=error setsid taskset -c "$(server_cpus "$PLACEMENT")" $cmd >"$LOG.server" 2>&1 &
    PID=$!
    URL="ws://127.0.0.1:$PORT"
    wait_http "$PORT" && return 0
    say "$1 did not start; see $LOG.server"
    return 1
}

stop() {
    kill -- -"$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PORT=$((PORT + 1))
}

# measure ROUND LABEL COMMAND -> "kb_per_socket echo_per_s echo_cpu_us fanout_per_s fanout_cpu_us"
measure() {
    local round=$1 label=$2 cmd=$3 tck; tck=$(getconf CLK_TCK)
    local kb=0 echo_rate=0 echo_cpu=0 fan_rate=0 fan_cpu=0

    if start "$label" "$cmd" "$round" idle; then
        sleep 0.5
        local before; before=$(rss_kb "$PID")
        taskset -c 1 "$LOAD" idle "$URL/echo" "$IDLE" 6 >"$LOG.load" 2>&1 &
        local load=$!
        for _ in $(seq 600); do grep -q ready "$LOG.load" && break; sleep 0.1; done
        sleep 2
        local after; after=$(rss_kb "$PID")
        grep -q "ready $IDLE" "$LOG.load" && kb=$(awk -v a="$after" -v b="$before" -v n="$IDLE" 'BEGIN { printf "%.1f", (a - b) / n }')
        wait "$load" || true
        stop
    fi

    if start "$label" "$cmd" "$round" echo; then
        local t0; t0=$(cpu_ticks "$PID")
        taskset -c 1 "$LOAD" echo "$URL/echo" "$ECHO_CONNS" "$DURATION" >"$LOG.load" 2>&1 || true
        local t1; t1=$(cpu_ticks "$PID")
        read -r echo_rate echo_cpu < <(awk -v ticks=$((t1 - t0)) -v tck="$tck" '
            /^roundtrips/ { printf "%.0f %.1f\n", $2 / $4, ($2 > 0 ? ticks / tck * 1e6 / $2 : 0); found = 1 }
            END { if (!found) print "0 0" }' "$LOG.load")
        stop
    fi

    if start "$label" "$cmd" "$round" fanout; then
        local t0; t0=$(cpu_ticks "$PID")
        timeout 300 taskset -c 1 "$LOAD" fanout "$URL/chatsocket" "$FANOUT" "$MESSAGES" >"$LOG.load" 2>&1 || true
        local t1; t1=$(cpu_ticks "$PID")
        read -r fan_rate fan_cpu < <(awk -v ticks=$((t1 - t0)) -v tck="$tck" '
            /^deliveries/ { printf "%.0f %.2f\n", $2 / $4, ($2 > 0 ? ticks / tck * 1e6 / $2 : 0); found = 1 }
            END { if (!found) print "0 0" }' "$LOG.load")
        stop
    fi
    echo "$kb $echo_rate $echo_cpu $fan_rate $fan_cpu"
}

results=$WORK/ws-results.txt
: >"$results"
for round in $(seq "$REPEAT"); do
    for row in "${rows[@]}"; do
        IFS='|' read -r label cmd <<<"$row"
        [[ -n $ONLY && ! $label =~ $ONLY ]] && continue
        for PLACEMENT in $PLACEMENTS; do
            say "round $round/$REPEAT: $label, $PLACEMENT"
            echo "$label|$PLACEMENT|$(measure "$round" "$label" "$cmd")" >>"$results"
            # measure runs in a subshell: move the port on here, so no row reuses another's.
            PORT=$((PORT + 10))
        done
    done
done

echo
echo "$(date -u +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(rustc --version | cut -d' ' -f1-2), Python $("$WORK/venv/bin/python" -c 'import platform; print(platform.python_version())'), the load on CPU 1, the server pinned to CPU 0 or unpinned; idle: $IDLE sockets; echo: $ECHO_CONNS sockets for ${DURATION}s; fan-out: $MESSAGES messages to $FANOUT sockets; median of $REPEAT round(s)"
echo
echo "| server | placement | idle: KB per socket | echo: round trips/s | echo: CPU µs per round trip | fan-out: deliveries/s | fan-out: CPU µs per delivery |"
echo "|---|---|---:|---:|---:|---:|---:|"
median_rows "m m m m m" <"$results"
