#!/bin/bash
# Multi-node training of everything_on on a SLURM cluster: one torchrun per node, one process per GPU.
#
#   sbatch scripts/slurm.sh --data-root /path/to/data --out runs/everything_on
#
# torchrun's c10d rendezvous needs: the first node's address (MASTER_ADDR) and a free port
# (MASTER_PORT) reachable from every node, the number of nodes (SLURM_NNODES) and GPUs per node
# (GPUS_PER_NODE), and a job id shared by the nodes (SLURM_JOB_ID). Set NCCL_SOCKET_IFNAME if the
# nodes have several network interfaces. Ctrl-C or pre-emption (SIGTERM) makes every rank stop
# cleanly; resubmit with --resume runs/everything_on/last.pt to continue.
#SBATCH --job-name=everything_on
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=1
#SBATCH --gpus-per-node=8
#SBATCH --cpus-per-task=64
#SBATCH --time=24:00:00
#SBATCH --signal=TERM@120
#SBATCH --output=slurm-%j.out

set -euo pipefail
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)
MASTER_PORT=${MASTER_PORT:-29500}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-8}

srun torchrun \
    --nnodes="$SLURM_NNODES" \
    --nproc_per_node="$GPUS_PER_NODE" \
    --rdzv_id="$SLURM_JOB_ID" \
    --rdzv_backend=c10d \
    --rdzv_endpoint="$MASTER_ADDR:$MASTER_PORT" \
    -m everything_on.train "$@"
