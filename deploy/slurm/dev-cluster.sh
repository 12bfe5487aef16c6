#!/usr/bin/env bash
# A throwaway single-host Slurm 22.05 cluster for Headroom's tests and demos (Debian 12 packages,
# run as root, no systemd, no GPU): NODES fake nodes (one `slurmd -N` each, on its own loopback port)
# with GPUS fake GPUs each (GRES over character-device nodes), one partition per Headroom tier with
# partition-priority preemption (spot jobs are requeued after a grace period and get the user
# signal at once), job completion accounting in a text file (`sacct -c`), and slurmrestd with JWT.
#
#   deploy/slurm/dev-cluster.sh start     installs what is missing, (re)starts, prints `export SLURM_CONF=...`
#   deploy/slurm/dev-cluster.sh status    daemons and nodes; exit 1 when not healthy
#   deploy/slurm/dev-cluster.sh stop      cancels every job, then stops the daemons by PID file (WIPE=1 deletes the root)
#
# Knobs (environment): SLURM_ROOT (/tmp/headroom-slurm), NODES (4), GPUS per node (8), GPU_TYPE (h100),
# ACCOUNTING (0; 1 adds slurmdbd over a throwaway MariaDB, for full `sacct` and slurmrestd's slurmdb API),
# PORT_BASE (17800: slurmctld +17, slurmd default +18, slurmdbd +19, slurmrestd +20, MariaDB +6, nodes +101..), GRACE seconds a
# preempted spot job keeps running after its notice (10; production uses Headroom's 120), CRED_EXPIRE (10;
# a requeued job waits this long before it may start again), BF_INTERVAL (2), REST_USER (slurmrest).
# Only stdout's last lines are meant for machines: `export SLURM_CONF=...` and `export SLURM_REST_URL=...`;
# progress goes to stderr.
set -euo pipefail
R=${SLURM_ROOT:-/tmp/headroom-slurm}
NODES=${NODES:-4}
GPUS=${GPUS:-8}
GPU_TYPE=${GPU_TYPE:-h100}
PORT_BASE=${PORT_BASE:-17800}
GRACE=${GRACE:-10}
CRED_EXPIRE=${CRED_EXPIRE:-10}
BF_INTERVAL=${BF_INTERVAL:-2}
REST_USER=${REST_USER:-slurmrest}
ACCOUNTING=${ACCOUNTING:-0}
REST_PORT=$((PORT_BASE + 20))
# A running cluster is reused only if it was started with the same knobs.
KNOBS="nodes=$NODES gpus=$GPUS type=$GPU_TYPE ports=$PORT_BASE grace=$GRACE cred=$CRED_EXPIRE bf=$BF_INTERVAL acct=$ACCOUNTING"
export SLURM_CONF=$R/etc/slurm.conf
T0=$(date +%s%N)
say() { printf '[%5dms] %s\n' $((($(date +%s%N) - T0) / 1000000)) "$*" >&2; }
alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

install_missing() {
  local missing="" p
  local packages="slurmctld slurmd slurm-client munge slurmrestd slurm-wlm-jwt-plugin"
  [ "$ACCOUNTING" = 1 ] && packages="$packages slurmdbd slurm-wlm-mysql-plugin mariadb-server"
  for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
  done
  [ -z "$missing" ] && return 0
  say "installing:$missing"
  apt-get update -qq >/dev/null
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  say "installed"
}

