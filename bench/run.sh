#!/usr/bin/env bash
# Kiln benchmark: Kiln vs. a native axum baseline, same machine, same run.
#
#   bench/run.sh                  # build, run, print a Markdown table
#   bench/run.sh --record         # ... and append it to bench/RESULTS.md
#   bench/run.sh --only-baseline  # measure the axum baseline alone (no Kiln build/start/deploy)
#
# Environment: DURATION (s per measured run, default 10), RUNS (measured runs per case and
# server, default 3), WARMUP (s, default 3), CONNECTIONS (default 32), SERVER_CPU (default 0),
# CLIENT_CPU (default 1), KILN_PORT (9000), BASELINE_PORT (9001), CARGO_TARGET_DIR (default
# <repo>/target), SKIP_BUILD=1 to use the binaries already built.
#
# Needs bash, coreutils (taskset is util-linux), awk, curl and wrk (installed with apt-get when
# missing). See bench/README.md for the method.
set -euo pipefail

die() {
    printf '\nbench/run.sh: error: %s\n' "$*" >&2
    exit 1
}
note() { printf '==> %s\n' "$*" >&2; }

usage() {
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
}

RECORD=0
ONLY_BASELINE=0
for arg in "$@"; do
    case "$arg" in
    --record) RECORD=1 ;;
    --only-baseline) ONLY_BASELINE=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown argument '$arg' (try --help)" ;;
    esac
done
if [ "$RECORD" = 1 ] && [ "$ONLY_BASELINE" = 1 ]; then
    die "--record needs both servers; drop --only-baseline"
fi

DURATION=${DURATION:-10}
RUNS=${RUNS:-3}
WARMUP=${WARMUP:-3}
CONNECTIONS=${CONNECTIONS:-32}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
KILN_PORT=${KILN_PORT:-9000}
BASELINE_PORT=${BASELINE_PORT:-9001}
ADMIN_TOKEN=bench-token-0123456789

for v in DURATION RUNS WARMUP CONNECTIONS SERVER_CPU CLIENT_CPU KILN_PORT BASELINE_PORT; do
    case "${!v}" in
    '' | *[!0-9]*) die "$v must be a non-negative integer (got '${!v}')" ;;
    esac
done
[ "$RUNS" -ge 1 ] || die "RUNS must be at least 1"
[ "$DURATION" -ge 1 ] || die "DURATION must be at least 1"

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
KILN_BIN=$CARGO_TARGET_DIR/release/kiln
BASELINE_BIN=$CARGO_TARGET_DIR/release/kiln-bench-baseline
KILN_URL=http://127.0.0.1:$KILN_PORT
BASELINE_URL=http://127.0.0.1:$BASELINE_PORT

# ---------------------------------------------------------------------------------------------
# Prerequisites
# ---------------------------------------------------------------------------------------------
for tool in curl awk taskset; do
    command -v "$tool" >/dev/null || die "'$tool' is required but not installed"
done
cpus=$(nproc)
for cpu in "$SERVER_CPU" "$CLIENT_CPU"; do
    [ "$cpu" -lt "$cpus" ] || die "CPU $cpu does not exist (nproc = $cpus); set SERVER_CPU/CLIENT_CPU"
done
[ "$SERVER_CPU" != "$CLIENT_CPU" ] || die "SERVER_CPU and CLIENT_CPU must differ"

if ! command -v wrk >/dev/null; then
    note "installing wrk (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq wrk >/dev/null 2>&1; then
        apt-get update -qq >/dev/null 2>&1 || true
        apt-get install -y -qq wrk >/dev/null 2>&1 || die "could not install wrk with apt-get; install it and retry"
    fi
    command -v wrk >/dev/null || die "wrk is still not on PATH after apt-get install"
fi

# ---------------------------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
    if [ "$ONLY_BASELINE" = 1 ]; then
        packages=(-p kiln-bench-baseline)
    else
        packages=(-p kiln -p kiln-bench-baseline)
    fi
    note "building (release) into $CARGO_TARGET_DIR"
    (cd "$ROOT" && cargo build --release --quiet "${packages[@]}") || die "cargo build failed"
fi
[ -x "$BASELINE_BIN" ] || die "$BASELINE_BIN is missing (build failed?)"
[ "$ONLY_BASELINE" = 1 ] || [ -x "$KILN_BIN" ] || die "$KILN_BIN is missing (build failed?)"

# ---------------------------------------------------------------------------------------------
# Servers (always stopped on exit)
# ---------------------------------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
KILN_PID=
BASELINE_PID=
WRK_PID=

