# Photo inversion for DragGAN: a W-space pivot (StyleGAN2 projector recipe,
# 450 steps at peak lr 0.01, as PTI's first stage), then pivotal tuning of
# the synthesis weights (PTI: 350 steps, Adam 3e-4, MSE + LPIPS, early stop
# at LPIPS 0.06). docs/inversion.md, Recipes. Used by tools/invert.py
# --preset pti.
# PTI measures LPIPS with AlexNet; both stages share one VGG trunk here (one
# download, vgg16-397923af.pth): VGG distances run higher, so the 0.06 stop
# triggers later, never earlier. Use net='alex' for PTI's own choice.
_base_ = ['./projector.py']

inversion = dict(
    projector=dict(steps=450, lr=0.01),
    tuner=dict(
        _delete_=True,  # the base has no tuner (None)
        type='PivotalTuner',
        steps=350,
        lr=3e-4,
        w_mse=1.,
        w_lpips=1.,
        lpips_stop=0.06,
        psnr_stop=32.))  # the stop test with --perceptual none