write_config() {
  local host; host=$(hostname -s)
  mkdir -p "$R"/{etc,state,log,run,dev,munge,spool}
  chmod 755 "$R" "$R/etc"
  # munged insists on a socket directory everyone may traverse and on a private key.
  chown munge:munge "$R/munge"; chmod 755 "$R/munge"
  if [ ! -f "$R/munge/munge.key" ]; then
    dd if=/dev/urandom of="$R/munge/munge.key" bs=1024 count=1 status=none
    chown munge:munge "$R/munge/munge.key"; chmod 400 "$R/munge/munge.key"
  fi
  # Fake GPUs: gres/gpu in 22.05 drops File-less GPUs and warns about regular files, so each GPU is a
  # character device with NVIDIA's major number. Nothing ever opens them (task/none, no device cgroup).
  local i
  for ((i = 0; i < GPUS; i++)); do [ -e "$R/dev/nvidia$i" ] || mknod "$R/dev/nvidia$i" c 195 "$i"; done
  if [ ! -f "$R/etc/jwt_hs256.key" ]; then
    dd if=/dev/urandom of="$R/etc/jwt_hs256.key" bs=32 count=1 status=none
    chmod 600 "$R/etc/jwt_hs256.key"
  fi
  cat > "$R/etc/slurm.conf" <<EOF
# Written by deploy/slurm/dev-cluster.sh; regenerated on every start.
ClusterName=headroom-dev
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$((PORT_BASE + 17))
SlurmdPort=$((PORT_BASE + 18))
AuthType=auth/munge
AuthInfo=socket=$R/munge/munge.sock,cred_expire=$CRED_EXPIRE
CredType=cred/munge
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$R/etc/jwt_hs256.key
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$R/state
SlurmdSpoolDir=$R/spool/%n
SlurmctldPidFile=$R/run/slurmctld.pid
SlurmdPidFile=$R/run/slurmd-%n.pid
SlurmctldLogFile=$R/log/slurmctld.log
SlurmdLogFile=$R/log/slurmd-%n.log
SlurmctldDebug=info
SlurmdDebug=info
# 22.05 has no CgroupPlugin=disabled; linuxproc tracks processes without cgroups.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/linux
$(accounting_conf)
JobCompType=jobcomp/filetxt
JobCompLoc=$R/log/jobcomp.txt
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
SchedulerParameters=bf_interval=$BF_INTERVAL
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
# Nodes claim 16 CPUs and 64 GB whatever the host has.
SlurmdParameters=config_overrides
# Without this a batch script (no job steps) hears nothing until its grace time is over.
SlurmctldParameters=preempt_send_user_signal
DebugFlags=NO_CONF_HASH
ReturnToService=2
GresTypes=gpu
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MinJobAge=300
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
NodeName=gpu-node[1-$NODES] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((PORT_BASE + 101))-$((PORT_BASE + 100 + NODES))] CPUs=16 RealMemory=64000 Gres=gpu:$GPU_TYPE:$GPUS State=UNKNOWN
# One partition per Headroom tier over the same nodes. Only spot is preemptible: it is requeued after
# GraceTime; the higher PriorityTier preempts the lower.
PartitionName=spot      Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1  PreemptMode=REQUEUE GraceTime=$GRACE
PartitionName=on-demand Nodes=ALL             MaxTime=INFINITE State=UP PriorityTier=10 PreemptMode=OFF
PartitionName=reserved  Nodes=ALL             MaxTime=INFINITE State=UP PriorityTier=20 PreemptMode=OFF
PartitionName=internal  Nodes=ALL             MaxTime=INFINITE State=UP PriorityTier=30 PreemptMode=OFF
EOF
  echo "NodeName=gpu-node[1-$NODES] Name=gpu Type=$GPU_TYPE File=$R/dev/nvidia[0-$((GPUS - 1))]" > "$R/etc/gres.conf"
  echo "CgroupPlugin=cgroup/v1" > "$R/etc/cgroup.conf"
}

accounting_conf() {
  if [ "$ACCOUNTING" = 1 ]; then
    # The private munge socket must be named here too: AuthInfo is not used for the slurmdbd connection.
    cat <<EOF
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=$((PORT_BASE + 19))
AccountingStoragePass=$R/munge/munge.sock
AccountingStorageTRES=gres/gpu,gres/gpu:$GPU_TYPE
JobAcctGatherFrequency=30
EOF
  else
    # AccountingStorageTRES=gres/gpu without slurmdbd is fatal for slurmctld; jobcomp/filetxt + `sacct -c` instead.
    echo "AccountingStorageType=accounting_storage/none"
  fi
}

