#!/usr/bin/env bash
# The wasmtail quick start, end to end on this machine, no cloud account:
# an "application" writes nginx access lines into a log file and rotates it;
# wasmtail tails the file and ships every line to the output; we check that
# every line arrived, then stop the agent with SIGTERM as Kubernetes would.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x bin/wasmtail ] || make build
work=$(mktemp -d /tmp/wasmtail-quickstart.XXXX)
trap 'kill $agent 2>/dev/null || true; rm -rf "$work"' EXIT
mkdir -p "$work/logs" "$work/pipelines" "$work/data"

# 1. A pipeline in the LoongCollector format: tail *.log, write JSON lines.
cat > "$work/pipelines/nginx.yaml" <<YAML
enable: true
inputs:
  - Type: input_file
    FilePaths:
      - $work/logs/*.log
flushers:
  - Type: flusher_file
    FilePath: $work/out/nginx.jsonl
YAML
echo "pipeline config:"; sed 's/^/  /' "$work/pipelines/nginx.yaml"

# 2. The agent, configured by environment variables only.
WASMTAIL_PIPELINES="$work/pipelines" WASMTAIL_DATA="$work/data" WASMTAIL_HTTP=127.0.0.1:9870 \
  bin/wasmtail run 2> "$work/agent.log" &
agent=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:9870/readyz >/dev/null 2>&1 && break; sleep 0.1; done
echo "agent ready: $(curl -fs http://127.0.0.1:9870/readyz)"

# 3. The application: 10,000 lines, with a rename rotation half-way.
for i in $(seq 1 10000); do
  echo "10.0.0.$((i % 256)) - - [26/Nov/2026:10:00:00 +0800] \"GET /item/$i HTTP/1.1\" 200 $((i * 7 % 5000)) \"-\" \"curl/8.5.0\""
  if [ "$i" = 5000 ]; then mv "$work/logs/access.log" "$work/logs/access.log.1"; fi
done >> "$work/logs/access.log" 2>/dev/null || true
# (the loop's redirection keeps writing to the renamed file until it ends,
# as a real application would; the agent follows the file, not the name)
for i in $(seq 10001 10010); do echo "after rotation $i" >> "$work/logs/access.log"; done

# 4. Wait until every line arrived.
for _ in $(seq 100); do
  n=$(cat "$work/out/nginx.jsonl" 2>/dev/null | wc -l)
  [ "$n" -ge 10010 ] && break; sleep 0.1
done
echo "records delivered: $n of 10010"
echo "first record:"; head -n 1 "$work/out/nginx.jsonl" | sed 's/^/  /'
echo "metrics:"; curl -fs http://127.0.0.1:9870/metrics | grep -E '^wasmtail_(input_events|flusher_events)_total' | sed 's/^/  /'
kill -TERM $agent; wait $agent
echo "agent stopped cleanly (SIGTERM)"
[ "$n" -ge 10010 ] || { echo "FAILED: lines missing"; exit 1; }
echo "quick start OK"
