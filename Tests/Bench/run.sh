#!/usr/bin/env bash
# make bench: the WebSocket echo benchmark of issue 2. The server runs on core 0 with one loop and
# the load generator on core 1, both pinned with taskset. Prints Markdown for docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=${BENCH_BIN:-.build/release}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
BUSY_POLL_US=${BENCH_BUSY_POLL_US:-0}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_server() {
  PORT=$(free_port)
  taskset -c 0 $BIN/builderai serve --port "$PORT" --loops 1 --log-level warning --busy-poll-us "$1" --data-dir "$(mktemp -d)" &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && return; sleep 0.05; done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
trap stop_server EXIT

echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB, kernel $(uname -r)"
echo "Date: $(date -u +%Y-%m-%dT%H:%MZ); server busy-poll: ${BUSY_POLL_US} µs; ${SECONDS_PER_RUN} s per run after 1 s warm-up"

# The machine's floor (CalibrationBench.swift): the fan-out and relay patterns done by code that
# does the minimum, and the vCPU's own stalls, to read the real benchmarks' latencies against.
echo
echo "Machine floor: what this VM gives code that does the minimum (raw sockets, epoll, one pinned thread per"
echo "core, no event loop, no server), measured like the chat fan-out (issue 6) and the LLM relay (issue 4)."
echo "Stalls: a thread spinning on the TSC for 10 s with the other core idle, then one spinner per core for 10 s;"
echo "a gap is time the spinner did not run; counts are cumulative (a 3 ms gap counts under ≥ 0.1, 0.5, 1 and 2 ms)."
echo
echo "| stalls | both cores busy? | core | gaps ≥ 0.1 ms | ≥ 0.5 ms | ≥ 1 ms | ≥ 2 ms | ≥ 5 ms | longest ms | time lost in gaps ≥ 20 µs % |"
echo "|---|---|---|---|---|---|---|---|---|---|"
$BIN/builderai-bench machine-stalls --seconds 10 || true
echo
echo "| fan-out floor | connections | rate | size | p50 ms | p99 ms | p99.9 ms | max ms | sender µs per send | reader CPU µs per message |"
echo "|---|---|---|---|---|---|---|---|---|---|"
$BIN/builderai-bench calibrate-fanout --connections 1000 --rate 50 --seconds 10 || true
echo
echo "| relay floor | streams | interval ms | chunks/s | reader CPU µs/chunk | p50 µs | p99 µs | p99.9 µs | max µs |"
echo "|---|---|---|---|---|---|---|---|---|"
# The same pattern through libcurl's multi interface and nothing else (CalibrationCurlRelay.swift):
# the least a relay on libcurl can cost, between the raw reads above and llm-stream (issue 4) below.
for interval in 10 20; do
  $BIN/builderai-bench calibrate-relay --streams 1000 --interval-ms $interval || true
  $BIN/builderai-bench calibrate-curl-relay --streams 1000 --interval-ms $interval || true
done
echo
echo "Server CPU is the server process's utime + stime over the measured seconds (100 Hz ticks); server µs/msg"
echo "is that divided by the echoes completed: the server's ceiling on one core is about 1,000,000 / it, whether or"
echo "not the load generator (its own CPU in the next column) kept up."
echo
echo "| mode | connections | in flight | size | msgs/s | p50 µs | p99 µs | p99.9 µs | memory | server CPU | server µs/msg | generator CPU | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
start_server "$BUSY_POLL_US"
for size in 32 4096; do
  for conns in 1 100 1000; do
    taskset -c 1 $BIN/builderai-bench echo --port "$PORT" --connections "$conns" --in-flight 1 --size "$size" --seconds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID"
  done
done
taskset -c 1 $BIN/builderai-bench echo --port "$PORT" --connections 100 --in-flight 8 --size 32 --seconds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID"
stop_server
# The floor: the least a WebSocket echo server can do (CalibrationBench.echo: epoll, recv, unmask,
# send), on core 0 and measured by the same generator. A server's msgs/s here can be at most
# 1,000,000 / (its µs per message), and no server gets below the floor's µs per message.
PORT=$(free_port)
taskset -c 0 $BIN/builderai-bench calibrate-echo --port "$PORT" &
SERVER_PID=$!
sleep 0.5
for conns in 100 1000; do
  taskset -c 1 $BIN/builderai-bench echo --port "$PORT" --connections "$conns" --in-flight 1 --size 32 --seconds "$SECONDS_PER_RUN" --server-pid "$SERVER_PID" \
    | sed 's/^| echo |/| echo floor |/'
done
stop_server
# Idle memory on a fresh server, so earlier runs' buffers do not count.
start_server "$BUSY_POLL_US"
taskset -c 1 $BIN/builderai-bench idle --port "$PORT" --connections 10000 --server-pid "$SERVER_PID"
stop_server

# Issue 3: the store writer and readers (one process; producers live on two event loops and get
# their acknowledgements through loop.execute, as request handlers do).
DATA=$(mktemp -d)
trap 'stop_server; rm -rf "$DATA"' EXIT
echo
echo "Store writes (normal durability): append = Message.append (number taken in SQL); insert = owner-numbered Message.insert (the chat engine's path)"
echo
echo "| path | producers | loops | in flight each | rows/s | p50 µs | p99 µs | mean batch |"
echo "|---|---|---|---|---|---|---|---|"
for path in append insert; do
  for producers in 1 8 64; do
    rm -rf "$DATA/w"; $BIN/builderai-bench store-write --data-dir "$DATA/w" --path $path --producers $producers --seconds "$SECONDS_PER_RUN"
  done
done
rm -rf "$DATA/w"; $BIN/builderai-bench store-write --data-dir "$DATA/w" --path insert --producers 64 --in-flight 4 --seconds "$SECONDS_PER_RUN"
echo
echo "Baseline without the WAL write coalescing (BUILDERAI_WAL_COALESCING=0, SQLite's own unix VFS):"
echo
for inflight in 1 4; do
  rm -rf "$DATA/w"; BUILDERAI_WAL_COALESCING=0 $BIN/builderai-bench store-write --data-dir "$DATA/w" --path insert --producers 64 --in-flight $inflight --seconds "$SECONDS_PER_RUN"
done
echo
echo "| read | database | p50 µs | p99 µs | p99.9 µs |"
echo "|---|---|---|---|---|"
$BIN/builderai-bench store-read --data-dir "$DATA/r" --messages 1000000

# Issue 4: LLM streams relayed by the router on one loop from a fake OpenAI-compatible provider on
# the other loop (in-process; 500 chunks per stream, one every 10 ms per stream).
echo
echo "| streams | chunks each | chunks/s relayed | router loop CPU µs/chunk | p50 µs (all) | p99 µs (all) | steady samples | steady p50 µs | steady p99 µs | steady p99.9 µs | memory per open stream | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
# --seconds is the interval between one stream's chunks, in milliseconds: 10 ms (100 tokens/s, a fast
# model) and 20 ms (50 tokens/s).
for interval in 10 20; do
  $BIN/builderai-bench llm-stream --producers 1000 --messages 500 --seconds $interval --data-dir unused
done
# The same relay with the fake speaking Gemini's SSE (chunks with usage, read by GeminiTextChunk).
BENCH_PROVIDER=gemini $BIN/builderai-bench llm-stream --producers 1000 --messages 500 --seconds 20 --data-dir unused
# The relay's own share per chunk (SSE parser and OpenAI decoder, no kernel or libcurl): steady to a
# few nanoseconds, where llm-stream's CPU per chunk moves by ±10% between runs.
echo
$BIN/builderai-bench llm-decode

# Issue 5: MCP tool calls through MCPManager on one loop (pinned to core 1) to the official Python SDK
# test server (started on every core), N echo calls kept in flight. Client CPU is the manager loop
# thread's CPU time per call: our client's cost, apart from the Python server's.
ALL_CPUS=0-$(( $(nproc) - 1 ))
echo
echo "Issue 5: MCP tool calls"
echo
echo "| transport | concurrency | calls/s | p50 µs | p99 µs | client CPU µs/call | errors |"
echo "|---|---|---|---|---|---|---|"
for transport in stdio http; do
  for concurrency in 1 64; do
    taskset -c 1 $BIN/builderai-bench mcp-calls --transport $transport --concurrency $concurrency \
      --seconds "$SECONDS_PER_RUN" --python .venv/bin/python --server-cpus "$ALL_CPUS"
  done
done
echo
echo "Failover: two HTTP replicas in one group (health checks every 200 ms, 500 ms timeout), 8 calls in flight;"
echo "replica A is killed (SIGKILL) and restarted on its port once seen down; back to healthy counts from A listening again"
echo
echo "| detect dead replica ms | calls failed | longest gap ms | back to healthy ms |"
echo "|---|---|---|---|"
taskset -c 1 $BIN/builderai-bench mcp-failover --rounds 3 --python .venv/bin/python --server-cpus "$ALL_CPUS"

# Issue 6: the chat engine over /ws (ChatBench.swift). Each run seeds a fresh data directory with the
# CLI, runs the fake OpenAI provider in the bench process (core 1, beside the WebSocket clients),
# starts `builderai serve --loops 1` on core 0, and kills it by PID when done.
echo
echo "Issue 6: chat fan-out: one generation streaming 50 deltas/s to 1,000 watchers of one conversation"
echo
echo "| mode | loops | watchers | delta rate | deltas/s read | p50 ms | p99 ms | p99.9 ms | max ms | server CPU | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
taskset -c 1 $BIN/builderai-bench chat-fanout --server $BIN/builderai --server-cpus 0 --loops 1 \
  --connections 1000 --rate 50 --seconds 10 --warmup 1 || true
echo
echo "Issue 6: chat load: 1,000 conversations (one per connection), fake provider answering at once;"
echo "think 0 = each conversation prompts again as soon as its generation finishes (closed loop)"
echo
echo "| mode | loops | conversations | think | fake delay | prompts/s | first delta p50 ms | p99 ms | added p50 ms | added p99 ms | before fake p50 / p99 ms | after fake p50 / p99 ms | server CPU | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for think in 0 1000 2000 10000; do
  taskset -c 1 $BIN/builderai-bench chat-load --server $BIN/builderai --server-cpus 0 --loops 1 \
    --connections 1000 --think-ms $think --seconds 10 --warmup 3 || true
done
echo
echo "Issue 6: chat load with answers streamed over time: each answer is 20 deltas, one every 500 ms, then"
echo "the conversation thinks 0.5-1.5 s, so ~900 of the 1,000 conversations are generating at any moment"
echo
echo "| mode | loops | conversations | think | fake delay | prompts/s | first delta p50 ms | p99 ms | added p50 ms | added p99 ms | before fake p50 / p99 ms | after fake p50 / p99 ms | server CPU | errors |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
taskset -c 1 $BIN/builderai-bench chat-load --server $BIN/builderai --server-cpus 0 --loops 1 \
  --connections 1000 --think-ms 1000 --answer-deltas 20 --answer-interval-ms 500 --seconds 10 --warmup 12 || true

# Issue 7: the REST API. The builderai CLI makes the publisher and its token; `builderai-bench
# api-seed` (APIBench.swift) publishes the apps and makes reader and installer accounts with a token
# each, because the API rate-limits every token (50/s, burst 100): the wrk script takes the next
# token for every request. `builderai serve --loops 1` runs on core 0, wrk (one thread) on core 1.
API_SECONDS=${BENCH_API_SECONDS:-10}
API_APPS=${BENCH_API_APPS:-10000}
API_DATA=$(mktemp -d)
trap 'stop_server; rm -rf "$DATA" "$API_DATA"' EXIT
$BIN/builderai user create --data-dir "$API_DATA" --email publisher@bench.example --name Publisher >/dev/null
$BIN/builderai token create --data-dir "$API_DATA" --email publisher@bench.example --name bench >"$API_DATA/publisher-token.txt"
APP_ID=$($BIN/builderai-bench api-seed --data-dir "$API_DATA" --email publisher@bench.example --apps "$API_APPS" \
  --readers 4000 --installers 60000)
cat >"$API_DATA/rotate.lua" <<'LUA'
-- wrk -s rotate.lua URL -- TOKENS_FILE METHOD PATH: one request per token in turn.
local tokens, i, method, path = {}, 0, "GET", "/"
function init(args)
  for line in io.lines(args[1]) do tokens[#tokens + 1] = line end
  method, path = args[2], args[3]
end
function request()
  i = i % #tokens + 1
  return wrk.format(method, path, { ["Authorization"] = "Bearer " .. tokens[i] })
end
LUA
PORT=$(free_port)
taskset -c 0 $BIN/builderai serve --port "$PORT" --loops 1 --log-level warning --data-dir "$API_DATA" &
SERVER_PID=$!
for _ in $(seq 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.05; done
run_wrk() { # label method path tokens-file seconds
  local out
  out=$(taskset -c 1 wrk -t1 -c64 -d"$5"s --latency -s "$API_DATA/rotate.lua" "http://127.0.0.1:$PORT$3" -- "$4" "$2" "$3")
  echo "| $1 | $(awk '/Requests\/sec/{print $2}' <<<"$out") | $(awk '$1=="50%"{print $2}' <<<"$out") | $(awk '$1=="99%"{print $2}' <<<"$out") | $(awk '/Non-2xx/{print $NF}' <<<"$out" | grep . || echo 0) | $(awk '/Socket errors/{print $0}' <<<"$out" | sed 's/.*errors: //' | grep . || echo none) |"
}
SEARCH_PATH="/api/v1/apps?q=planner"
echo
echo "Issue 7: REST API, $API_APPS published apps; wrk on core 1 (1 thread, 64 connections, ${API_SECONDS} s, a different personal token per request); server --loops 1 on core 0"
echo "Search: $(curl -s -H "Authorization: Bearer $(head -1 "$API_DATA/bench-readers.txt")" "http://127.0.0.1:$PORT$SEARCH_PATH&limit=100" | grep -o '"published_at"' | wc -l) apps on one page of $SEARCH_PATH with limit=100 (the bench asks for the default 20)"
echo
echo "| request | requests/s | p50 | p99 | non-2xx | socket errors |"
echo "|---|---|---|---|---|---|"
run_wrk "warm-up: app detail" GET "/api/v1/apps/$APP_ID" "$API_DATA/bench-readers.txt" 2 >/dev/null
run_wrk "GET /api/v1/me (authentication alone, for reference)" GET "/api/v1/me" "$API_DATA/bench-readers.txt" "$API_SECONDS"
run_wrk "GET /api/v1/apps/:id (authenticated)" GET "/api/v1/apps/$APP_ID" "$API_DATA/bench-readers.txt" "$API_SECONDS"
run_wrk "GET $SEARCH_PATH (authenticated)" GET "$SEARCH_PATH" "$API_DATA/bench-readers.txt" "$API_SECONDS"
run_wrk "POST /api/v1/apps/:id/install (new user each)" POST "/api/v1/apps/$APP_ID/install" "$API_DATA/bench-installers.txt" "$API_SECONDS"
DOWNLOADS=$(curl -s -H "Authorization: Bearer $(cat "$API_DATA/publisher-token.txt")" "http://127.0.0.1:$PORT/api/v1/apps/$APP_ID" \
  | grep -o '"downloads":[0-9]*' | cut -d: -f2)
echo
echo "Installs completed (downloads counted by app_stats): $DOWNLOADS in $API_SECONDS s = $(( DOWNLOADS / API_SECONDS ))/s; each copies a project with one 2 KB file and its configuration"
stop_server