# MariaDB in a throwaway datadir, slurmdbd, and the cluster, account and users; before slurmctld starts.
start_accounting() {
  mkdir -p "$R/mysql"; chown mysql:mysql "$R/mysql"
  if [ ! -d "$R/mysql/data/mysql" ]; then
    mariadb-install-db --no-defaults --user=mysql --datadir="$R/mysql/data" \
      --auth-root-authentication-method=normal --skip-test-db >"$R/log/mariadb-install.log" 2>&1
  fi
  ( mariadbd --no-defaults --user=mysql --datadir="$R/mysql/data" --socket="$R/mysql/mysqld.sock" \
      --port=$((PORT_BASE + 6)) --bind-address=127.0.0.1 --pid-file="$R/mysql/mysqld.pid" \
      --innodb-buffer-pool-size=128M --innodb-lock-wait-timeout=900 --log-error="$R/log/mariadb.log" >/dev/null 2>&1 & )
  local i
  for i in $(seq 1 120); do mariadb-admin --socket="$R/mysql/mysqld.sock" -uroot ping >/dev/null 2>&1 && break; sleep 0.25; done
  mariadb --socket="$R/mysql/mysqld.sock" -uroot -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurmpw';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';"
  say "mariadb up"
  cat > "$R/etc/slurmdbd.conf" <<EOF
AuthType=auth/munge
AuthInfo=socket=$R/munge/munge.sock
AuthAltTypes=auth/jwt
AuthAltParameters=jwt_key=$R/etc/jwt_hs256.key
DbdHost=$(hostname -s)
DbdAddr=127.0.0.1
DbdPort=$((PORT_BASE + 19))
SlurmUser=root
DebugLevel=info
LogFile=$R/log/slurmdbd.log
PidFile=$R/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$((PORT_BASE + 6))
StorageUser=slurm
StoragePass=slurmpw
StorageLoc=slurm_acct_db
EOF
  chmod 600 "$R/etc/slurmdbd.conf"
  slurmdbd   # no -f: it reads slurmdbd.conf next to $SLURM_CONF
  for i in $(seq 1 120); do grep -q 'slurmdbd version .* started' "$R/log/slurmdbd.log" 2>/dev/null && break; sleep 0.25; done
  alive "$R/run/slurmdbd.pid" || { echo "slurmdbd died:" >&2; tail -5 "$R/log/slurmdbd.log" >&2; exit 1; }
  sacctmgr -i add cluster headroom-dev >/dev/null
  sacctmgr -i add account headroom Cluster=headroom-dev Description=headroom Organization=headroom >/dev/null
  sacctmgr -i add user root Account=headroom DefaultAccount=headroom >/dev/null
  sacctmgr -i add user "$REST_USER" Account=headroom DefaultAccount=headroom AdminLevel=Admin >/dev/null
  say "slurmdbd up, accounting objects created"
}

healthy() {
  [ "$(cat "$R/run/knobs" 2>/dev/null)" = "$KNOBS" ] || return 1
  alive "$R/munge/munged.pid" && alive "$R/run/slurmctld.pid" && alive "$R/run/slurmrestd.pid" || return 1
  if [ "$ACCOUNTING" = 1 ]; then alive "$R/run/slurmdbd.pid" && alive "$R/mysql/mysqld.pid" || return 1; fi
  local up
  up=$(timeout 5 sinfo -h -N -p spot -o %T 2>/dev/null | grep -cE '^(idle|mixed|allocated)$' || true)
  [ "$up" = "$NODES" ]
}

running() { [ -n "$(ps -o stat= -p "$1" 2>/dev/null | grep -v '^Z')" ]; }

stop_pids() {
  local f p i pids=()
  for f in "$@"; do
    alive "$f" || continue
    p=$(cat "$f"); kill "$p" 2>/dev/null || true
    pids+=("$p"); say "stopping $(basename "$f" .pid) ($p)"
  done
  for p in "${pids[@]}"; do
    for i in $(seq 1 80); do running "$p" || break; sleep 0.125; done
    running "$p" && kill -9 "$p" 2>/dev/null
  done
  return 0
}

