#!/bin/bash
# A check on a real GPU machine (no .NET needed there): headroom up finds the GPUs with nvidia-smi, a 1-GPU job runs
# on the local runtime with CUDA_VISIBLE_DEVICES and sees its GPU, and headroom agent heartbeats the node. Takes a
# self-contained publish packed as a tar.xz (docs/runtimes.md says how to make one); writes what it saw under $OUT.
set -u
O=${OUT:-/tmp/out}; mkdir -p "$O"
D=/tmp/hr; rm -rf "$D"; mkdir -p "$D"
tar -C "$D" -xJf "${1:-.bench/device/headroom.tar.xz}"
H="$D/headroom"
nvidia-smi -L > "$O/nvidia-smi-L.txt" 2>&1
nvidia-smi -q -x > "$O/nvidia-smi-q-x.xml" 2>&1
nvidia-smi --query-gpu=index,uuid,name,memory.total,temperature.gpu,ecc.errors.uncorrected.volatile.total --format=csv > "$O/nvidia-smi-query.csv" 2>&1
HEADROOM_SERVE_MINILM=false "$H" up --data "$D/data" --port 18080 > "$O/up.log" 2>&1 &
UP=$!
for i in $(seq 1 120); do [ -s "$D/data/admin.key" ] && curl -sf http://127.0.0.1:18080/healthz >/dev/null && break; sleep 0.5; done
K=$(cat "$D/data/admin.key")
api() { curl -s -H "Authorization: Bearer $K" -H 'content-type: application/json' "$@"; }
api http://127.0.0.1:18080/v1/fleet/nodes > "$O/nodes.json"
NODE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"][0]["name"])' "$O/nodes.json" 2>/dev/null || echo "")
P=$(api -X POST http://127.0.0.1:18080/v1/projects -d '{"name":"gpu-check"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
J=$(api -X POST http://127.0.0.1:18080/v1/jobs -d "{\"project_id\":\"$P\",\"gpus_per_node\":1,\"command\":[\"/bin/sh\",\"-c\",\"echo CUDA_VISIBLE_DEVICES=\$CUDA_VISIBLE_DEVICES; nvidia-smi -L; nvidia-smi --query-gpu=index,name --format=csv,noheader\"]}" | tee "$O/job-submit.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
for i in $(seq 1 60); do s=$(api http://127.0.0.1:18080/v1/jobs/$J | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'); [ "$s" = succeeded ] || [ "$s" = failed ] && break; sleep 0.5; done
api http://127.0.0.1:18080/v1/jobs/$J > "$O/job.json"
api http://127.0.0.1:18080/v1/jobs/$J/logs > "$O/job-logs.txt"
api http://127.0.0.1:18080/v1/jobs/$J/events > "$O/job-events.json"
timeout 12 "$H" agent --endpoint http://127.0.0.1:18080 --key-file "$D/data/admin.key" --node "$NODE" --interval-seconds 2 > "$O/agent.log" 2>&1
api http://127.0.0.1:18080/v1/fleet/nodes/$NODE > "$O/node-after-agent.json"
api "http://127.0.0.1:18080/v1/usage/events?limit=10" > "$O/usage.json"
kill $UP; wait $UP 2>/dev/null
echo "node=$NODE job=$J state=$s"; cat "$O/job-logs.txt"; head -c 1500 "$O/node-after-agent.json"; echo; tail -5 "$O/agent.log"
