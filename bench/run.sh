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
# <repo>/target), SKIP_BUILD=1 to use the binaries already built, CASES (default
# "hello json fib execute stored"; execute and stored are Kiln-only WebAssembly cases),
# WASM_MODULE (the module for them; default: WasmWiz's hello_world.wasm from ../shared when
# present, else bench/wasm/hello.c built with clang).
#
# Needs bash, coreutils (taskset is util-linux), awk, curl and wrk; for the WebAssembly cases
# without WasmWiz's module also clang, lld and wasi-libc (all installed with apt-get when
# missing). See bench/README.md for the method.
set -euo pipefail

die() {
    printf '\nbench/run.sh: error: %s\n' "$*" >&2
    exit 1
}
note() { printf '==> %s\n' "$*" >&2; }

usage() {
    sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
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

# Which cases run: script cases on both servers, WebAssembly cases on Kiln only.
SCRIPT_CASES=()
WASM_CASES=()
for case in ${CASES:-hello json fib execute stored}; do
    case "$case" in
    hello | json | fib) SCRIPT_CASES+=("$case") ;;
    execute | stored) [ "$ONLY_BASELINE" = 1 ] || WASM_CASES+=("$case") ;;
    *) die "unknown case '$case' in CASES (known: hello json fib execute stored)" ;;
    esac
