#!/usr/bin/env bash
# PHP: a hello-world script through squall's FastCGI target and through nginx
# (one worker, fastcgi_pass), both to the same php-fpm pool; and through
# php-cgi under squall's cgi example and under lighttpd's mod_cgi. wrk runs
# on CPU 1; the web server and PHP share CPU 0 (pinned), or are free on every
# CPU, as deployed (unpinned), in the same rounds. Prints one markdown table.
#
#   benches/compare/php.sh                      everything, 3 interleaved rounds (~3 min)
#   ONLY='fastcgi' benches/compare/php.sh
#
# Settings (environment): REPEAT=3, PLACEMENTS='pinned unpinned', DURATION=10s, CONNS=16, CHILDREN=4 (php-fpm
# workers), BENCH_WORK=/tmp/squall-compare. Installs wrk, nginx, php-fpm,
# php-cgi and lighttpd with apt-get when missing (as root). Every server is
# started by this script on loopback or a private socket, and stopped by it.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib.sh
. "$here/lib.sh"
DURATION=${DURATION:-10s}
CONNS=${CONNS:-16}
CHILDREN=${CHILDREN:-4}
PORT=${PORT:-19000}
PHP=$WORK/php
mkdir -p "$PHP/www"

need wrk:wrk /usr/sbin/nginx:nginx '/usr/sbin/php-fpm*:php-fpm' php-cgi:php-cgi /usr/sbin/lighttpd:lighttpd
FPM=$(ls /usr/sbin/php-fpm* | head -1)
PHP_CGI=$(command -v php-cgi)

echo '<?php echo "Hello, world!";' >"$PHP/www/hello.php"

say "building squall's fastcgi and cgi examples (release)"
(cd "$repo" && cargo build --release --quiet --features fastcgi --example fastcgi && cargo build --release --quiet --features cgi --example cgi)

# php-fpm of our own, on a private socket, for the FastCGI rows.
cat >"$PHP/fpm.conf" <<EOF
[global]
pid = $PHP/fpm.pid
error_log = $PHP/fpm.log
daemonize = no
[www]
listen = $PHP/fpm.sock
; nginx's worker does not run as root: let it connect.
listen.mode = 0666
pm = static
pm.max_children = $CHILDREN
EOF

nginx_conf() {
    cat >"$PHP/nginx-$1.conf" <<EOF
worker_processes 1;
daemon off;
pid $PHP/nginx-$1.pid;
error_log $WORK/raw/php-nginx-$1.error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $PHP/nginx-body;
    proxy_temp_path $PHP/nginx-proxy;
    fastcgi_temp_path $PHP/nginx-fastcgi;
    uwsgi_temp_path $PHP/nginx-uwsgi;
    scgi_temp_path $PHP/nginx-scgi;
    upstream php { server unix:$PHP/fpm.sock; keepalive $CHILDREN; }
    server {
        listen 127.0.0.1:$1;
        root $PHP/www;
        location ~ \.php$ {
            include /etc/nginx/fastcgi_params;
            fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
            fastcgi_keep_conn on;
            fastcgi_pass php;
        }
    }
}
EOF
    echo "$PHP/nginx-$1.conf"
}

lighttpd_conf() {
    cat >"$PHP/lighttpd-$1.conf" <<EOF
server.document-root = "$PHP/www"
server.bind = "127.0.0.1"
server.port = $1
server.modules = ("mod_cgi")
cgi.assign = (".php" => "$PHP_CGI")
server.pid-file = "$PHP/lighttpd-$1.pid"
EOF
    echo "$PHP/lighttpd-$1.conf"
}

rows=(
    "fastcgi|squall FastCGI target (pool $CHILDREN, kept alive)|$repo/target/release/examples/fastcgi 127.0.0.1:{PORT} --access-log off --socket $PHP/fpm.sock --root $PHP/www --pool $CHILDREN"
    "fastcgi|squall FastCGI target (16 in flight, a connection each)|$repo/target/release/examples/fastcgi 127.0.0.1:{PORT} --access-log off --socket $PHP/fpm.sock --root $PHP/www --pool 16 --no-fastcgi-keep-alive"
    "fastcgi|nginx 1 worker, fastcgi_pass (keepalive $CHILDREN)|NGINX"
    "php-cgi|squall cgi example --php, thread_pool(16)|$repo/target/release/examples/cgi 127.0.0.1:{PORT} --access-log off --php $PHP/www"
    "php-cgi|lighttpd mod_cgi|LIGHTTPD"
)

