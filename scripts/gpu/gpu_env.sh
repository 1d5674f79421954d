# Sourced by the scripts/gpu/gpu_*.sh windows: the package on the path, the data root unpacked where it could not
# travel (.gpu/data.tar.gz, made by scripts/gpu/gpu_pack_data.sh), and a stop in one line where there is no CUDA GPU
# (unless DEVICE=cpu: a dry run of the window's steps on a CPU). Returns 1 on failure: `source ... || exit 1`.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -f .gpu/data.tar.gz ]; then
    mkdir -p /tmp/milestones_data && tar xzf .gpu/data.tar.gz -C /tmp/milestones_data || return 1
    export MILESTONES_DATA=/tmp/milestones_data
fi
if [ "${DEVICE:-cuda}" = cpu ]; then
    python3 -c "import torch; print('dry run on the CPU, torch', torch.__version__)" || return 1
else
    python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'
print(torch.cuda.get_device_name(), 'torch', torch.__version__)" || return 1
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
fi
nproc
