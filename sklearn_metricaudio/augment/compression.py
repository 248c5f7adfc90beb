"""DynamicRangeCompression: sox's ``compand`` with MUDA's Dolby-derived presets (``DRC_PRESETS``)."""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import torch

from ._base import Deformation

__all__ = [
    "DRC_PRESETS",
    "CompandPreset",
    "DynamicRangeCompression",
    "compand_gain_db",
    "volume_follower",
]


@dataclass(frozen=True)
class CompandPreset:
    """The arguments of one sox ``compand`` call.

    Attributes
    ----------
    attack, decay : float
        Time constants (s) of the volume follower when the level rises / falls.
    points : tuple of (float, float)
        The transfer curve, ``(input dB, output dB)`` points with rising inputs.
    gain_db : float
        Gain (dB) added after the curve.
    initial_db : float
        Follower level (dB re full scale) at the first sample.
    delay : float
        Look-ahead (s): the gain applied at sample ``t`` is the one for the follower's
        level at ``t + delay``.
    """

    attack: float
    decay: float
    points: tuple
    gain_db: float = 0.0
    initial_db: float = 0.0
    delay: float = 0.0


def _preset(attack, decay, flat, gain_db, initial_db, delay):
    points = tuple(zip(flat[0::2], flat[1::2]))
    return CompandPreset(float(attack), float(decay), tuple((float(i), float(o)) for i, o in points),
                         float(gain_db), float(initial_db), float(delay))


#: MUDA's six dynamic range compression presets (``muda/deformers/data/drc_presets.json``
#: in bmcfee/muda, from the Dolby presets listed on doom9), as the sox ``compand``
#: arguments MUDA passes. The paper uses "music standard", "film standard", "speech" and
#: "radio". "radio" gives no initial volume or delay, so sox's defaults apply: 0 dB and 0 s.
DRC_PRESETS = MappingProxyType({
    "radio": _preset(0.01, 1, (-90, -90, -70, -70, -60, -20, 0, 0), -5, 0, 0),
    "film standard": _preset(0.1, 0.3, (-90, -90, -70, -64, -43, -37, -31, -31, -21, -21, 0, -20),
                             0, 0, 0.1),
    "film light": _preset(0.1, 0.3, (-90, -90, -70, -64, -53, -47, -41, -41, -21, -21, 0, -20),
                          0, 0, 0.1),
    "music standard": _preset(0.1, 0.3, (-90, -90, -70, -58, -55, -43, -31, -31, -21, -21, 0, -20),
                              0, 0, 0.1),
    "music light": _preset(0.1, 0.3, (-90, -90, -70, -58, -65, -53, -41, -41, -21, -21, 0, -11),
                           0, 0, 0.1),
    "speech": _preset(0.1, 0.3, (-90, -90, -70, -55, -50, -35, -31, -31, -21, -21, 0, -20),
                      0, 0, 0.1),
})


def compand_gain_db(level_db, preset):
    """Gain (dB) that ``preset`` applies to a signal whose follower is at ``level_db``.

    The transfer curve, piecewise linear in dB between the points, minus the level, plus
    ``gain_db``. Below the first point the curve has slope 1 (the gain of the first point);
    above the last it continues the last segment (sox stops at 0 dBFS, which integer
    samples cannot exceed). ``level_db`` may be a numpy array or a torch tensor (the
    result is of the same kind and float type).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.augment import DRC_PRESETS
    >>> gain = compand_gain_db(np.array([-100.0, -50.0, -10.0]), DRC_PRESETS["film standard"])
    >>> [round(float(g), 2) for g in gain]
    [0.0, 6.0, -10.48]
    """
    x_in = [float(i) for i, _ in preset.points]
    gain = [float(o) - float(i) for i, o in preset.points]
    # the gain at the first point, plus each segment's slope over the part of it below level
    out = level_db * 0.0 + (gain[0] + preset.gain_db)
    for j in range(len(x_in) - 1):
        slope = (gain[j + 1] - gain[j]) / (x_in[j + 1] - x_in[j])
        top = None if j == len(x_in) - 2 else x_in[j + 1] - x_in[j]  # the last one goes on
        out = out + slope * (level_db - x_in[j]).clip(0.0, top)
    return out