stop_all() {
  if alive "$R/run/slurmctld.pid"; then
    # Jobs first: a slurmd killed under a running job leaves slurmstepd and the job orphaned.
    local ids
    ids=$(timeout 5 squeue -h -o %i 2>/dev/null || true)
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      scancel --full --signal=KILL $ids 2>/dev/null || true
      # shellcheck disable=SC2086
      scancel $ids 2>/dev/null || true
      local i
      for i in $(seq 1 60); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.25; done
    fi
  fi
  # Slurm's daemons together, munged last (they talk to it while shutting down). A daemon that exited but
  # was not reaped (PID 1 here may not reap) is a zombie: it counts as stopped.
  stop_pids "$R"/run/slurmrestd.pid "$R"/run/slurmd-*.pid "$R"/run/slurmctld.pid
  stop_pids "$R"/run/slurmdbd.pid
  stop_pids "$R"/mysql/mysqld.pid "$R"/munge/munged.pid
  rm -f "$R"/run/*.pid "$R"/run/knobs "$R"/mysql/mysqld.pid "$R"/munge/munged.pid "$R"/munge/munge.sock "$R"/munge/munge.sock.lock
}

start_all() {
  [ "$(id -u)" = 0 ] || { echo "dev-cluster.sh: run as root (mknod, daemons, useradd)" >&2; exit 1; }
  install_missing
  id "$REST_USER" >/dev/null 2>&1 || useradd -r -M -s /usr/sbin/nologin "$REST_USER"
  if [ -f "$SLURM_CONF" ] && healthy; then
    say "already running"
  else
    stop_all
    write_config
    # A fresh start is a clean slate: no jobs from an earlier run, job ids from 1, empty completion log
    # and accounting database.
    rm -rf "$R/state" "$R/spool" "$R/log" "$R/mysql" && mkdir -p "$R/state" "$R/spool" "$R/log"
    runuser -u munge -- /usr/sbin/munged --socket="$R/munge/munge.sock" --key-file="$R/munge/munge.key" \
      --pid-file="$R/munge/munged.pid" --log-file="$R/munge/munged.log" --seed-file="$R/munge/munged.seed"
    say "munged up"
    [ "$ACCOUNTING" = 1 ] && start_accounting
    slurmctld -c
    local n i
    for ((n = 1; n <= NODES; n++)); do mkdir -p "$R/spool/gpu-node$n"; slurmd -N "gpu-node$n"; done
    for i in $(seq 1 240); do
      # Check the pid first: a slurmctld that died on a config error never becomes ready.
      alive "$R/run/slurmctld.pid" || { echo "slurmctld died:" >&2; tail -5 "$R/log/slurmctld.log" >&2; exit 1; }
      [ "$(timeout 3 sinfo -h -N -p spot -o %T 2>/dev/null | grep -c '^idle$' || true)" = "$NODES" ] && break
      sleep 0.25
    done
    [ "$(timeout 3 sinfo -h -N -p spot -o %T 2>/dev/null | grep -c '^idle$' || true)" = "$NODES" ] \
      || { echo "nodes did not come up:" >&2; sinfo -N >&2 || true; tail -5 "$R"/log/slurmd-*.log >&2; exit 1; }
    say "slurmctld + $NODES slurmd up: $(sinfo -h -N -p spot -o '%N:%T:%G' | tr '\n' ' ')"
    # slurmrestd refuses root; SLURM_JWT=daemon makes it accept per-request tokens instead of its own.
    # Without slurmdbd the dbv0.0.38 plugin is fatal ("slurm not configured with slurmdbd").
    local apis=openapi/v0.0.38
    [ "$ACCOUNTING" = 1 ] && apis=openapi/v0.0.38,openapi/dbv0.0.38
    ( SLURM_JWT=daemon exec slurmrestd -u "$REST_USER" -a rest_auth/jwt -s "$apis" "127.0.0.1:$REST_PORT" \
        >"$R/log/slurmrestd.log" 2>&1 & echo $! > "$R/run/slurmrestd.pid" )
    for i in $(seq 1 40); do
      alive "$R/run/slurmrestd.pid" || { echo "slurmrestd died:" >&2; tail -5 "$R/log/slurmrestd.log" >&2; exit 1; }
      (exec 3<>"/dev/tcp/127.0.0.1/$REST_PORT") 2>/dev/null && break
      sleep 0.25
    done
    say "slurmrestd up on 127.0.0.1:$REST_PORT (token: scontrol token username=<user>)"
    echo "$KNOBS" > "$R/run/knobs"
  fi
  echo "export SLURM_CONF=$SLURM_CONF"
  echo "export SLURM_REST_URL=http://127.0.0.1:$REST_PORT"
}

status_all() {
  local ok=0 f
  for f in "$R"/munge/munged.pid "$R"/mysql/mysqld.pid "$R"/run/slurmdbd.pid "$R"/run/slurmctld.pid "$R"/run/slurmd-*.pid "$R"/run/slurmrestd.pid; do
    [ -f "$f" ] || continue
    if alive "$f"; then echo "$(basename "$f" .pid): running ($(cat "$f"))"; else echo "$(basename "$f" .pid): dead"; ok=1; fi
  done
  if [ -f "$SLURM_CONF" ] && healthy; then
    timeout 5 sinfo -N -o '%N %P %T %G' || true
    echo "export SLURM_CONF=$SLURM_CONF"
  else
    echo "not running (or not healthy) under $R"; ok=1
  fi
  return $ok
}

case "${1:-}" in
  start) start_all ;;
  stop)
    stop_all
    [ "${WIPE:-0}" = 1 ] && rm -rf "$R"
    exit 0
    ;;
  status) status_all ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
