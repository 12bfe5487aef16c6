#!/usr/bin/env bash
# The whole test suite, from a fresh clone on Debian with the .NET 10 SDK:
#   1. installs what the tests need (idempotent: apt packages only when missing),
#   2. starts the engines the tests run against (a throwaway PostgreSQL, a Slurm cluster and a Kubernetes
#      control plane on loopback; kube-apiserver is built once from Debian's source package and cached),
#   3. builds once and runs every test project, writing TRX results,
#   4. stops the engines and prints "N passed, N failed" as the last line.
set -uo pipefail
cd "$(dirname "$0")/.."
# --long: the fault tests at a bigger scale than CI's (20,000 simulated seeds, 100 kill -9s of the control plane).
if [ "${1:-}" = "--long" ]; then
  export FAULT_SIM_SEEDS=${FAULT_SIM_SEEDS:-20000} CRASH_LOOP_KILLS=${CRASH_LOOP_KILLS:-100}
fi
ROOT=$(pwd)
RESULTS="$ROOT/TestResults"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3)
command -v npm >/dev/null || need_apt+=(nodejs npm)
ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null || need_apt+=(chromium)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "Installing: ${need_apt[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

export PGROOT=${PGROOT:-/tmp/headroom-test-pg} PGPORT=${PGPORT:-15471}
export TEST_POSTGRES_URL
TEST_POSTGRES_URL=$(deploy/postgres/dev-postgres.sh start) || { echo "PostgreSQL did not start"; echo "0 passed, 1 failed"; exit 1; }
trap 'deploy/postgres/dev-postgres.sh stop; deploy/slurm/dev-cluster.sh stop >/dev/null 2>&1; deploy/kubernetes/dev-cluster.sh stop >/dev/null 2>&1' EXIT

# A real Slurm cluster on loopback (slurmctld, four slurmd with fake GPUs, slurmrestd) for the runtime tests.
export SLURM_ROOT=${SLURM_ROOT:-/tmp/headroom-test-slurm}
SLURM_ENV=$(PORT_BASE=${SLURM_PORT_BASE:-17900} deploy/slurm/dev-cluster.sh start) || { echo "Slurm did not start"; echo "0 passed, 1 failed"; exit 1; }
eval "$SLURM_ENV"   # exports SLURM_CONF and SLURM_REST_URL

# A real Kubernetes API server on loopback (etcd + kube-apiserver v1.20.2; the tests bring a fake kubelet) for the
# kubernetes runtime's tests. The first run builds kube-apiserver (5-8 minutes) into K8S_BIN; later runs reuse it.
export K8S_ROOT=${K8S_ROOT:-/tmp/headroom-test-k8s}
deploy/kubernetes/dev-cluster.sh build || { echo "kube-apiserver did not build"; echo "0 passed, 1 failed"; exit 1; }
K8S_ENV=$(K8S_PORT_BASE=${K8S_PORT_BASE:-18400} deploy/kubernetes/dev-cluster.sh start) || { echo "Kubernetes did not start"; echo "0 passed, 1 failed"; exit 1; }
eval "$K8S_ENV"   # exports KUBECONFIG, KUBE_API and KUBE_TOKEN

# The official openai npm client, pinned by package-lock.json, for the gateway's compatibility test.
(cd tests/Headroom.Gateway.Tests/npm && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || echo "npm ci failed: the npm client test will fail"

# The console's browser tests drive Debian's chromium through Playwright (which downloads no browser of its own).
export TEST_CHROMIUM=${TEST_CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
if ! dotnet build Headroom.slnx -c Release -nologo -v q; then
  echo "0 passed, 1 failed"
  exit 1
fi

status=0
for project in tests/*/*.csproj; do
  name=$(basename "$project" .csproj)
  dotnet test "$project" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$RESULTS" -- RunConfiguration.TestSessionTimeout=1500000 || status=1
done

# dotnet test's own summary is not read by CI: sum the TRX counters.
read -r passed failed < <(python3 - "$RESULTS" <<'PY'
import glob, sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
passed = failed = 0
for path in glob.glob(sys.argv[1] + "/*.trx"):
    counters = ET.parse(path).getroot().find("t:ResultSummary/t:Counters", ns)
    passed += int(counters.get("passed", 0))
    failed += int(counters.get("failed", 0)) + int(counters.get("error", 0)) + int(counters.get("timeout", 0)) + int(counters.get("aborted", 0))
print(passed, failed)
PY
)
trx_count=$(ls "$RESULTS"/*.trx 2>/dev/null | wc -l)
projects=$(ls tests/*/*.csproj | wc -l)
if [ "$trx_count" -lt "$projects" ]; then
  failed=$((failed + projects - trx_count))   # a test host that crashed wrote no results
fi
[ "$failed" -gt 0 ] && status=1
echo "$passed passed, $failed failed"
exit $status