def _coefficient(seconds, sr):
    """sox's one-pole coefficient for a time constant; 1 (instant) below one sample."""
    return 1.0 - np.exp(-1.0 / (sr * seconds)) if seconds > 1.0 / sr else 1.0


def volume_follower(magnitude, attack, decay, initial):
    """sox ``compand``'s volume follower, run for several settings at once.

    ``v[t] = v[t-1] + (s[t] - v[t-1]) * (attack if s[t] > v[t-1] else decay)``, from
    ``v[-1] = initial``, where ``s`` is ``|x|``.

    Parameters
    ----------
    magnitude : ndarray of shape (n_samples, n_clips)
        ``|x|``, time-major.
    attack, decay, initial : ndarray of shape (n_settings,)
        One-pole coefficients and initial level (linear) of each setting.

    Returns
    -------
    ndarray of shape (n_samples, n_settings, n_clips), float32
        The follower after each sample.

    Notes
    -----
    The recursion is sequential in time; it is a Python loop over samples, each step
    vectorised over all clips and settings (numpy on the CPU, whatever the device).
    """
    n, m = magnitude.shape
    attack = np.asarray(attack, dtype=np.float64)[:, None]
    decay = np.asarray(decay, dtype=np.float64)[:, None]
    v = np.repeat(np.asarray(initial, dtype=np.float64)[:, None], m, axis=1)
    out = np.empty((n, v.shape[0], m), dtype=np.float32)
    delta = np.empty_like(v)
    rising = np.empty(v.shape, dtype=bool)
    for t in range(n):
        np.subtract(magnitude[t], v, out=delta)
        np.greater(delta, 0.0, out=rising)
        delta *= np.where(rising, attack, decay)
        v += delta
        out[t] = v
    return out


