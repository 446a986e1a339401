# Runtime of DragGAN configs: scope, plugin import, hooks, environment.
# DragGAN only tests (drag tasks through the Runner's test loop): no
# optimizer, no training loop. Composed with a model and a dataset base in
# every configs/draggan/*.py, so MMagic's tools/test.py runs them as they
# are.
default_scope = 'mmagic'
custom_imports = dict(imports=['mmagic_draggan'], allow_failed_imports=False)

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
# Weights: tools/test.py CONFIG CHECKPOINT (ours or MMagic's) sets it; any
# MMagic layout loads (DragGAN adopts whole-GAN state dicts, EMA first).
load_from = None
resume = False
