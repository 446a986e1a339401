_base_ = [
    '../_base_/models/draggan_stylegan2.py',
    '../_base_/datasets/drag_tasks_1024.py', '../_base_/default_runtime.py'
]

# StyleGAN2-dogs-internet (1024x1024). lr per the paper: 1e-3.
model = dict(generator=dict(out_size=1024), lr=1e-3)

checkpoint = dict(
    name='StyleGAN2-dogs-internet',  # tools/download_checkpoint.py StyleGAN2-dogs-internet
    path='checkpoints/stylegan2_dogs_1024_pytorch_mmagic.pth')
