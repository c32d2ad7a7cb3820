# What the comparison scripts share; sourced, never run, by a script that
# has set `here` to its own directory.

say() { echo "== $*" >&2; }

# Settings every script takes (environment): BENCH_WORK (builds, virtualenvs
# and raw output; nothing is written in the repository), REPEAT, ONLY.
repo=$(cd "$here/../.." && pwd)
WORK=${BENCH_WORK:-/tmp/squall-compare}
REPEAT=${REPEAT:-3}
ONLY=${ONLY:-}
mkdir -p "$WORK/raw"
command -v taskset >/dev/null || { echo "taskset (util-linux) is needed" >&2; exit 1; }

# Where the server runs, each placement measured in the same rounds: `pinned`,
# the server on CPU 0 (its thread pools size themselves to one CPU); and
# `unpinned`, the server free on every CPU, as a deployment runs it. The load
# generator stays on CPU 1 in both. PLACEMENTS='pinned' measures one.
PLACEMENTS=${PLACEMENTS:-pinned unpinned}

# The CPU list for a server in placement $1.
server_cpus() {
    case $1 in
    pinned) echo 0 ;;
    unpinned) echo "0-$(($(nproc) - 1))" ;;
    *) echo "unknown placement $1 (pinned or unpinned)" >&2; exit 1 ;;
    esac
}

# Moves every thread of every process in session $1 onto CPU list $2 (a
# server started earlier that serves several placements: php-fpm).
place_session() {
    local pid
    for pid in $(ps -e -o pid=,sid= | awk -v sid="$1" '$2 == sid { print $1 }'); do
        taskset -a -p -c "$2" "$pid" >/dev/null 2>&1 || true
    done
}

# Installs (as root) the Debian package of each command that is missing; a
# command is a name on the PATH or an absolute path, which may be a glob:
# need wrk:wrk /usr/sbin/nginx:nginx '/usr/sbin/php-fpm*:php-fpm'
need() {
    local missing=() pair command
    for pair in "$@"; do
        command=${pair%%:*}
        command -v "$command" >/dev/null || { [[ $command == /* ]] && compgen -G "$command" >/dev/null; } ||
            missing+=("${pair#*:}")
    done
    if [[ ${#missing[@]} -gt 0 ]]; then
        say "installing ${missing[*]}"
        apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

# Waits (up to 10 s) until something answers HTTP on loopback port $1.
wait_http() {
    for _ in $(seq 100); do
        curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$1/" && return 0
        sleep 0.1
    done
    return 1
}

# CPU time (user + system, all threads) of every process in a session — the
# server is its session's leader, so its workers count — with the children
# they have reaped (a CGI server's programs), in clock ticks.
cpu_ticks() {
    cat /proc/[0-9]*/stat 2>/dev/null |
        awk -v sid="$1" '{ sub(/.*\) /, ""); if ($4 == sid) t += $12 + $13 + $14 + $15 } END { print t + 0 }'
}

# One measured wrk run against URL (CONNS connections for DURATION, from
# CPU 1), its output kept in LOG; prints "req/s p99" and then, for each
# session SID, the CPU it spent per request over the run, in µs.
#
#   wrk_load URL LOG SID [SID ...]
wrk_load() {
    local url=$1 log=$2 sid i
    shift 2
    local before=() spent=()
    for sid in "$@"; do before+=("$(cpu_ticks "$sid")"); done
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$DURATION" --latency --timeout 20s "$url" >"$log" 2>&1 || true
    i=0
    for sid in "$@"; do spent+=($(($(cpu_ticks "$sid") - before[i]))); i=$((i + 1)); done
    awk -v spent="${spent[*]}" -v tck="$(getconf CLK_TCK)" '
        /Requests\/sec:/ { rps = $2 } / 99%/ { p99 = $2 } /requests in/ { n = $1 }
        END {
            printf "%.0f %s", rps, p99
            m = split(spent, t, " ")
            for (i = 1; i <= m; i++) printf " %.1f", (n > 0 ? t[i] / tck * 1e6 / n : 0)
            print ""
        }' "$log"
}

# Reads result lines "KEY|…|KEY|v1 v2 … vn" (one per round) and prints one
# markdown row per key, in first-seen order. SPEC has a letter per value: `r`
# takes the value from the round whose v1 is the median, `m` the median of
# that value's own rounds (a value that is not a number passes through). With
# ALL=1 the row ends with v1 of every round.
#
#   median_rows "r r m" 1 <results
median_rows() {
    awk -F'|' -v spec="$1" -v all="${2:-0}" '
        {
            key = $1; for (i = 2; i < NF; i++) key = key "|" $i
            if (!(key in seen)) { order[++n] = key; seen[key] = 1 }
            c = ++count[key]; m = split($NF, f, " ")
            for (i = 1; i <= m; i++) v[key, i, c] = f[i]
        }
        function median_round(key, col,    i, j, idx, t, k) {
            k = count[key]; for (i = 1; i <= k; i++) idx[i] = i
            for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
                if (v[key, col, idx[j]] + 0 < v[key, col, idx[i]] + 0) { t = idx[i]; idx[i] = idx[j]; idx[j] = t }
            return idx[int((k + 1) / 2)]
        }
        END {
            cols = split(spec, kind, " ")
            for (k = 1; k <= n; k++) {
                key = order[k]; gsub(/\|/, " | ", key); row = "| " key
                r = median_round(order[k], 1)
                for (i = 1; i <= cols; i++)
                    row = row " | " v[order[k], i, (kind[i] == "r" ? r : median_round(order[k], i))]
                if (all) {
                    rounds = ""
                    for (i = 1; i <= count[order[k]]; i++) rounds = rounds (i > 1 ? " / " : "") v[order[k], 1, i]
                    row = row " | " rounds
                }
                print row " |"
            }
        }'
}
