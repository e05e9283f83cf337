#!/usr/bin/env bash
# Starts a one-node Slurm cluster on this machine for tests: munged (as the munge user),
# slurmctld and slurmd (as root) with a private slurm.conf in $ASTROSPEC_SLURM_DIR
# (default /tmp/astrospec-slurm). Clients find it through SLURM_CONF:
#   source <(scripts/slurm/start-local.sh)     # prints: export SLURM_CONF=...
# Records which daemons it started in $dir/started, so stop-local.sh stops only those.
# Needs root and Debian's slurm-wlm and munge (scripts/test-slurm.sh installs them).
set -euo pipefail
dir=${ASTROSPEC_SLURM_DIR:-/tmp/astrospec-slurm}
cpus=${ASTROSPEC_SLURM_CPUS:-2}
log() { echo "start-local: $*" >&2; }

mkdir -p "$dir"
: >"$dir/started"

# munged refuses to start unless its key, socket and log directories belong to munge.
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge /etc/munge
  if [[ ! -s /etc/munge/munge.key ]]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
  chown -R munge:munge /run/munge /var/log/munge /var/lib/munge /etc/munge
  chmod 0700 /etc/munge /var/log/munge /var/lib/munge
  chmod 0400 /etc/munge/munge.key
  chmod 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null || { log "munged did not come up"; exit 1; }
  echo "munged $(cat /run/munge/munged.pid)" >>"$dir/started"
  log "munged started"
else
  log "munged already running; using it"
fi

rm -rf "$dir/ctld" "$dir/slurmd"
mkdir -p "$dir/ctld" "$dir/slurmd"
cat >"$dir/slurm.conf" <<CONF
# One-node test cluster written by scripts/slurm/start-local.sh.
ClusterName=astrospec
SlurmctldHost=localhost
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
# No cgroups in containers: track processes by parent pid, no task binding.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
ReturnToService=2
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/slurmd
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldPort=${ASTROSPEC_SLURMCTLD_PORT:-6817}
SlurmdPort=${ASTROSPEC_SLURMD_PORT:-6818}
NodeName=localhost CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$dir/slurm.conf

slurmctld -f "$SLURM_CONF"
for _ in $(seq 50); do [[ -s $dir/slurmctld.pid ]] && break; sleep 0.1; done
echo "slurmctld $(cat "$dir/slurmctld.pid")" >>"$dir/started"
slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 50); do [[ -s $dir/slurmd.pid ]] && break; sleep 0.1; done
echo "slurmd $(cat "$dir/slurmd.pid")" >>"$dir/started"

for _ in $(seq 100); do
  state=$(sinfo -h -n localhost -o %T 2>/dev/null || true)
  [[ $state == idle ]] && break
  sleep 0.2
done
if [[ $state != idle ]]; then
  log "node not idle (state '${state:-none}'); see $dir/slurmctld.log and $dir/slurmd.log"
  exit 1
fi
log "slurmctld and slurmd up, node localhost idle with $cpus CPUs"
echo "export SLURM_CONF=$SLURM_CONF"
