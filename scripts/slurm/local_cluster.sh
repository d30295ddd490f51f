#!/usr/bin/env bash
# A real one-node Slurm cluster for tests, from Debian's packages, started
# by hand (no systemd): munged, slurmctld and slurmd with their state, spool,
# sockets and logs under one folder.
#
#   eval "$(scripts/slurm/local_cluster.sh start DIR)"   # prints export SLURM_CONF=…
#   scripts/slurm/local_cluster.sh stop DIR              # cancels jobs, stops the daemons by pid
#
# Installs slurmctld, slurmd, slurm-client and munge with apt when missing.
set -euo pipefail
command="${1:?start or stop}"
dir="$(mkdir -p "${2:?folder}" && cd "$2" && pwd)"
conf="$dir/slurm.conf"

stop() {
  if [[ -f "$conf" ]]; then
    SLURM_CONF="$conf" timeout 10 scancel --full --quiet "--user=$(id -un)" 2>/dev/null || true
  fi
  for daemon in slurmd slurmctld munged; do
    if [[ -f "$dir/$daemon.pid" ]]; then
      pid="$(cat "$dir/$daemon.pid")"
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -9 "$pid" 2>/dev/null || true
      rm -f "$dir/$daemon.pid"
    fi
  done
}

if [[ "$command" == stop ]]; then stop; exit 0; fi
[[ "$command" == start ]] || { echo "local_cluster: start or stop, not '$command'" >&2; exit 2; }

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v sbatch >/dev/null; then
  echo "local_cluster: installing slurmctld slurmd slurm-client munge" >&2
  export DEBIAN_FRONTEND=noninteractive
  (apt-get update -qq && apt-get install -y -qq slurmctld slurmd slurm-client munge) >&2
fi

stop
mkdir -p "$dir"/{state,spool,munge,log}
chmod 700 "$dir/munge"
# munge: a fresh key and its own socket.
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$dir/munge/munge.key"
munged --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
  --pid-file="$dir/munged.pid" --log-file="$dir/log/munged.log" --seed-file="$dir/munge/munge.seed"

host="$(hostname -s)"
cpus="$(nproc)"
memory="$(awk '/MemTotal/ { print int($2 / 1024 * 0.8) }' /proc/meminfo)"
cat > "$conf" <<CONF
ClusterName=rbp-test
SlurmctldHost=$host
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CryptoType=crypto/munge
SlurmUser=$(id -un)
SlurmdUser=root
SlurmctldPort=${RBP_SLURMCTLD_PORT:-16817}
SlurmdPort=${RBP_SLURMD_PORT:-16818}
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/builtin
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
KillWait=30
InactiveLimit=0
MinJobAge=300
NodeName=$host CPUs=$cpus RealMemory=$memory State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
export SLURM_CONF="$conf"
slurmctld -i
slurmd
for _ in $(seq 100); do
  if sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
    echo "export SLURM_CONF=$conf"
    exit 0
  fi
  sleep 0.2
done
echo "local_cluster: the node did not come up; logs in $dir/log" >&2
tail -n 5 "$dir"/log/*.log >&2 || true
stop
exit 1
