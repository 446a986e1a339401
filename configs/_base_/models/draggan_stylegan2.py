# DragGAN on MMagic's StyleGAN2 generator: the defaults of docs/algorithm.md
# (Defaults and image-size scaling).
# Dataset configs override out_size, lr and the checkpoint.
model = dict(
    type='DragGAN',
    generator=dict(
        type='StyleGANv2Generator',
        out_size=512,
        style_channels=512,
        num_mlps=8,
        channel_multiplier=2,
        update_mean_latent_with_ema=True,  # registers the w_avg buffer
        bgr2rgb=False),
    motion_loss=dict(
        type='MotionSupervisionLoss',
        r1=None,  # round(3 * H / 512)
        lambda_mask=20.,
        # 'centred': the paper's disc; 'linspace': the official code's,
        # shifted up to ~1 px towards the origin (parity runs only)
        disc='centred'),
    tracker=dict(
        type='NearestNeighbourTracker',
        r2=None,  # round(12 * H / 512)
        metric='l2'),  # official code; the paper uses 'l1'
    feat_idx=5,  # the 128x128 synthesis block
    latent_space='w+',
    num_opt_latents=6,
    lr=1e-3,
    truncation=0.7,
    stop_distance=None,  # max(2 * H / 512, 2) px
    max_steps=300,
    mode='fast',
    precision='fp32')  # 'bf16': about 2x faster on CPUs with native bf16