done
[ $((${#SCRIPT_CASES[@]} + ${#WASM_CASES[@]})) -gt 0 ] || die "CASES selects nothing to measure"

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

# The module of the WebAssembly cases: given, or WasmWiz's own hello world when the shared
# fixtures are next to the repository, or our C equivalent (compiled below, once WORK exists).
WASM_SOURCE=
if [ ${#WASM_CASES[@]} -gt 0 ]; then
    WASMWIZ_HELLO=$ROOT/../shared/fixtures/wasmwiz/hello_world.wasm
    if [ -n "${WASM_MODULE:-}" ]; then
        [ -f "$WASM_MODULE" ] || die "WASM_MODULE=$WASM_MODULE does not exist"
        WASM_SOURCE="$WASM_MODULE (WASM_MODULE)"
    elif [ -f "$WASMWIZ_HELLO" ]; then
        WASM_MODULE=$(cd "$(dirname "$WASMWIZ_HELLO")" && pwd)/hello_world.wasm
        WASM_SOURCE="WasmWiz hello_world.wasm (Rust)"
    else
        WASM_MODULE=
        WASM_SOURCE="bench/wasm/hello.c (clang -O2, wasm32-wasi)"
        wasi_ok() { [ -f /usr/lib/wasm32-wasi/libc.a ] && command -v clang >/dev/null && command -v wasm-ld >/dev/null; }
        if ! wasi_ok; then
            note "installing clang, lld and wasi-libc for the WebAssembly cases (apt-get)"
            export DEBIAN_FRONTEND=noninteractive
            wasi_packages=(clang lld wasi-libc libclang-rt-14-dev-wasm32)
            if ! apt-get install -y -qq "${wasi_packages[@]}" >/dev/null 2>&1; then
                apt-get update -qq >/dev/null 2>&1 || true
                apt-get install -y -qq "${wasi_packages[@]}" >/dev/null 2>&1 ||
                    die "could not install ${wasi_packages[*]} with apt-get; install them, set WASM_MODULE, or drop execute/stored from CASES"
            fi
        fi
    fi
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

if [ ${#WASM_CASES[@]} -gt 0 ] && [ -z "$WASM_MODULE" ]; then
    WASM_MODULE=$WORK/hello.wasm
    clang --target=wasm32-wasi -O2 -o "$WASM_MODULE" "$BENCH_DIR/wasm/hello.c" >"$WORK/clang.log" 2>&1 || {
        cat "$WORK/clang.log" >&2
        die "could not compile bench/wasm/hello.c to WebAssembly (clang --target=wasm32-wasi)"
    }
fi
if [ ${#WASM_CASES[@]} -gt 0 ]; then
    WASM_SOURCE="$WASM_SOURCE, $(wc -c <"$WASM_MODULE" | tr -d ' ') bytes"
    note "WebAssembly cases use $WASM_SOURCE"
fi

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

# api REQUEST-NAME EXPECTED-STATUS CURL-ARGS...: a management call with the admin token; the
# answer is left in $WORK/REQUEST-NAME.json.
api() {
    local name=$1 expect=$2 code
    shift 2
    code=$(curl -sS -o "$WORK/$name.json" -w '%{http_code}' --max-time 60 \
        -H "Authorization: Bearer $ADMIN_TOKEN" "$@") || die "$name: curl failed (is kiln still running?)"
    if [ "$code" != "$expect" ]; then
        cat "$WORK/$name.json" >&2 || true
        echo >&2
        die "$name answered HTTP $code (expected $expect)"
    fi
}

# The WebAssembly cases run with an API key (scope `execute`) of a bench user on a tier without
# rate limits or quotas, allowing more concurrent executions than wrk has connections.
EXEC_KEY=
STORED_NOTE=
if [ ${#WASM_CASES[@]} -gt 0 ]; then
    api tier 200 -X PUT "$KILN_URL/engine/api/tiers/bench" -H 'Content-Type: application/json' \
        --data-binary '{"rate_per_minute": 0, "quota_per_day": 0, "cpu_ms": 1000, "memory_mb": 64,
            "max_wasm_bytes": 67108864, "max_input_bytes": 1048576, "max_concurrent": 1024}'
    api user 201 -X POST "$KILN_URL/engine/api/users" -H 'Content-Type: application/json' \
        --data-binary '{"email": "bench@example.com", "roles": ["user"], "allowed_tiers": ["bench"]}'
    user_id=$(sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p' "$WORK/user.json")
    [ -n "$user_id" ] || die "no user id in $(cat "$WORK/user.json")"
    api key 201 -X POST "$KILN_URL/engine/api/keys" -H 'Content-Type: application/json' \
        --data-binary "{\"name\": \"bench\", \"tier\": \"bench\", \"scopes\": [\"execute\"], \"user_id\": $user_id}"
    EXEC_KEY=$(grep -o '"key":"kiln_[0-9a-f]*"' "$WORK/key.json" | cut -d'"' -f4)
    [ -n "$EXEC_KEY" ] || die "no key in the key creation answer"
    note "created the bench API key ($(grep -o '"prefix":"[^"]*"' "$WORK/key.json"))"

    # Stored modules (`POST /api/modules`) may not exist in this build: skip that case if not.
    if [[ " ${WASM_CASES[*]} " == *" stored "* ]]; then
        code=$(curl -sS -o "$WORK/store.json" -w '%{http_code}' --max-time 60 -X POST \
            -H "Authorization: Bearer $EXEC_KEY" -F "wasm=@$WASM_MODULE" -F name=bench-hello \
            "$KILN_URL/api/modules") || die "storing the module: curl failed"
        case "$code" in
        2??) note "stored the module as bench-hello: $(cat "$WORK/store.json")" ;;
        404 | 405)
            STORED_NOTE="skipped \`stored\`: this build has no stored modules (POST /api/modules answered $code)"
            note "$STORED_NOTE"
            remaining=()
            for case in "${WASM_CASES[@]}"; do [ "$case" = stored ] || remaining+=("$case"); done
            WASM_CASES=("${remaining[@]}")
            ;;
        *)
            cat "$WORK/store.json" >&2 || true
            echo >&2
            die "storing the module answered HTTP $code"
            ;;
        esac
    fi
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
for case in "${WASM_CASES[@]}"; do
    if [ "$case" = execute ]; then
        check kiln "POST /execute" '"output":"Hello, World!' -X POST -H "Authorization: Bearer $EXEC_KEY" \
            -F "wasm=@$WASM_MODULE" -F input=bench "$KILN_URL/execute"
    else
        check kiln "POST /api/modules/bench-hello/execute" '"output":"Hello, World!' -X POST \
            -H "Authorization: Bearer $EXEC_KEY" -F input=bench "$KILN_URL/api/modules/bench-hello/execute"
    fi
done

# ---------------------------------------------------------------------------------------------
# Measurements
# ---------------------------------------------------------------------------------------------
CASES=("${SCRIPT_CASES[@]}" "${WASM_CASES[@]}")
path_of() {
    case "$1" in
    hello) echo / ;;
    json) echo /echo ;;
    fib) echo '/fib?n=20' ;;
    execute) echo /execute ;;
    stored) echo /api/modules/bench-hello/execute ;;
    esac
}
# The servers measured for a case: the WebAssembly cases have no axum equivalent.
servers_of() {
    case "$1" in
    execute | stored) echo kiln ;;
    *) echo "${SERVERS[@]}" ;;
    esac
}

# run_wrk SECONDS SERVER CASE OUTFILE
run_wrk() {
    local secs=$1 server=$2 case=$3 out=$4 url
    url=$(url_of "$server")$(path_of "$case")
    local script=() wasm=
    case "$case" in
    json) script=(-s "$BENCH_DIR/wrk/echo.lua") ;;
    execute) script=(-s "$BENCH_DIR/wrk/execute.lua") wasm=$WASM_MODULE ;;
    stored) script=(-s "$BENCH_DIR/wrk/execute.lua") ;;
    esac
    alive "$(pid_of "$server")" || die "$server is no longer running (log: see above)"
    # In the background + wait, so a signal to this script is handled at once (trap below).
    WASM=$wasm KEY=$EXEC_KEY taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"${secs}s" --latency "${script[@]}" "$url" >"$out" 2>&1 &
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
total=$(((${#SCRIPT_CASES[@]} * ${#SERVERS[@]} + ${#WASM_CASES[@]}) * (RUNS * DURATION + WARMUP)))
note "measuring: ${SCRIPT_CASES[*]} x ${SERVERS[*]}${WASM_CASES[*]:+, ${WASM_CASES[*]} x kiln}, $RUNS x ${DURATION}s after ${WARMUP}s warm-up (about ${total}s)"
for case in "${CASES[@]}"; do
    read -r -a case_servers <<<"$(servers_of "$case")"
    if [ "$WARMUP" -gt 0 ]; then
        for server in "${case_servers[@]}"; do
            run_wrk "$WARMUP" "$server" "$case" "$WORK/wrk/$case.$server.warmup"
        done
    fi
    for run in $(seq 1 "$RUNS"); do
        # Alternate which server goes first so both see the same machine noise.
        if [ $((run % 2)) = 1 ]; then order=("${case_servers[@]}"); else
            order=()
            for ((i = ${#case_servers[@]} - 1; i >= 0; i--)); do order+=("${case_servers[i]}"); done
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
            note "$(printf '%-7s %-4s run %d: %10.0f req/s  p50 %.3f ms  p99 %.3f ms  socket errors %s' \
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
# Shared awk helpers: num(107395.3) -> 107,395; lat(ms) -> "0.36 ms" / "17.2 ms" / "–".
AWK_FORMAT='
    function num(x,   s, out) {
        s = sprintf("%.0f", x); out = ""
        while (length(s) > 3) { out = "," substr(s, length(s) - 2) out; s = substr(s, 1, length(s) - 3) }
        return s out
    }
    function lat(x) { return x == "" ? "–" : (x < 10 ? sprintf("%.2f ms", x) : sprintf("%.1f ms", x)) }'
# The target for the WebAssembly cases (issue: a cached hello world on one core).
EXEC_TARGET=5000
{
    if [ ${#SCRIPT_CASES[@]} -gt 0 ]; then
        echo '| case | axum req/s | kiln req/s | kiln/axum | axum p50 | kiln p50 | axum p99 | kiln p99 |'
        echo '|---|---:|---:|---:|---:|---:|---:|---:|'
    fi
    for case in "${SCRIPT_CASES[@]}"; do
        read -r a_rps a_p50 a_p99 <<<"$(median axum "$case")"
        if [ "$ONLY_BASELINE" = 1 ]; then
            k_rps='' k_p50='' k_p99=''
        else
            read -r k_rps k_p50 k_p99 <<<"$(median kiln "$case")"
        fi
        awk -v c="$case" -v ar="$a_rps" -v a50="$a_p50" -v a99="$a_p99" \
            -v kr="$k_rps" -v k50="$k_p50" -v k99="$k_p99" "$AWK_FORMAT"'
            BEGIN {
                ratio = (kr == "" || ar == 0) ? "–" : sprintf("%.1f%%", 100 * kr / ar)
                printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", c, num(ar),
                    (kr == "" ? "–" : num(kr)), ratio, lat(a50), lat(k50), lat(a99), lat(k99)
            }'
    done
    if [ ${#WASM_CASES[@]} -gt 0 ]; then
        [ ${#SCRIPT_CASES[@]} -eq 0 ] || echo
        k_hello='' a_hello=''
        if [[ " ${SCRIPT_CASES[*]} " == *" hello "* ]]; then
            read -r k_hello _ <<<"$(median kiln hello)"
            read -r a_hello _ <<<"$(median axum hello)"
        fi
        echo "| WebAssembly (Kiln only) | exec/s | p50 | p99 | exec/s ÷ kiln \`hello\` req/s | ≥ $(awk -v n=$EXEC_TARGET "$AWK_FORMAT"' BEGIN { print num(n) }')/s |"
        echo '|---|---:|---:|---:|---:|:---:|'
        for case in "${WASM_CASES[@]}"; do
            read -r rps p50 p99 <<<"$(median kiln "$case")"
            case "$case" in
            execute) what='`/execute`, module uploaded (cache hit)' ;;
            stored) what='stored module by name' ;;
            esac
            awk -v c="$what" -v r="$rps" -v p50="$p50" -v p99="$p99" -v h="$k_hello" \
                -v t=$EXEC_TARGET "$AWK_FORMAT"'
                BEGIN {
                    ratio = (h == "" || h == 0) ? "–" : sprintf("%.1f%%", 100 * r / h)
                    printf "| %s | %s | %s | %s | %s | %s |\n", c, num(r), lat(p50), lat(p99), ratio,
                        (r >= t ? "yes" : "no")
                }'
        done
        echo
        echo "Module: $WASM_SOURCE; one API key on an unlimited tier.${STORED_NOTE:+ Note: $STORED_NOTE.}"
        if [ -n "$k_hello" ]; then
            awk -v k="$k_hello" -v a="$a_hello" "$AWK_FORMAT"' BEGIN {
                printf "Same run, for context: `hello` served %s req/s by Kiln and %s by axum.\n", num(k), num(a) }'
        fi
    elif [ -n "$STORED_NOTE" ]; then
        echo
        echo "Note: $STORED_NOTE."
    fi
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
