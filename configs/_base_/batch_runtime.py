# Runtime of batch drag runs (tools/test.py merges it into a model config
# that has none). DragGAN only tests: no optimizer, no training loop.
default_scope = 'mmagic'

default_hooks = dict(
    runtime_info=dict(type='RuntimeInfoHook'),
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=1),  # a drag is a slow iteration
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=-1),
    sampler_seed=dict(type='DistSamplerSeedHook'))

# Per-task PNGs, latent, session JSON (and GIF with save_gif=True) under
# <work_dir>/drags, plus <work_dir>/results.json.
custom_hooks = [dict(type='DragVisualizationHook', save_gif=False)]

# The generator is frozen, so plain DDP refuses the model; MMagic's separate
# wrapper wraps only submodules with trainable parameters (none here).
model_wrapper_cfg = dict(
    type='MMSeparateDistributedDataParallel',
    broadcast_buffers=False,
    find_unused_parameters=False)

# NCCL on GPUs; without CUDA tools/test.py starts gloo itself.
env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'))

log_level = 'INFO'
log_processor = dict(type='LogProcessor', window_size=10, by_epoch=True)
randomness = dict(seed=0)  # drags use private RNGs; this fixes the rest
load_from = None  # weights: tools/test.py CHECKPOINT (whole-GAN files)
resume = False
