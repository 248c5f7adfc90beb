"""The INS in tables and figures: one clip's per-scale table and plot, a per-class summary.

The paper's Fig. 1 (spectrogram and INS against scale) and its per-class view of the
Index of Non-Stationarity, over the results of
:meth:`~sklearn_metricaudio.INSTransformer.transform_details`.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils import Bunch

from .._io import atomic_path
from ..features import AudioLoader, INSTransformer

__all__ = ["format_ins_table", "plot_ins", "ins_by_class"]


def format_ins_table(details, index=0):
    """The per-scale table of one clip: scale, T_h in ms, INS, threshold, verdict.

    Parameters
    ----------
    details : Bunch
        The result of :meth:`INSTransformer.transform_details`.
    index : int, default=0
        Which clip.

    Returns
    -------
    str
    """
    d = details
    lines = [f"{'scale':>8} {'T_h (ms)':>10} {'INS':>10} {'threshold':>10}  verdict"]
    for s in range(len(d.scales)):
        verdict = "non-stationary" if d.nonstationary[index, s] else "stationary"
        if not np.isfinite(d.ins[index, s]):
            verdict = "undefined"
        lines.append(f"{d.scales[s]:>8.4f} {d.window_ms[s]:>10.1f} {d.ins[index, s]:>10.3f} "
                     f"{d.threshold[index, s]:>10.3f}  {verdict}")
    k = int(d.max_index[index])
    overall = "non-stationary" if d.is_nonstationary[index] else "stationary"
    lines.append(f"max INS {d.max_ins[index]:.3f} at scale {d.scales[k]:.4f} "
                 f"(T_h = {d.window_ms[k]:.1f} ms); {overall} at level alpha={d.alpha:g} "
                 f"({int(d.nonstationary[index].sum())}/{len(d.scales)} scales above threshold)")
    return "\n".join(lines)


def plot_ins(waveform, sr, details, path, index=0):
    """Spectrogram and INS-vs-scale curve (with the threshold) of one clip, as a PNG.

    Draws on a bare :class:`matplotlib.figure.Figure` (no pyplot) and writes
    ``path`` atomically.

    Parameters
    ----------
    waveform : array-like of shape (n_samples,) or (n_clips, n_samples)
        The clip (row ``index`` when 2-D).
    sr : int
    details : Bunch
        The result of :meth:`INSTransformer.transform_details`.
    path : str or path-like
    index : int, default=0

    Returns
    -------
    pathlib.Path
    """
    from pathlib import Path

    from matplotlib.figure import Figure
    from scipy.signal import spectrogram

    y = np.asarray(waveform, dtype=np.float64)
    if y.ndim == 2:
        y = y[index]
    nper = int(min(y.size, 1 << max(4, int(round(np.log2(0.025 * sr))))))
    f, t, S = spectrogram(y, fs=sr, nperseg=nper, noverlap=nper * 3 // 4)
    fig = Figure(figsize=(10, 4))
    ax1, ax2 = fig.subplots(1, 2, width_ratios=[1.6, 1])
    ax1.pcolormesh(t, f, 10 * np.log10(np.maximum(S, 1e-12 * max(S.max(), 1e-30))),
                   shading="auto", cmap="magma")
    ax1.set_xlabel("time (s)")
    ax1.set_ylabel("frequency (Hz)")
    ax1.set_title("spectrogram (dB)")
    d = details
    ax2.semilogx(d.scales, d.ins[index], "o-", label="INS")
    ax2.semilogx(d.scales, d.threshold[index], "k--", label=f"threshold (alpha={d.alpha:g})")
    hit = d.nonstationary[index]
    ax2.semilogx(d.scales[hit], d.ins[index][hit], "rs", ms=8, mfc="none",
                 label="non-stationary")
    ax2.set_xlabel("scale $T_h/T$")
    ax2.set_ylabel("INS")
    if np.nanmax(d.ins[index]) > 20 * max(np.nanmin(d.ins[index]), 1e-12):
        ax2.set_yscale("log")
    ax2.set_title(f"max INS {d.max_ins[index]:.2f} at {d.max_scale[index]:.3g}")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return path


def ins_by_class(data, *, per_class=2, seconds=1.0, n_surrogates=20, random_state=0):
    """Mean maximum INS and share of non-stationary clips per class, on a few short excerpts.

    The INS is costly (a multitaper spectrogram of ``n_surrogates + 1`` signals at every
    scale), so a summary takes the first ``seconds`` of the first ``per_class`` clips of
    each class.

    Parameters
    ----------
    data : Bunch
        A loaded data set (``data`` waveforms or ``filenames``, ``target``, ``target_names``).
    per_class : int, default=2
    seconds : float, default=1.0
    n_surrogates : int, default=20
    random_state : int, default=0

    Returns
    -------
    list of Bunch
        One per class: ``name``, ``max_ins`` (mean of the clips' maximum INS),
        ``nonstationary`` (fraction of clips non-stationary at some scale).
    """
    clips = data["data"] if "data" in data else data["filenames"]
    ins = INSTransformer(n_surrogates=n_surrogates, random_state=random_state)
    rows = []
    for k, name in enumerate(data.target_names):
        idx = np.flatnonzero(np.asarray(data.target) == k)[:per_class]
        if idx.size == 0:
            continue
        X = AudioLoader(duration=seconds).transform([clips[i] for i in idx])
        d = ins.transform_details(X)
        rows.append(Bunch(name=str(name), max_ins=float(np.mean(d.max_ins)),
                          nonstationary=float(np.mean(d.is_nonstationary))))
    return rows
