"""paper_deformations: the second paper's 20 deformations, as a named list; and the 16 of them
that the margin model trains with by default (training_deformations)."""

from __future__ import annotations

from .background import BackgroundNoise
from .compression import DynamicRangeCompression
from .pitch_shift import PS1, PS2, PitchShift
from .time_stretch import TimeStretch

__all__ = ["paper_deformations", "training_deformations"]


def paper_deformations(sr=22050, *, backgrounds=None, device="cpu", random_state=None):
    """The 20 deformations of Lu, Duan & Zhang (MUDA's), as ``(name, Deformation)`` pairs.

    Time stretch by 0.81, 0.93, 1.07 and 1.23 ("TS"); pitch shift by -2, -1, 1 and 2
    semitones ("PS1") and by -3.5, -2.5, 2.5 and 3.5 ("PS2"); dynamic range compression
    with the music standard, film standard, speech and radio presets ("DRC"); four
    background recordings at 10 dB SNR ("BG"): five deformations of four variants each.

    Parameters
    ----------
    sr : int, default=22050
        Sample rate of the clips.
    backgrounds : sequence of 1-D arrays or file paths, or None, default=None
        The background recordings (see :class:`BackgroundNoise`); ``None``: the four
        synthetic ones.
    device : str or torch.device, default="cpu"
    random_state : int, RandomState instance or None, default=None
        Passed to every deformation (only the background noise draws from it).

    Returns
    -------
    list of (str, Deformation)

    Examples
    --------
    >>> from sklearn_metricaudio.augment import paper_deformations
    >>> deformations = paper_deformations()
    >>> [name for name, _ in deformations]
    ['TS', 'PS1', 'PS2', 'DRC', 'BG']
    >>> sum(d.n_variants for _, d in deformations)
    20
    """
    common = {"sr": sr, "device": device, "random_state": random_state}
    return [
        ("TS", TimeStretch(**common)),
        ("PS1", PitchShift(PS1, **common)),
        ("PS2", PitchShift(PS2, **common)),
        ("DRC", DynamicRangeCompression(**common)),
        ("BG", BackgroundNoise(backgrounds, **common)),
    ]


def training_deformations(sr=22050, *, device="cpu"):
    """The deformations the margin model trains with by default: time stretch, both pitch
    shifts and dynamic range compression (16 variants; no background noise).

    :func:`paper_deformations` without ``"BG"``: its default backgrounds are synthetic, and
    mixing them in at 10 dB buried short events (the augmentation study in
    benchmarks/RESULTS.md). None of the 16 draws at random, so their output is fixed.

    Parameters
    ----------
    sr : int, default=22050
    device : str or torch.device, default="cpu"

    Returns
    -------
    list of (str, Deformation)

    Examples
    --------
    >>> from sklearn_metricaudio.augment import training_deformations
    >>> [name for name, _ in training_deformations()]
    ['TS', 'PS1', 'PS2', 'DRC']
    """
    return [(name, d) for name, d in paper_deformations(sr, device=device) if name != "BG"]
