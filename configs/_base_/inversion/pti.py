# Photo inversion for DragGAN: a W-space pivot (StyleGAN2 projector recipe,
# 450 steps at peak lr 0.01, as PTI's first stage), then pivotal tuning of
# the synthesis weights (PTI: 350 steps, Adam 3e-4, MSE + LPIPS, early stop
# at LPIPS 0.06). DESIGN.md section 5. Used by tools/invert.py --preset pti.
# PTI measures LPIPS with AlexNet; both stages share one VGG trunk here (one
# download, vgg16-397923af.pth): VGG distances run higher, so the 0.06 stop
# triggers later, never earlier. Use net='alex' for PTI's own choice.
inversion = dict(
    type='Inverter',
    perceptual=dict(type='LPIPSPerceptualLoss', net='vgg', resize=256),
    projector=dict(
        type='Projector',
        steps=450,
        lr=0.01,
        rampdown=0.25,
        rampup=0.05,
        latent_noise=0.05,
        noise_ramp=0.75,
        noise_reg_weight=1e5,
        optimize_noise=True,
        w_lpips=1.,
        w_mse=0.,
        wplus_steps=0,
        num_std_samples=10000,
        seed=0),
    tuner=dict(
        type='PivotalTuner',
        steps=350,
        lr=3e-4,
        w_mse=1.,
        w_lpips=1.,
        lpips_stop=0.06,
        psnr_stop=32.),  # the stop test with --perceptual none
    preview_interval=10)
