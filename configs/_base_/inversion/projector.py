# Photo inversion without tuning: the StyleGAN2 projector recipe alone
# (1000 W-space steps at peak lr 0.1, LPIPS-VGG). The generator's weights
# stay as released, so the reconstruction is only as close as the latent
# space allows. docs/inversion.md, Stage A. tools/invert.py --preset projector.
inversion = dict(
    type='Inverter',
    perceptual=dict(type='LPIPSPerceptualLoss', net='vgg', resize=256),
    projector=dict(
        type='Projector',
        steps=1000,
        lr=0.1,
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
    tuner=None,
    preview_interval=10)
