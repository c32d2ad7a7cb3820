#!/usr/bin/env bash
# Fan-out past one process: squall's chat example with its room in the
# process, and two chat processes sharing the room through one Redis
# (--redis), FANOUT receivers split between them. One sender sends MESSAGES
# messages, each once every receiver has the one before (wsload fanout): the
# deliveries per second, the 99th percentile from a send to a receipt, and
# the CPU per delivery of the chat processes and of redis-server, counted
# apart. The load runs on CPU 1; the servers (chats and redis-server) are
# pinned to CPU 0, or unpinned (free on every CPU, as deployed), in the same
# rounds.
#
#   benches/compare/fanout.sh               both setups, 3 interleaved rounds (~1 min)
#
# Settings (environment): REPEAT=3, PLACEMENTS='pinned unpinned', FANOUT=1000,
# MESSAGES=200, BENCH_WORK=/tmp/squall-compare. Redis runs as a deployment
# that replays after a restart would run it: append-only, fsync every second.
# Loopback only; every process is started by this script in a session of its
# own and stopped by it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
FANOUT=${FANOUT:-1000}
MESSAGES=${MESSAGES:-200}
PORT=${PORT:-18900}
ulimit -n $((FANOUT * 2 + 1024)) || { echo "cannot raise the open-files limit" >&2; exit 1; }
need redis-server:redis-server

say "building squall's chat example (release, features websocket and redis) and the load generator"
(cd "$repo" && cargo build --release --quiet --features websocket,redis --example chat)
(cd "$here" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --locked -p compare-wsload)
LOAD=$WORK/target/release/compare-wsload
CHAT=$repo/target/release/examples/chat

# spawn NAME COMMAND...: starts COMMAND in a session of its own on the CPUs of
# $PLACEMENT; sets SPAWNED to its pid.
spawn() {
    local name=$1
    shift
    RUST_LOG=error setsid taskset -c "$(server_cpus "$PLACEMENT")" "$@" >"$WORK/raw/fanout-$name.log" 2>&1 &
    SPAWNED=$!
}

# measure SETUP -> "deliveries_per_s p99_ms chat_cpu_us redis_cpu_us"
measure() {
    local setup=$1 tck pids=() redis_pid=0 urls="" data
    tck=$(getconf CLK_TCK)
    data=$(mktemp -d "$WORK/raw/redis-XXXX")
    if [[ $setup == redis ]]; then
        local redis_port=$((PORT + 50))
        spawn redis redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly yes \
            --appendfsync everysec --dir "$data"
        redis_pid=$SPAWNED
        for _ in $(seq 100); do redis-cli -p "$redis_port" ping >/dev/null 2>&1 && break; sleep 0.1; done
        for i in 0 1; do
            spawn "chat$i" "$CHAT" "127.0.0.1:$((PORT + i))" --access-log off --redis "redis://127.0.0.1:$redis_port"
            pids+=("$SPAWNED")
            wait_http $((PORT + i)) || say "chat $i did not start; see $WORK/raw/fanout-chat$i.log"
            urls+="${urls:+,}ws://127.0.0.1:$((PORT + i))/chatsocket"
        done
    else
        spawn chat "$CHAT" "127.0.0.1:$PORT" --access-log off
        pids+=("$SPAWNED")
        wait_http "$PORT" || say "the chat did not start; see $WORK/raw/fanout-chat.log"
        urls="ws://127.0.0.1:$PORT/chatsocket"
    fi
    local chat0=0 redis0=0 chat1=0 redis1=0 pid
    for pid in "${pids[@]}"; do chat0=$((chat0 + $(cpu_ticks "$pid"))); done
    [[ $redis_pid != 0 ]] && redis0=$(cpu_ticks "$redis_pid")
    timeout 300 taskset -c 1 "$LOAD" fanout "$urls" "$FANOUT" "$MESSAGES" >"$WORK/raw/fanout-load.log" 2>&1 || true
    for pid in "${pids[@]}"; do chat1=$((chat1 + $(cpu_ticks "$pid"))); done
    [[ $redis_pid != 0 ]] && redis1=$(cpu_ticks "$redis_pid")
    for pid in "${pids[@]}" "$redis_pid"; do
        [[ $pid != 0 ]] && { kill -- -"$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; }
    done
    rm -rf "$data"
    PORT=$((PORT + 100))
    awk -v chat=$((chat1 - chat0)) -v redis=$((redis1 - redis0)) -v tck="$tck" '
        /^deliveries/ {
            printf "%.0f %.2f %.2f %.2f\n", $2 / $4, $6 / 1000, chat / tck * 1e6 / $2, redis / tck * 1e6 / $2
            found = 1
        }
        END { if (!found) print "0 0 0 0" }' "$WORK/raw/fanout-load.log"
}

results=$WORK/fanout-results.txt
: >"$results"
for round in $(seq "$REPEAT"); do
    for setup in in-process redis; do
        for PLACEMENT in $PLACEMENTS; do
            label="squall chat, room in the process (1 process)"
            [[ $setup == redis ]] && label="squall chat through Redis (2 processes)"
            [[ -n $ONLY && ! $label =~ $ONLY ]] && continue
            say "round $round/$REPEAT: $label, $PLACEMENT"
            echo "$label|$PLACEMENT|$(measure "$setup")" >>"$results"
        done
    done
done

echo
echo "$(date -u +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(rustc --version | cut -d' ' -f1-2), $(redis-server --version | cut -d' ' -f1-3), the load on CPU 1, the servers pinned to CPU 0 or unpinned; $MESSAGES messages to $FANOUT sockets; median of $REPEAT round(s)"
echo
echo "| setup | placement | deliveries/s | p99 send to receipt, ms | chat CPU µs per delivery | redis-server CPU µs per delivery |"
echo "|---|---|---:|---:|---:|---:|"
median_rows "m m m m" <"$results"
