#!/usr/bin/env bash
# The wasmtail quick start, end to end on this machine, no cloud account:
#  - sls-local, a local endpoint that speaks the real Alibaba Cloud Log Service protocol;
#  - an "application" that writes nginx access lines into a log file and rotates it;
#  - wasmtail, tailing the file and shipping every line with flusher_sls;
#  - a 3-second outage of the endpoint (503s) in the middle: nothing is lost;
# then the agent is stopped with SIGTERM, as Kubernetes would.
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -x bin/wasmtail ] || make build
work=$(mktemp -d /tmp/wasmtail-quickstart.XXXX)
cleanup() { kill "${agent:-}" "${sls:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/logs" "$work/pipelines" "$work/data" "$work/sls"
SLS=127.0.0.1:9871
export ALIBABA_CLOUD_ACCESS_KEY_ID=LTAI-local ALIBABA_CLOUD_ACCESS_KEY_SECRET=local-secret

# 1. The local log service.
bin/wasmtail sls-local --listen $SLS --data "$work/sls" \
  --access-key-id "$ALIBABA_CLOUD_ACCESS_KEY_ID" --access-key-secret "$ALIBABA_CLOUD_ACCESS_KEY_SECRET" 2> "$work/sls.log" &
sls=$!

# 2. A pipeline in the LoongCollector format: tail *.log, ship to the project "demo", logstore "nginx".
cat > "$work/pipelines/nginx.yaml" <<YAML
enable: true
inputs:
  - Type: input_file
    FilePaths:
      - $work/logs/*.log
flushers:
  - Type: flusher_sls
    Project: demo
    Logstore: nginx
    Endpoint: $SLS
YAML
echo "pipeline config:"; sed 's/^/  /' "$work/pipelines/nginx.yaml"

# 3. The agent, configured by environment variables only.
WASMTAIL_PIPELINES="$work/pipelines" WASMTAIL_DATA="$work/data" WASMTAIL_HTTP=127.0.0.1:9870 \
  bin/wasmtail run 2> "$work/agent.log" &
agent=$!
for _ in $(seq 50); do curl -fs http://127.0.0.1:9870/readyz >/dev/null 2>&1 && break; sleep 0.1; done
echo "agent ready: $(curl -fs http://127.0.0.1:9870/readyz)"

# 4. The application: 10,000 lines, with a rename rotation half-way, and the
#    log service down (503) for 3 seconds while it writes.
curl -fs -X POST -d '{"status":503,"forMs":3000}' http://$SLS/_local/faults >/dev/null
for i in $(seq 1 10000); do
  echo "10.0.0.$((i % 256)) - - [26/Nov/2026:10:00:00 +0800] \"GET /item/$i HTTP/1.1\" 200 $((i * 7 % 5000)) \"-\" \"curl/8.5.0\""
  if [ "$i" = 5000 ]; then mv "$work/logs/access.log" "$work/logs/access.log.1"; fi
done >> "$work/logs/access.log"
# (the loop keeps writing to the renamed file, as a real application would;
# the agent follows the file, not the name)
for i in $(seq 10001 10010); do echo "after rotation $i" >> "$work/logs/access.log"; done

# 5. Wait until every line is in the log service.
n=0
for _ in $(seq 200); do
  n=$( (curl -fs http://$SLS/_local/logs/demo/nginx || true) | wc -l)
  [ "$n" -ge 10010 ] && break; sleep 0.1
done
echo "logs in the local log service: $n of 10010"
echo "first log:"; curl -fs http://$SLS/_local/logs/demo/nginx | sed -n 1p | sed 's/^/  /'
echo "what the endpoint answered: $(curl -fs http://$SLS/_local/stats)"
echo "agent metrics:"; curl -fs http://127.0.0.1:9870/metrics | grep -E '^wasmtail_(input_events|flusher_events)_total' | sed 's/^/  /'
kill -TERM $agent; wait $agent; agent=
echo "agent stopped cleanly (SIGTERM)"
[ "$n" -ge 10010 ] || { echo "FAILED: lines missing"; cat "$work/agent.log"; exit 1; }
echo "quick start OK"
