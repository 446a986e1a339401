_base_ = [
    '../_base_/models/draggan_stylegan2.py',
    '../_base_/datasets/drag_tasks_256.py', '../_base_/default_runtime.py'
]

# StyleGAN2-cat-official (256x256). lr per the paper: 1e-3.
model = dict(generator=dict(out_size=256), lr=1e-3)

checkpoint = dict(
    name='StyleGAN2-cat-official',  # tools/download_checkpoint.py StyleGAN2-cat-official
    path='checkpoints/stylegan2_cat_256_pytorch_mmagic.pth')
