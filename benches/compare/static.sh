#!/usr/bin/env bash
# Static files: squall's `files` example beside nginx (one worker, sendfile on),
# axum with tower-http's ServeDir, and Tornado's StaticFileHandler, each serving
# the same 4 KB and 1 MB files, loaded with wrk from CPU 1 (the server pinned to
# CPU 0, and unpinned: free on every CPU, as deployed, in the same rounds);
# then the upload throughput of a 100 MB file through the webapp example's
# /upload (hashed as it streams). Prints markdown tables.
#
#   benches/compare/static.sh                   everything, 3 interleaved rounds (~5 min)
#   ONLY='squall|nginx' benches/compare/static.sh
#
# Settings (environment): REPEAT=3, PLACEMENTS='pinned unpinned', DURATION=10s, CONNS=64, UPLOAD_MB=100,
# BENCH_WORK=/tmp/squall-compare (files, builds, the Python virtualenv, raw
# output; nothing is written in the repository). Installs wrk and nginx with
# apt-get when missing (as root). Loopback only; every server is started by
# this script in a session of its own and stopped by it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
UPLOAD_MB=${UPLOAD_MB:-100}
PORT=${PORT:-18900}
mkdir -p "$WORK/static"

need wrk:wrk /usr/sbin/nginx:nginx
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

say "the files: 4 KB and 1 MB of random bytes"
[[ -f $WORK/static/f4k.bin ]] || head -c 4096 /dev/urandom >"$WORK/static/f4k.bin"
[[ -f $WORK/static/f1m.bin ]] || head -c 1048576 /dev/urandom >"$WORK/static/f1m.bin"

say "building squall's files and webapp examples (release)"
(cd "$repo" && cargo build --release --quiet --example files && cargo build --release --quiet --features templates --example webapp)
say "building axum with ServeDir (release)"
(cd "$here" && CARGO_TARGET_DIR="$WORK/target" cargo build --release --quiet --locked -p compare-axum-static)
say "preparing the Python virtualenv"
[[ -x $WORK/venv/bin/python ]] || python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/python/requirements.txt"

nginx_conf() {
    cat >"$WORK/nginx-$1.conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx-$1.pid;
error_log $WORK/raw/nginx-$1.error.log;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    fastcgi_temp_path $WORK/nginx-fastcgi;
    uwsgi_temp_path $WORK/nginx-uwsgi;
    scgi_temp_path $WORK/nginx-scgi;
    server {
        listen 127.0.0.1:$1;
        root $WORK/static;
    }
}
EOF
    echo "$WORK/nginx-$1.conf"
}

rows=(
    "squall (files example)|$repo/target/release/examples/files 127.0.0.1:{PORT} --access-log off --dir $WORK/static"
    "nginx (1 worker, sendfile)|NGINX"
    "axum 0.8 + tower-http ServeDir|$WORK/target/release/compare-axum-static 127.0.0.1:{PORT} $WORK/static"
    "tornado 6.6 StaticFileHandler|$WORK/venv/bin/python $here/python/tornado_static_app.py {PORT} $WORK/static"
)

# measure ROUND PLACEMENT LABEL COMMAND FILE -> "req/s p99 cpu_us_per_req"
measure() {
    local round=$1 placement=$2 label=$3 cmd=$4 file=$5
    [[ $cmd == NGINX ]] && cmd="$NGINX -c $(nginx_conf "$PORT")"
    cmd=${cmd//\{PORT\}/$PORT}
    local log="$WORK/raw/static-$(tr -c 'a-zA-Z0-9' _ <<<"$label-$file-$placement")-$round"
    RUST_LOG=error setsid taskset -c "$(server_cpus "$placement")" $cmd >"$log.server" 2>&1 &
    local pid=$! url="http://127.0.0.1:$PORT/$file" ok=0
    for _ in $(seq 100); do
        if curl -s -o /dev/null --max-time 2 -w '%{http_code}' "$url" 2>/dev/null | grep -q 200; then ok=1; break; fi
        sleep 0.1
    done
    if [[ $ok == 1 ]]; then
        taskset -c 1 wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null 2>&1
        wrk_load "$url" "$log.wrk" "$pid"
    else
        echo "0 - 0"
        say "$label did not answer on $url; see $log.server"
    fi
    kill -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    PORT=$((PORT + 1))
}

results=$WORK/static-results.txt
: >"$results"
for round in $(seq "$REPEAT"); do
    for file in f4k.bin f1m.bin; do
        for row in "${rows[@]}"; do
            IFS='|' read -r label cmd <<<"$row"
            [[ -n $ONLY && ! $label =~ $ONLY ]] && continue
            for placement in $PLACEMENTS; do
                say "round $round/$REPEAT: $file, $label, $placement"
                echo "$file|$label|$placement|$(measure "$round" "$placement" "$label" "$cmd" "$file")" >>"$results"
                # measure runs in a subshell: move the port on here, so no row reuses another's.
                PORT=$((PORT + 10))
            done
        done
    done
done

echo
echo "$(date -u +%F), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(rustc --version | cut -d' ' -f1-2), $("$NGINX" -v 2>&1 | cut -d' ' -f3), wrk -t1 -c$CONNS -d$DURATION on CPU 1, the server pinned to CPU 0 or unpinned, median of $REPEAT round(s)"
echo
echo "| file | server | placement | req/s | p99 | server CPU µs/req | req/s, every round |"
echo "|---|---|---|---:|---:|---:|---|"
median_rows "r r m" 1 <"$results"

# Upload: log in to the webapp example, then send UPLOAD_MB through /upload with curl.
say "upload throughput: $UPLOAD_MB MB through the webapp example's /upload"
head -c $((UPLOAD_MB * 1000000)) /dev/urandom >"$WORK/upload.bin"
jar="$WORK/upload.jar"
rm -f "$jar"
RUST_LOG=error setsid taskset -c 0 "$repo/target/release/examples/webapp" "127.0.0.1:$PORT" --access-log off --cookie-secret bench-secret >"$WORK/raw/upload.server" 2>&1 &
pid=$!
base="http://127.0.0.1:$PORT"
for _ in $(seq 100); do curl -s -o /dev/null "$base/login" && break; sleep 0.1; done
token=$(curl -s -c "$jar" "$base/login" | grep -o 'name="_xsrf" value="[^"]*"' | sed 's/.*value="//;s/"//')
curl -s -b "$jar" -c "$jar" --data-urlencode username=bench --data-urlencode "_xsrf=$token" -o /dev/null "$base/login"
query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$token")
echo
echo "| upload | seconds | MB/s | server CPU s |"
echo "|---|---:|---:|---:|"
for round in $(seq "$REPEAT"); do
    before=$(cpu_ticks "$pid")
    secs=$(taskset -c 1 curl -s -b "$jar" -F "file=@$WORK/upload.bin" -o "$WORK/raw/upload.json" -w '%{time_total}' "$base/upload?_xsrf=$query")
    after=$(cpu_ticks "$pid")
    grep -q '"sha256"' "$WORK/raw/upload.json" || say "upload round $round failed: $(cat "$WORK/raw/upload.json")"
    awk -v s="$secs" -v mb="$UPLOAD_MB" -v t=$((after - before)) -v tck="$(getconf CLK_TCK)" -v r="$round" \
        'BEGIN { printf "| %d MB, round %d | %.2f | %.0f | %.2f |\n", mb, r, s, mb / s, t / tck }'
done
kill -- -"$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
rm -f "$WORK/upload.bin"
