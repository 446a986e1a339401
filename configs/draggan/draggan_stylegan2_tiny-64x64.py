_base_ = [
    '../_base_/models/draggan_stylegan2.py',
    '../_base_/datasets/drag_tasks_64.py', '../_base_/default_runtime.py'
]

# A tiny generator (64x64, narrow mapping) for tests and smoke runs. It has no
# released weights: use --random-weights. Features come from the 32x32 block
# (half the image side, like 128 of 256); radii are set by hand because the
# auto rules round to ~0 at 64 px.
model = dict(
    generator=dict(out_size=64, style_channels=64, num_mlps=2,
                   channel_multiplier=1),
    motion_loss=dict(r1=2),
    tracker=dict(r2=4),
    feat_idx=3,
    lr=2e-3,
    max_steps=60)

checkpoint = dict(name=None, path=None)
