#!/bin/bash
# Start a one-node SLURM cluster on this machine, for tests/test_slurm.py (run as root).
#
#   bash tests/slurm/start_cluster.sh          # install if needed, configure, start, smoke-test
#   bash tests/slurm/start_cluster.sh stop     # stop the daemons again
#
# Debian 12 packages (slurmctld, slurmd, slurm-client, munge) with their sysvinit scripts, so it
# works without systemd. Idempotent: a cluster that is already up and idle is left as it is.
# The node has no GPU: tests/slurm/bin/sbatch and srun record the GPU flags and strip them.
# Recipe: ../shared/notes/snakemake_slurm.md, Appendix A.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

if [[ "${1:-}" == "stop" ]]; then
    service slurmd stop || true
    service slurmctld stop || true
    service munge stop || true
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    echo "start_cluster.sh: run as root (or set DIPBATCH_NO_SLURM=1 to skip the SLURM test)" >&2
    exit 1
fi

if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null; then
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

cluster_idle() {
    timeout 10 sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'
}

HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 / 2 ))
CONF=/etc/slurm/slurm.conf
NEW_CONF=$(cat <<CONF
# Written by dipbatch tests/slurm/start_cluster.sh: a one-node test cluster.
ClusterName=dipbatch-test
SlurmctldHost=${HOST}
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
# No cgroup setup needed:
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
# >= 120 s, so that the executor plugin's squeue status queries still see finished jobs:
MinJobAge=600
NodeName=${HOST} CPUs=${CPUS} RealMemory=${MEM} State=UNKNOWN
PartitionName=debug Nodes=${HOST} Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=${HOST} MaxTime=INFINITE State=UP
CONF
)

if [[ -f $CONF ]] && [[ "$(cat "$CONF")" == "$NEW_CONF" ]] && cluster_idle; then
    echo "start_cluster.sh: SLURM is already up"
    sinfo
    exit 0
fi

mkdir -p /etc/slurm
printf '%s\n' "$NEW_CONF" > "$CONF"
mkdir -p /run/lock /var/lib/slurm/slurmd /var/lib/slurm/slurmctld /var/log/slurm /run/munge
chown slurm:slurm /var/lib/slurm/slurmctld /var/log/slurm
chown munge:munge /run/munge 2>/dev/null || true

# slurmd 22.05 wants a file system at /sys/fs/cgroup even with task/none; a tmpfs will do.
if ! mountpoint -q /sys/fs/cgroup 2>/dev/null; then
    mkdir -p /sys/fs/cgroup 2>/dev/null || true
    mount -t tmpfs cgroup_root /sys/fs/cgroup 2>/dev/null || \
        echo "start_cluster.sh: warning: could not mount a tmpfs at /sys/fs/cgroup" >&2
fi

# munge's postinst creates the key; make one if it is missing.
if [[ ! -s /etc/munge/munge.key ]]; then
    mkdir -p /etc/munge
    dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2>/dev/null
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi

# The init scripts check status by process name: restart so the new slurm.conf is read.
service munge start >/dev/null || service munge restart >/dev/null
service slurmctld stop >/dev/null 2>&1 || true
service slurmd stop >/dev/null 2>&1 || true
service slurmctld start >/dev/null
service slurmd start >/dev/null

for _ in $(seq 1 30); do
    cluster_idle && break
    sleep 1
done
if ! cluster_idle; then
    # A node left DOWN by an earlier run comes back with an explicit resume.
    scontrol update NodeName="${HOST}" State=RESUME 2>/dev/null || true
    sleep 2
fi
if ! cluster_idle; then
    echo "start_cluster.sh: the node did not become idle; see /var/log/slurm/" >&2
    sinfo >&2 || true
    tail -n 20 /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log >&2 || true
    exit 1
fi
timeout 60 srun -N1 hostname >/dev/null
echo "start_cluster.sh: SLURM is up"
sinfo