# measure ROUND PLACEMENT SCENARIO LABEL COMMAND -> "req/s p99 non-2xx server_us fpm_us"
# ("-" for php-fpm when the row does not use it)
measure() {
    local round=$1 placement=$2 scenario=$3 label=$4 cmd=$5
    [[ $cmd == NGINX ]] && cmd="/usr/sbin/nginx -c $(nginx_conf "$PORT")"
    [[ $cmd == LIGHTTPD ]] && cmd="/usr/sbin/lighttpd -D -f $(lighttpd_conf "$PORT")"
    cmd=${cmd//\{PORT\}/$PORT}
    local log="$WORK/raw/php-$(tr -c 'a-zA-Z0-9' _ <<<"$label-$placement")-$round"
    place_session "$fpm" "$(server_cpus "$placement")"
    RUST_LOG=error setsid taskset -c "$(server_cpus "$placement")" $cmd >"$log.server" 2>&1 &
    local pid=$! url="http://127.0.0.1:$PORT/hello.php" ok=0
    for _ in $(seq 100); do
        if [[ $(curl -s --max-time 2 "$url" 2>/dev/null) == "Hello, world!" ]]; then ok=1; break; fi
        sleep 0.1
    done
    if [[ $ok == 1 ]]; then
        taskset -c 1 wrk -t1 -c"$CONNS" -d2s "$url" >/dev/null 2>&1
        # CPU per request of the web server (with the php-cgi processes it ran) and of php-fpm.
        local rps p99 cpu fpm_cpu bad
        read -r rps p99 cpu fpm_cpu <<<"$(wrk_load "$url" "$log.wrk" "$pid" "$fpm")"
        bad=$(awk '/Non-2xx/ { print $NF }' "$log.wrk")
        [[ $scenario == fastcgi ]] || fpm_cpu=-
        echo "$rps $p99 ${bad:-0} $cpu $fpm_cpu"
    else
        echo "0 - 0 0 0"
        say "$label did not answer on $url; see $log.server"
    fi
    kill -- -"$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    PORT=$((PORT + 1))
}

say "starting php-fpm ($CHILDREN workers) on $PHP/fpm.sock (moved to each row's CPUs)"
rm -f "$PHP/fpm.sock"
setsid taskset -c 0 "$FPM" -R -n -y "$PHP/fpm.conf" >"$WORK/raw/php-fpm.out" 2>&1 &
fpm=$!
for _ in $(seq 50); do [[ -S $PHP/fpm.sock ]] && break; sleep 0.1; done
trap 'kill -TERM "$fpm" 2>/dev/null || true' EXIT

results=$WORK/php-results.txt
: >"$results"
for round in $(seq "$REPEAT"); do
    for row in "${rows[@]}"; do
        IFS='|' read -r scenario label cmd <<<"$row"
        [[ -n $ONLY && ! $scenario$label =~ $ONLY ]] && continue
        for placement in $PLACEMENTS; do
            say "round $round/$REPEAT: $label, $placement"
            echo "$scenario|$label|$placement|$(measure "$round" "$placement" "$scenario" "$label" "$cmd")" >>"$results"
            # measure runs in a subshell: move the port on here, so no row reuses another's.
            PORT=$((PORT + 10))
        done
    done
done

echo
echo "$(date -u +%F), $(nproc) CPUs, $(rustc --version | cut -d' ' -f1-2), $("$FPM" -v | head -1 | cut -d' ' -f1-2), wrk -t1 -c$CONNS -d$DURATION on CPU 1, server and PHP pinned to CPU 0 or unpinned, median of $REPEAT round(s)"
echo
echo "| PHP through | server | placement | req/s | p99 | non-2xx | server CPU µs/req | php-fpm CPU µs/req | req/s, every round |"
echo "|---|---|---|---:|---:|---:|---:|---:|---|"
median_rows "r r r m m" 1 <"$results"