cleanup() {
    local pid
    for pid in $WRK_PID $KILN_PID $BASELINE_PID; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in $WRK_PID $KILN_PID $BASELINE_PID; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'note interrupted; exit 130' INT
trap 'note terminated; exit 143' TERM

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

port_free() {
    ! curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" 2>/dev/null
}

# wait_http NAME PID URL LOG: poll URL until it answers 2xx (30 s), failing if the process dies.
wait_http() {
    local name=$1 pid=$2 url=$3 log=$4 i
    for i in $(seq 1 150); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        if ! alive "$pid"; then
            echo "---- last lines of the $name log ($log) ----" >&2
            tail -n 40 "$log" >&2 || true
            die "$name exited before $url answered"
        fi
        sleep 0.2
    done
    echo "---- last lines of the $name log ($log) ----" >&2
    tail -n 40 "$log" >&2 || true
    die "$name did not answer $url within 30 s"
}

if [ "$ONLY_BASELINE" = 0 ]; then
    port_free "$KILN_PORT" || die "something already listens on 127.0.0.1:$KILN_PORT (set KILN_PORT)"
    mkdir "$WORK/kiln-data"
    note "starting kiln on $KILN_URL (pinned to CPU $SERVER_CPU, 1 JS worker)"
    # A clean environment for Kiln: no stray KILN_* settings, no ./kiln.toml (cwd is the data dir).
    unset_kiln=()
    while IFS='=' read -r name _; do
        case "$name" in KILN_*) unset_kiln+=(-u "$name") ;; esac
    done < <(env)
    (
        cd "$WORK/kiln-data"
        exec env "${unset_kiln[@]}" KILN_ADMIN_TOKEN=$ADMIN_TOKEN KILN_ENGINE__WORKERS=1 \
            taskset -c "$SERVER_CPU" "$KILN_BIN" serve --listen "127.0.0.1:$KILN_PORT" \
            --data-dir "$WORK/kiln-data"
    ) >"$WORK/kiln.log" 2>&1 &
    KILN_PID=$!
    wait_http kiln "$KILN_PID" "$KILN_URL/health/ready" "$WORK/kiln.log"

    for name in hello echo fib; do
        file=$BENCH_DIR/scripts/$name/main.js
        [ -f "$file" ] || die "missing $file"
        code=$(curl -sS -o "$WORK/deploy-$name.json" -w '%{http_code}' --max-time 60 \
            -X POST "$KILN_URL/engine/api/scripts/$name/versions" \
            -H "Authorization: Bearer $ADMIN_TOKEN" \
            -H 'Content-Type: application/javascript' \
            --data-binary "@$file") || die "deploying '$name': curl failed (is kiln still running?)"
        if [ "$code" != 201 ]; then
            echo "---- response body ----" >&2
            cat "$WORK/deploy-$name.json" >&2 || true
            echo >&2
            die "deploying script '$name' answered HTTP $code (expected 201)"
        fi
        note "deployed $name: $(cat "$WORK/deploy-$name.json")"
    done
fi

rss_of() { # rss_of PID -> "VmRSS VmHWM" in MiB
    awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } END { printf "%.1f %.1f\n", r / 1024, h / 1024 }' \
        "/proc/$1/status" 2>/dev/null || echo "? ?"
}
kiln_idle_rss='–'
[ "$ONLY_BASELINE" = 1 ] || read -r kiln_idle_rss _ <<<"$(rss_of "$KILN_PID")"

port_free "$BASELINE_PORT" || die "something already listens on 127.0.0.1:$BASELINE_PORT (set BASELINE_PORT)"
note "starting the axum baseline on $BASELINE_URL (pinned to CPU $SERVER_CPU)"
taskset -c "$SERVER_CPU" "$BASELINE_BIN" "127.0.0.1:$BASELINE_PORT" >"$WORK/baseline.log" 2>&1 &
BASELINE_PID=$!
wait_http baseline "$BASELINE_PID" "$BASELINE_URL/" "$WORK/baseline.log"

SERVERS=(axum)
[ "$ONLY_BASELINE" = 1 ] || SERVERS+=(kiln)
url_of() { if [ "$1" = kiln ]; then echo "$KILN_URL"; else echo "$BASELINE_URL"; fi; }
pid_of() { if [ "$1" = kiln ]; then echo "$KILN_PID"; else echo "$BASELINE_PID"; fi; }

# ---------------------------------------------------------------------------------------------
# Sanity: both servers answer the three cases correctly (a fast 404 is not a result)
# ---------------------------------------------------------------------------------------------
BODY_FILE=$WORK/body.json
awk '/^wrk\.body = \[\[/ { sub(/^wrk\.body = \[\[/, ""); sub(/\]\]$/, ""); print }' \
    "$BENCH_DIR/wrk/echo.lua" >"$BODY_FILE"
