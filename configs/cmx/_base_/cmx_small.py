# CMX with two small 4-stage CNN streams (32-64-128-256 channels), CM-FRM + FFM per stage, MLP decoder.
model = dict(
    type='CMXSegmentor',
    num_classes=13,
    class_names=('unlabeled', 'road', 'sidewalk', 'terrain', 'building', 'pole', 'vegetation',
                 'car', 'van', 'truck', 'pedestrian', 'cyclist', 'sky'),
    modality='thermal',
    x_channels=1,
    backbone=dict(type='SegEncoder', channels=(32, 64, 128, 256), depths=(1, 2, 2, 1), kernel_size=5),
    num_heads=(1, 1, 2, 4),
    lambda_c=0.5,
    lambda_s=0.5,
    frm_reduction=4,
    decoder_dim=128,
    ignore_index=255,
    x_drop_prob=0.1,  # learn the missing-X path
    data_preprocessor=dict(type='RGBXDataPreprocessor', x_channels=1, ignore_index=255),
)
