# Sourced by the scripts/gpu_*.sh windows: the package on the path, the data root unpacked where it could not
# travel (.gpu/data.tar.gz, see gpu_check.sh), and a stop in one line where there is no CUDA GPU.
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
if [ -f .gpu/data.tar.gz ]; then
    mkdir -p /tmp/milestones_data && tar xzf .gpu/data.tar.gz -C /tmp/milestones_data || exit 1
    export MILESTONES_DATA=/tmp/milestones_data
fi
python3 -c "import torch; assert torch.cuda.is_available(), 'no CUDA GPU'
print(torch.cuda.get_device_name(), 'torch', torch.__version__)" || exit 1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
nproc