[ -s "$BODY_FILE" ] || die "could not read the JSON body from bench/wrk/echo.lua"

check() { # check SERVER WHAT EXPECTED-SUBSTRING CURL-ARGS...
    local server=$1 what=$2 expect=$3 out
    shift 3
    out=$(curl -sS --max-time 10 -w '\n%{http_code} %{content_type}' "$@" 2>&1) ||
        die "$server $what: request failed: $out"
    case "$out" in
    *"$expect"*) ;;
    *) die "$server $what: expected a 200 containing '$expect', got: $out" ;;
    esac
}
for server in "${SERVERS[@]}"; do
    url=$(url_of "$server")
    check "$server" "GET /" $'hello world\n200 text/plain' "$url/"
    check "$server" "POST /echo" '"echoed":true' -X POST -H 'Content-Type: application/json' \
        --data-binary "@$BODY_FILE" "$url/echo"
    check "$server" "GET /fib?n=20" '"fib":6765' "$url/fib?n=20"
done

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
CASES=(hello json fib)
path_of() {
    case "$1" in
    hello) echo / ;;
    json) echo /echo ;;
    fib) echo '/fib?n=20' ;;
    esac
}

# run_wrk SECONDS SERVER CASE OUTFILE
run_wrk() {
    local secs=$1 server=$2 case=$3 out=$4 url
    url=$(url_of "$server")$(path_of "$case")
    local script=()
    [ "$case" = json ] && script=(-s "$BENCH_DIR/wrk/echo.lua")
    alive "$(pid_of "$server")" || die "$server is no longer running (log: see above)"
    # In the background + wait, so a signal to this script is handled at once (trap below).
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "${script[@]}" "$url" \
        >"$out" 2>&1 &
    WRK_PID=$!
    if ! wait "$WRK_PID"; then
        WRK_PID=
        cat "$out" >&2
        die "wrk failed against $server ($url)"
    fi
    WRK_PID=
}

# parse_wrk FILE -> "rps p50_ms p99_ms non2xx errors"
parse_wrk() {
    awk '
        function ms(v,   n) {
            n = v + 0
            if (v ~ /us$/) return n / 1000
            if (v ~ /ms$/) return n
            if (v ~ /m$/)  return n * 60000
            if (v ~ /s$/)  return n * 1000
            return n
        }
        /Latency Distribution/ { dist = 1; next }
        dist && $1 == "50%" { p50 = ms($2) }
        dist && $1 == "99%" { p99 = ms($2); dist = 0 }
        /^Requests\/sec:/ { rps = $2 }
        /Non-2xx or 3xx responses:/ { non2xx = $NF }
        /Socket errors:/ { errors = $0; sub(/.*Socket errors: */, "", errors); gsub(/ /, "", errors) }
        END {
            if (rps == "" || p50 == "" || p99 == "") exit 1
            printf "%s %.4f %.4f %d %s\n", rps, p50, p99, non2xx + 0, (errors == "" ? "-" : errors)
        }
    ' "$1"
}

# How busy the machine is before measuring (servers idle): the share of all CPUs' time spent
# not idle over one second. The load average would still include our own build.
cpu_sample() { awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t, $5 + $6 }' /proc/stat; }
read -r t0 i0 <<<"$(cpu_sample)"
sleep 1
read -r t1 i1 <<<"$(cpu_sample)"
BUSY=$(awk -v dt=$((t1 - t0)) -v di=$((i1 - i0)) 'BEGIN { printf "%.0f", (dt > 0 ? 100 * (dt - di) / dt : 0) }')
if [ "$BUSY" -ge 10 ]; then
    note "warning: the machine is ${BUSY}% busy before the run; other work will skew the results"
fi

