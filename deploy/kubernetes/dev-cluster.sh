#!/usr/bin/env bash
# A throwaway Kubernetes control plane on loopback for Headroom's tests and demos (run as root, no Docker, no
# kubelet): Debian's etcd 3.4 and kube-apiserver v1.20.2 built from Debian's own `kubernetes` source package.
# Only the apiserver is needed: Headroom is the scheduler of its pods (it binds them with the Binding API, so no
# kube-scheduler) and it creates bare pods (no controllers, so no kube-controller-manager). The nodes come from a
# fake kubelet the tests run (tests/Headroom.Server.Tests/Jobs/Kubernetes/FakeKubelet.cs).
#
#   deploy/kubernetes/dev-cluster.sh build   builds kube-apiserver into K8S_BIN unless it is there (5-8 minutes, once)
#   deploy/kubernetes/dev-cluster.sh start   (re)starts etcd and kube-apiserver, prints `export KUBECONFIG=...`
#   deploy/kubernetes/dev-cluster.sh stop    stops them by PID file (WIPE=1 deletes the root)
#
# Knobs (environment): K8S_ROOT (/tmp/headroom-k8s), K8S_PORT_BASE (18400: etcd client +0, etcd peer +1,
# apiserver +43), K8S_BIN (/var/cache/headroom-k8s/v1.20.2), K8S_BUILD_DIR (/var/tmp/headroom-k8s-build),
# KUBE_TOKEN (the admin's bearer token).
# Only stdout's last lines are meant for machines (`export KUBECONFIG=...`, `export KUBE_API=...`,
# `export KUBE_TOKEN=...`); progress goes to stderr.
set -euo pipefail
R=${K8S_ROOT:-/tmp/headroom-k8s}
BASE=${K8S_PORT_BASE:-18400}
BIN=${K8S_BIN:-/var/cache/headroom-k8s/v1.20.2}
W=${K8S_BUILD_DIR:-/var/tmp/headroom-k8s-build}
TOKEN=${KUBE_TOKEN:-headroom-dev-admin-token}
ETCD_PORT=$BASE
API_PORT=$((BASE + 43))
T0=$(date +%s%N)
say() { printf '[%6dms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_missing() {
  local missing="" p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  say "installing:$missing"
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build() {
  if [ -x "$BIN/kube-apiserver" ]; then
    say "kube-apiserver is cached: $BIN/kube-apiserver"
    return 0
  fi
  # rsync: the upstream build places its binaries with it.
  install_missing golang-go golang-github-modern-go-reflect2-dev etcd-server etcd-client make rsync
  mkdir -p "$W/apt/parts" "$W/apt/lists/partial" "$BIN"
  # A deb-src twin of the machine's own Debian sources: the source package comes from the same archive.
  sed -e 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$W/apt/parts/src.sources"
  local apto=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$W/apt/parts" -o Dir::State::Lists="$W/apt/lists")
  apt-get "${apto[@]}" update -qq
  (cd "$W" && ls kubernetes_*.orig.tar.gz >/dev/null 2>&1 || apt-get "${apto[@]}" source --download-only kubernetes >&2)
  say "source: $(cd "$W" && ls kubernetes_*.orig.tar.gz)"
  rm -rf "$W/kubernetes-1.20.2"
  (cd "$W" && tar xzf kubernetes_*.orig.tar.gz)
  cd "$W/kubernetes-1.20.2"
  # The vendored reflect2 v1.0.1 faults under Go >= 1.18 on the first JSON map encode (the first PATCH):
  # Debian's v1.0.2 replaces it.
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  rm -f vendor/github.com/modern-go/reflect2/go.mod
  say "building kube-apiserver with $(go version) (5-8 minutes)"
  export GOCACHE="$W/gocache" GOPATH="$W/gopath" CGO_ENABLED=0 HOME="$W/home"
  mkdir -p "$HOME"
  # The upstream Makefile runs the code generators first (a bare `go build` lacks the generated OpenAPI code).
  make WHAT=cmd/kube-apiserver KUBE_BUILD_PLATFORMS=linux/amd64 >"$W/make.log" 2>&1 || { tail -30 "$W/make.log" >&2; exit 1; }
  cp _output/local/bin/linux/amd64/kube-apiserver "$BIN/kube-apiserver.tmp"
  mv "$BIN/kube-apiserver.tmp" "$BIN/kube-apiserver"
  say "built: $("$BIN/kube-apiserver" --version)"
}

stop() {
  local name
  for name in kube-apiserver etcd; do
    if alive "$R/run/$name.pid"; then
      kill "$(cat "$R/run/$name.pid")" 2>/dev/null || true
      for _ in $(seq 1 40); do alive "$R/run/$name.pid" || break; sleep 0.25; done
      alive "$R/run/$name.pid" && kill -9 "$(cat "$R/run/$name.pid")" 2>/dev/null || true
    fi
    rm -f "$R/run/$name.pid"
  done
  [ "${WIPE:-0}" = 1 ] && rm -rf "$R"
  say "stopped"
}

start() {
  [ -x "$BIN/kube-apiserver" ] || { echo "no kube-apiserver in $BIN: run '$0 build' first" >&2; exit 1; }
  command -v etcd >/dev/null || install_missing etcd-server etcd-client
  stop 2>/dev/null
  # A fresh store every start: tests expect no pods or nodes left over from an earlier run.
  rm -rf "$R/etcd"
  mkdir -p "$R"/{pki,log,run}
  if [ ! -f "$R/pki/sa.key" ]; then
    openssl genrsa -out "$R/pki/sa.key" 2048 2>/dev/null
    openssl rsa -in "$R/pki/sa.key" -pubout -out "$R/pki/sa.pub" 2>/dev/null
  fi
  echo "$TOKEN,admin,admin,system:masters" >"$R/pki/tokens.csv"
  chmod 600 "$R/pki/tokens.csv" "$R/pki/sa.key"
  cat >"$R/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters: [{name: headroom-dev, cluster: {server: "https://127.0.0.1:$API_PORT", insecure-skip-tls-verify: true}}]
users: [{name: admin, user: {token: "$TOKEN"}}]
contexts: [{name: headroom-dev, context: {cluster: headroom-dev, user: admin, namespace: default}}]
current-context: headroom-dev
KUBECONFIG
  chmod 600 "$R/kubeconfig"

  (etcd --name headroom-dev --data-dir "$R/etcd" --listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" --listen-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((ETCD_PORT + 1))" \
    --initial-cluster "headroom-dev=http://127.0.0.1:$((ETCD_PORT + 1))" --unsafe-no-fsync \
    >"$R/log/etcd.log" 2>&1 & echo $! >"$R/run/etcd.pid")
  local i
  for i in $(seq 1 80); do
    ETCDCTL_API=3 etcdctl --endpoints="127.0.0.1:$ETCD_PORT" endpoint health >/dev/null 2>&1 && break
    alive "$R/run/etcd.pid" || { tail -20 "$R/log/etcd.log" >&2; exit 1; }
    [ "$i" = 80 ] && { echo "etcd did not become healthy" >&2; tail -20 "$R/log/etcd.log" >&2; exit 1; }
    sleep 0.25
  done
  say "etcd up on 127.0.0.1:$ETCD_PORT"

  # Token auth (the admin is system:masters), RBAC, self-signed serving certificate; no ServiceAccount admission
  # (no token controller runs). The kubelet endpoints are reached over TLS without a CA (1.20 then skips
  # verification), which is what lets the pod log API reach the fake kubelet.
  ("$BIN/kube-apiserver" --etcd-servers="http://127.0.0.1:$ETCD_PORT" --bind-address=127.0.0.1 \
    --secure-port="$API_PORT" --insecure-port=0 --cert-dir="$R/pki" --token-auth-file="$R/pki/tokens.csv" \
    --authorization-mode=RBAC --service-account-issuer=https://kubernetes.default.svc \
    --service-account-key-file="$R/pki/sa.pub" --service-account-signing-key-file="$R/pki/sa.key" \
    --service-cluster-ip-range=10.96.0.0/16 --advertise-address=127.0.0.1 --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount --enable-priority-and-fairness=false \
    >"$R/log/kube-apiserver.log" 2>&1 & echo $! >"$R/run/kube-apiserver.pid")
  for i in $(seq 1 240); do
    [ "$(curl -sk -H "Authorization: Bearer $TOKEN" "https://127.0.0.1:$API_PORT/readyz" 2>/dev/null)" = ok ] && break
    alive "$R/run/kube-apiserver.pid" || { tail -20 "$R/log/kube-apiserver.log" >&2; exit 1; }
    [ "$i" = 240 ] && { echo "kube-apiserver was not ready after 60 s" >&2; tail -20 "$R/log/kube-apiserver.log" >&2; exit 1; }
    sleep 0.25
  done
  say "kube-apiserver ready on https://127.0.0.1:$API_PORT ($("$BIN/kube-apiserver" --version))"
  echo "export KUBECONFIG=$R/kubeconfig"
  echo "export KUBE_API=https://127.0.0.1:$API_PORT"
  echo "export KUBE_TOKEN=$TOKEN"
}

case "${1:-}" in
  build) build ;;
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 build|start|stop" >&2; exit 2 ;;
esac
