"""The recipe the training tests run: seconds per epoch on a tiny ImageFolder."""

# A tiny GhostNet (width 0.1), 16x16 images, 4 steps per epoch, 2 epochs; every augmentation on.
TINY = """\
model: ghostnet_010
dataset: tiny
epoch_size: 2
batch_size: 4
image_resize: 16
lr: 0.05
min_lr: 0.0
warmup_epochs: 1
decay_epochs: 1
label_smoothing: 0.1
drop_rate: 0.2
re_prob: 0.5
auto_augment: randaug-m9-mstd0.5
num_parallel_workers: 2
threads: 2
seed: 7
keep_checkpoint_max: 5
"""