mkdir -p "$WORK/wrk"
total=$((${#CASES[@]} * ${#SERVERS[@]} * (RUNS * DURATION + WARMUP)))
note "measuring: ${CASES[*]} x ${SERVERS[*]}, $RUNS x ${DURATION}s after ${WARMUP}s warm-up (about ${total}s)"
for case in "${CASES[@]}"; do
    if [ "$WARMUP" -gt 0 ]; then
        for server in "${SERVERS[@]}"; do
            run_wrk "$WARMUP" "$server" "$case" "$WORK/wrk/$case.$server.warmup"
        done
    fi
    for run in $(seq 1 "$RUNS"); do
        # Alternate which server goes first so both see the same machine noise.
        if [ $((run % 2)) = 1 ]; then order=("${SERVERS[@]}"); else
            order=()
            for ((i = ${#SERVERS[@]} - 1; i >= 0; i--)); do order+=("${SERVERS[i]}"); done
        fi
        for server in "${order[@]}"; do
            out=$WORK/wrk/$case.$server.$run
            run_wrk "$DURATION" "$server" "$case" "$out"
            parsed=$(parse_wrk "$out") || {
                cat "$out" >&2
                die "could not parse wrk's output ($case, $server, run $run)"
            }
            read -r rps p50 p99 non2xx errors <<<"$parsed"
            [ "$non2xx" = 0 ] || die "$server answered $non2xx non-2xx responses in $case run $run (not a valid result)"
            echo "$rps $p50 $p99" >"$out.result"
            note "$(printf '%-5s %-4s run %d: %10.0f req/s  p50 %.3f ms  p99 %.3f ms  socket errors %s' \
                "$case" "$server" "$run" "$rps" "$p50" "$p99" "$errors")"
        done
    done
done

# median SERVER CASE -> "rps p50 p99" of the median run (by req/s; the lower middle if RUNS is even)
median() {
    cat "$WORK/wrk/$2.$1".*.result | sort -n -k1,1 | awk -v n="$RUNS" 'NR == int((n + 1) / 2)'
}

read -r axum_rss axum_hwm <<<"$(rss_of "$BASELINE_PID")"
kiln_rss='–' kiln_hwm='–'
[ "$ONLY_BASELINE" = 1 ] || read -r kiln_rss kiln_hwm <<<"$(rss_of "$KILN_PID")"

# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------
TABLE=$WORK/table.md
{
    echo '| case | axum req/s | kiln req/s | kiln/axum | axum p50 | kiln p50 | axum p99 | kiln p99 |'
    echo '|---|---:|---:|---:|---:|---:|---:|---:|'
    for case in "${CASES[@]}"; do
        read -r a_rps a_p50 a_p99 <<<"$(median axum "$case")"
        if [ "$ONLY_BASELINE" = 1 ]; then
            k_rps='' k_p50='' k_p99=''
        else
            read -r k_rps k_p50 k_p99 <<<"$(median kiln "$case")"
        fi
        awk -v c="$case" -v ar="$a_rps" -v a50="$a_p50" -v a99="$a_p99" \
            -v kr="$k_rps" -v k50="$k_p50" -v k99="$k_p99" '
            function num(x,   s, out) { # 107395.3 -> 107,395
                s = sprintf("%.0f", x); out = ""
                while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
                return s out
            }
            function lat(x) { return x == "" ? "–" : (x < 10 ? sprintf("%.2f ms", x) : sprintf("%.1f ms", x)) }
            BEGIN {
                ratio = (kr == "" || ar == 0) ? "–" : sprintf("%.1f%%", 100 * kr / ar)
                printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c, num(ar),
                    (kr == "" ? "–" : num(kr)), ratio, lat(a50), lat(k50), lat(a99), lat(k99)
            }'
    done
    echo
    if [ "$ONLY_BASELINE" = 1 ]; then
        echo "RSS after the runs: axum $axum_rss MiB (peak $axum_hwm MiB)."
    else
        echo "RSS after the runs: axum $axum_rss MiB (peak $axum_hwm MiB), kiln $kiln_rss MiB (peak $kiln_hwm MiB; $kiln_idle_rss MiB idle after deploying the 3 scripts; 1 JS worker)."
    fi
} >"$TABLE"

echo
cat "$TABLE"

if [ "$RECORD" = 1 ]; then
    RESULTS=$BENCH_DIR/RESULTS.md
    if [ ! -f "$RESULTS" ]; then
        {
            echo '# Kiln benchmark results'
            echo
            echo 'Appended by `bench/run.sh --record`; the method is in `bench/README.md`. Compare'
            echo 'ratios within one run, not absolute numbers across runs or machines.'
        } >"$RESULTS"
    fi
    cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
    commit=$(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [ "$commit" != unknown ] && [ -n "$(cd "$ROOT" && git status --porcelain 2>/dev/null)" ]; then
        commit="$commit (uncommitted changes)"
    fi
    {
        echo
        echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — $cpus CPUs, ${cpu_model:-unknown CPU}, kernel $(uname -r)"
        echo
        echo "Commit $commit. Servers pinned to CPU $SERVER_CPU, \`wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency\`" \
            "pinned to CPU $CLIENT_CPU, ${WARMUP} s warm-up, median of $RUNS runs (latencies of the median run)." \
            "CPU busy before the run: ${BUSY}%."
        echo
        cat "$TABLE"
    } >>"$RESULTS"
    note "appended to $RESULTS"
fi