class DynamicRangeCompression(Deformation):
    """Dynamic range compression by sox's ``compand``, one variant per preset (MUDA's ``DynamicRangeCompression``).

    A volume follower tracks ``|x|`` with a fast attack and a slower decay; the gain at
    each sample is the preset's transfer curve (dB in -> dB out) at the follower's level,
    minus that level, plus the preset's gain; with a look-ahead ``delay`` the gain applied
    at sample ``t`` is the one computed at ``t + delay`` (the last ``delay`` seconds use
    the follower's final level, as sox's drain does). Output samples are clipped to
    [-1, 1], as sox clips to full scale. Levels are dB relative to full scale (``|x| = 1``).

    The presets (:data:`DRC_PRESETS`, MUDA's ``drc_presets.json``; attack/decay in s,
    curve points ``in:out`` dB, gain dB, initial level dB, delay s):

    ==============  =========  ==================================================  ====  ====  =====
    preset          att/decay  transfer curve                                      gain  init  delay
    ==============  =========  ==================================================  ====  ====  =====
    radio           0.01 / 1   -90:-90, -70:-70, -60:-20, 0:0                      -5    0     0
    film standard   0.1 / 0.3  -90:-90, -70:-64, -43:-37, -31:-31, -21:-21, 0:-20  0     0     0.1
    film light      0.1 / 0.3  -90:-90, -70:-64, -53:-47, -41:-41, -21:-21, 0:-20  0     0     0.1
    music standard  0.1 / 0.3  -90:-90, -70:-58, -55:-43, -31:-31, -21:-21, 0:-20  0     0     0.1
    music light     0.1 / 0.3  -90:-90, -70:-58, -65:-53, -41:-41, -21:-21, 0:-11  0     0     0.1
    speech          0.1 / 0.3  -90:-90, -70:-55, -50:-35, -31:-31, -21:-21, 0:-20  0     0     0.1
    ==============  =========  ==================================================  ====  ====  =====

    So a steady input at -50 dBFS comes out at -40.5 (music standard), -44 (film
    standard), -35 (speech) or -21.7 dBFS (radio), and one at -10 dBFS at -20.5 dBFS (or
    -8.3 for radio): the loud parts are turned down by 10 dB and the quiet ones up.

    What differs from sox: sox rounds the curve's corners with a soft knee of 0.01 dB
    (ignored here: at most 0.01 dB); sox works on 32-bit integer samples (here float
    samples, not clipped on input); the follower starts at ``initial_db`` (sox's default
    0 dB where MUDA gives none, as for "radio"). The follower is sequential in time: it
    runs as a numpy loop over samples, vectorised over the clips of a batch and the
    presets, on the CPU whatever ``device`` is (0.4 s for a batch of 64 clips of 5 s at
    22.05 kHz and 4 presets on a 2-core VM; the gains are then computed and applied on
    ``device``).

    Parameters
    ----------
    presets : sequence of str, default=("music standard", "film standard", "speech", "radio")
        Names of :data:`DRC_PRESETS`; the paper's four by default.
    sr : int, default=22050
        Sample rate of the clips (the time constants and the delay are in seconds).
    pad : {"repeat", "constant"}, default="repeat"
        Unused (the output always has the input's length); kept for a uniform API.
    device : str or torch.device, default="cpu"
    batch_size : int or None, default=None
        Clips per batch; ``None``: 64 (the follower's loop over samples runs once per
        batch, so larger batches are faster).
    random_state : ignored
        Accepted for a uniform API; the compression is deterministic.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_metricaudio.augment import DynamicRangeCompression
    >>> x = np.full((1, 8000), 10 ** (-10 / 20), dtype=np.float32)   # -10 dBFS, steady
    >>> drc = DynamicRangeCompression(sr=1000)
    >>> Y = drc.fit_transform(x)
    >>> Y.shape, drc.variants()[0]
    ((1, 4, 8000), ('DRC', 'music standard'))
    >>> [round(float(v), 1) for v in 20 * np.log10(Y[0, :, -1])]   # steady-state level, dBFS
    [-20.5, -20.5, -20.5, -8.3]
    """

    family = "DRC"

    _parameter_constraints = {
        **Deformation._parameter_constraints,
        "presets": [list, tuple],
    }

    def __init__(self, presets=("music standard", "film standard", "speech", "radio"), *,
                 sr=22050, pad="repeat", device="cpu", batch_size=None, random_state=None):
        self.presets = presets
        self.sr = sr
        self.pad = pad
        self.device = device
        self.batch_size = batch_size
        self.random_state = random_state

    def _check_config(self):
        if len(self.presets) == 0:
            raise ValueError("presets is empty: give at least one of "
                             f"{sorted(DRC_PRESETS)}")
        for i, name in enumerate(self.presets):
            if not isinstance(name, str) or name not in DRC_PRESETS:
                raise ValueError(f"presets[{i}]={name!r} is no DRC preset; valid presets: "
                                 f"{sorted(DRC_PRESETS)}")

    def _variant_params(self):
        return list(self.presets)

    def _default_batch_size(self, device):
        return 64

    def _prepare_batch(self, x, draws, shared):
        presets = [DRC_PRESETS[name] for name in self.presets]
        sr = self.sr
        magnitude = np.ascontiguousarray(x.abs().cpu().numpy().T, dtype=np.float64)
        levels = volume_follower(
            magnitude,
            [_coefficient(p.attack, sr) for p in presets],
            [_coefficient(p.decay, sr) for p in presets],
            [10.0 ** (p.initial_db / 20) for p in presets],
        )  # (n, n_presets, b), on the CPU
        # the gains in numpy float64: its vectorised log and power give the same bits for a
        # clip wherever it sits in the batch (torch's CPU kernels take another code path for
        # the tail of a vector, which made the output depend on the batch by 1 ulp)
        levels = np.ascontiguousarray(levels.transpose(1, 2, 0))  # (n_presets, b, n)
        n = x.shape[-1]
        gains = []
        for k, p in enumerate(presets):
            level_db = 20 * np.log10(np.maximum(levels[k], 1e-30))
            gain = np.power(10.0, compand_gain_db(level_db, p) / 20)
            delay = int(p.delay * sr)  # sox truncates too
            if delay:  # look-ahead: the gain of sample t + delay; the last one at the end
                last = np.repeat(gain[:, -1:], min(delay, n), axis=1)
                gain = np.concatenate([gain[:, delay:], last], axis=1)
            gain = torch.from_numpy(gain).to(x.device)
            gains.append(gain)
        return gains

    def _deform_batch(self, x, k, ctx):
        return torch.clamp(x * ctx[k], -1.0, 1.0)
