"""MobileNet v1 embedding network for log-mel patches (paper Fig. 2).

Depthwise-separable convolution blocks (Howard et al., 2017) with a width
multiplier; the classifier layer is replaced by global average pooling and a
dense layer to the embedding. In front: per-mel-band standardisation (fitted
statistics held as buffers, so they travel with the weights) and, in training
only, SpecAugment-style frequency and time masks.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["EmbeddingNet", "N_BLOCKS", "mobilenet_v1_channels"]

# (output channels, stride) of the 13 depthwise-separable blocks of MobileNet v1
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))
N_BLOCKS = len(_BLOCKS)


def mobilenet_v1_channels(width):
    """Channel counts of the stem and the 13 blocks for a width multiplier.

    >>> mobilenet_v1_channels(0.25)[:4]
    [8, 16, 32, 32]
    """
    return [max(8, int(32 * width))] + [max(8, int(c * width)) for c, _ in _BLOCKS]


def _conv_bn(c_in, c_out, stride, groups=1, kernel=3):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, groups=groups,
                  bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class EmbeddingNet(nn.Module):
    """Log-mel patch (batch, 1, n_mels, n_frames) -> embedding (batch, embedding_dim).

    Parameters
    ----------
    n_mels : int
    width : float
        MobileNet width multiplier (1.0 is the published network).
    embedding_dim : int
    band_mean, band_std : sequence of float of length n_mels, optional
        Per-band standardisation statistics (identity when omitted).
    mask_fraction : float
        In training, zero a random band of up to this fraction of the mel bands
        and a random run of up to this fraction of the frames, per patch.
    crop_frames : int or None
        In training, inputs longer than this are cut to a random window of
        ``crop_frames`` frames, drawn per example (random crops).
    level_norm : bool
        Subtract each patch's mean level (dB over all its bins) before the band
        standardisation, so a gain change of the recording does not move the
        input (``band_mean`` must then be taken on level-normalised patches).
    """

    level_norm = False  # networks pickled before the option existed load with it off

    def __init__(self, n_mels, width=1.0, embedding_dim=32, band_mean=None, band_std=None,
                 mask_fraction=0.0, crop_frames=None, level_norm=False):
        super().__init__()
        self.crop_frames = crop_frames
        self.level_norm = bool(level_norm)
        mean = torch.zeros(n_mels) if band_mean is None else torch.as_tensor(band_mean).float()
        std = torch.ones(n_mels) if band_std is None else torch.as_tensor(band_std).float()
        self.register_buffer("band_mean", mean.reshape(1, 1, n_mels, 1))
        self.register_buffer("band_std", std.reshape(1, 1, n_mels, 1))
        self.mask_fraction = float(mask_fraction)
        ch = mobilenet_v1_channels(width)
        layers = [_conv_bn(1, ch[0], stride=2)]
        for (c_prev, c_out), (_, stride) in zip(zip(ch[:-1], ch[1:]), _BLOCKS):
            layers.append(_conv_bn(c_prev, c_prev, stride, groups=c_prev))  # depthwise
            layers.append(_conv_bn(c_prev, c_out, 1, kernel=1))             # pointwise
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.embed = nn.Linear(ch[-1], embedding_dim)

    def _mask(self, x):
        """SpecAugment: one frequency band and one time run set to 0 (the band mean)."""
        b, _, n_mels, n_frames = x.shape
        keep = torch.ones_like(x, dtype=torch.bool)
        for axis, size in ((2, n_mels), (3, n_frames)):
            width = (torch.rand(b, device=x.device) * self.mask_fraction * size).long()
            start = (torch.rand(b, device=x.device) * (size - width + 1)).long()
            pos = torch.arange(size, device=x.device)
            inside = (pos >= start[:, None]) & (pos < (start + width)[:, None])  # (b, size)
            shape = (b, 1, size, 1) if axis == 2 else (b, 1, 1, size)
            keep &= ~inside.reshape(shape)
        return x * keep

    def _crop(self, x):
        b, n = x.shape[0], x.shape[-1]
        start = (torch.rand(b, device=x.device) * (n - self.crop_frames + 1)).long()
        idx = start[:, None] + torch.arange(self.crop_frames, device=x.device)  # (b, crop)
        idx = idx[:, None, None, :].expand(b, x.shape[1], x.shape[2], self.crop_frames)
        return x.gather(3, idx)

    def _input(self, x):
        """Crop (training), level and band normalisation, masks (training)."""
        if self.training and self.crop_frames and x.shape[-1] > self.crop_frames:
            x = self._crop(x)
        if self.level_norm:
            x = x - x.mean(dim=(2, 3), keepdim=True)
        x = (x - self.band_mean) / self.band_std
        if self.training and self.mask_fraction > 0:
            x = self._mask(x)
        return x

    def forward(self, x):
        x = self.pool(self.features(self._input(x))).flatten(1)
        return self.embed(x)

    def pooled_block(self, x, block):
        """(batch, channels) activations after depthwise-separable block ``block`` (1 to
        13), averaged over frequency and time (the stem is ``features[0]``, block ``k``
        ends with ``features[2k]``, its pointwise convolution)."""
        if isinstance(block, bool) or not 1 <= block <= N_BLOCKS:
            raise ValueError(f"block must be in [1, {N_BLOCKS}], got {block!r}")
        return self.features[:2 * block + 1](self._input(x)).mean(dim=(2, 3))

    def embed_and_pooled_block(self, x, block):
        """``(forward(x), pooled_block(x, block))`` from one pass through the network."""
        if isinstance(block, bool) or not 1 <= block <= N_BLOCKS:
            raise ValueError(f"block must be in [1, {N_BLOCKS}], got {block!r}")
        inner = self.features[:2 * block + 1](self._input(x))
        outer = self.pool(self.features[2 * block + 1:](inner)).flatten(1)
        return self.embed(outer), inner.mean(dim=(2, 3))
