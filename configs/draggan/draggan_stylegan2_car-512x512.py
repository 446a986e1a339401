_base_ = [
    '../_base_/models/draggan_stylegan2.py',
    '../_base_/datasets/drag_tasks_512.py', '../_base_/default_runtime.py'
]

# StyleGAN2-car-official (512x512). lr per the paper: 2e-3.
model = dict(generator=dict(out_size=512), lr=2e-3)

checkpoint = dict(
    name='StyleGAN2-car-official',  # tools/download_checkpoint.py StyleGAN2-car-official
    path='checkpoints/stylegan2_car_512_pytorch_mmagic.pth')
