"""make_urban_sounds: a synthetic 8-class, 10-fold stand-in for UrbanSound8K.

Every clip is generated from a "source recording" (an ``fsID``) whose
parameters are drawn once and jittered per clip; all clips of a source share a
fold, as in UrbanSound8K, so a model cannot win by recognising the recording.
Class parameter ranges overlap (an idling engine's firing rate against a
jackhammer's blow rate, a horn against a siren at a slow sweep, ...) and every
clip is mixed with one of several background noises at -6 to 12 dB SNR, so the
problem is not trivial for MFCC baselines.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from scipy import signal
from sklearn.utils import Bunch, check_random_state

import soundfile as sf

from .._io import atomic_directory, load_audio
from .urbansound8k import PAPER8_CLASSES, US8K_CLASSES, load_urbansound8k

__all__ = ["make_urban_sounds", "make_backgrounds"]

_CLASS_ID = {v: k for k, v in US8K_CLASSES.items()}
_STAMP = ".make_urban_sounds.json"
_VERSION = 1


# --------------------------------------------------------------------------- helpers
def _env(n, sr, attack, decay):
    """Attack-then-exponential-decay envelope of n samples."""
    t = np.arange(n) / sr
    a = np.clip(t / max(attack, 1e-4), 0, 1)
    return a * np.exp(-np.maximum(t - attack, 0) / max(decay, 1e-4))


def _harmonic(f_inst, sr, n_harm, rolloff, rng):
    """Sum of harmonics of an instantaneous frequency track (Hz, per sample)."""
    phase = 2 * np.pi * np.cumsum(f_inst) / sr
    out = np.zeros_like(f_inst)
    for h in range(1, n_harm + 1):
        mask = f_inst * h < 0.45 * sr
        out += mask * np.sin(h * phase + rng.uniform(0, 2 * np.pi)) * rolloff ** (h - 1)
    return out


def _bandnoise(n, sr, lo, hi, rng, order=2):
    lo, hi = max(lo, 20.0), min(hi, 0.45 * sr)
    sos = signal.butter(order, [lo, hi], btype="band", fs=sr, output="sos")
    return signal.sosfilt(sos, rng.standard_normal(n))


def _colored(n, rng, exponent):
    """Noise with a 1/f**exponent power spectrum."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(spec.size, dtype=float)
    f[0] = 1.0
    return np.fft.irfft(spec / f ** (exponent / 2), n)


def _place(n, sr, events, rng):
    """Add event waveforms at random onsets into a buffer of n samples."""
    out = np.zeros(n)
    for ev in events:
        if ev.size >= n:
            out += ev[:n]
            continue
        start = rng.integers(0, n - ev.size + 1)
        out[start:start + ev.size] += ev
    return out


def _norm(x):
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


# --------------------------------------------------------------------------- classes
def _source_params(cls, rng):
    """Parameters of one source recording of class ``cls``."""
    u = rng.uniform
    if cls == "air_conditioner":
        return dict(lo=u(60, 300), hi=u(600, 4000), hum=u(40, 130), hum_gain=u(0.05, 0.6),
                    tilt=u(0.5, 1.5), flutter=u(0.2, 3.0))
    if cls == "car_horn":
        return dict(f0=u(300, 520), ratio=u(1.18, 1.33), n_harm=int(rng.integers(4, 10)),
                    rolloff=u(0.5, 0.85), honk=u(0.15, 1.3))
    if cls == "dog_bark":
        return dict(f0=u(250, 750), glide=u(-0.4, 0.3), bark=u(0.07, 0.3), noise=u(0.2, 0.8),
                    formant=u(600, 2500), rolloff=u(0.45, 0.8))
    if cls == "drilling":
        return dict(f0=u(120, 900), n_harm=int(rng.integers(3, 12)), rolloff=u(0.6, 0.95),
                    noise=u(0.1, 0.8), duty=u(0.4, 1.0), burst=u(0.3, 2.0), wobble=u(0.0, 0.03))
    if cls == "engine_idling":
        return dict(rate=u(12, 45), cutoff=u(150, 1200), jitter=u(0.0, 0.08), am=u(0.0, 0.5),
                    am_rate=u(0.3, 4.0), rumble=u(0.1, 0.8))
    if cls == "jackhammer":
        return dict(rate=u(8, 30), lo=u(200, 1500), hi=u(2000, 8000), decay=u(0.004, 0.03),
                    duty=u(0.4, 1.0), burst=u(0.4, 2.5), jitter=u(0.0, 0.1))
    if cls == "siren":
        return dict(fc=u(500, 1400), dev=u(100, 600), fm=np.exp(u(np.log(0.1), np.log(9.0))),
                    n_harm=int(rng.integers(1, 5)), rolloff=u(0.3, 0.7), drift=u(-0.08, 0.08))
    if cls == "street_music":
        return dict(bpm=u(70, 170), root=u(110, 440), n_harm=int(rng.integers(3, 9)),
                    rolloff=u(0.4, 0.8), drums=u(0.0, 1.0), legato=u(0.3, 1.0))
    raise ValueError(cls)


def _jitter(params, rng, amount=0.08):
    return {k: (v * rng.uniform(1 - amount, 1 + amount) if isinstance(v, float) else v)
            for k, v in params.items()}


def _synth(cls, p, n, sr, rng):
    t = np.arange(n) / sr
    if cls == "air_conditioner":
        x = _colored(n, rng, p["tilt"])
        sos = signal.butter(2, [p["lo"], min(p["hi"], 0.45 * sr)], btype="band", fs=sr,
                            output="sos")
        x = _norm(signal.sosfilt(sos, x))
        hum = _harmonic(np.full(n, p["hum"]), sr, 6, 0.6, rng)
        x = x + p["hum_gain"] * _norm(hum)
        return x * (1 + 0.1 * np.sin(2 * np.pi * p["flutter"] * t))
    if cls == "car_horn":
        events = []
        for _ in range(int(rng.integers(1, 4))):
            m = int(p["honk"] * rng.uniform(0.6, 1.4) * sr)
            f = np.full(m, p["f0"])
            tone = (_harmonic(f, sr, p["n_harm"], p["rolloff"], rng)
                    + _harmonic(f * p["ratio"], sr, p["n_harm"], p["rolloff"], rng))
            env = np.minimum(1, np.minimum(np.arange(m), m - np.arange(m)) / (0.01 * sr))
            events.append(tone * env)
        return _place(n, sr, events, rng)
    if cls == "dog_bark":
        events = []
        for _ in range(int(rng.integers(1, 6))):
            m = int(p["bark"] * rng.uniform(0.7, 1.3) * sr)
            f = p["f0"] * rng.uniform(0.85, 1.15) * (1 + p["glide"] * np.linspace(0, 1, m))
            tone = _harmonic(f, sr, 8, p["rolloff"], rng)
            noise = _bandnoise(m, sr, 0.6 * p["formant"], 1.6 * p["formant"], rng)
            ev = (_norm(tone) + p["noise"] * _norm(noise)) * _env(m, sr, 0.01, p["bark"] / 3)
            events.append(ev)
        return _place(n, sr, events, rng)
    if cls == "drilling":
        f = p["f0"] * (1 + p["wobble"] * np.sin(2 * np.pi * rng.uniform(2, 9) * t))
        x = _norm(_harmonic(f, sr, p["n_harm"], p["rolloff"], rng))
        x = x + p["noise"] * _norm(_bandnoise(n, sr, p["f0"], 6 * p["f0"], rng))
        gate = (np.sin(2 * np.pi * t / p["burst"] + rng.uniform(0, 6.3)) > 1 - 2 * p["duty"])
        gate = np.convolve(gate.astype(float), np.ones(int(0.02 * sr)) / int(0.02 * sr), "same")
        return x * gate
    if cls == "engine_idling":
        period = sr / p["rate"]
        onsets = np.cumsum(period * (1 + p["jitter"] * rng.standard_normal(int(n / period) + 2)))
        clicks = np.zeros(n)
        idx = onsets[onsets < n].astype(int)
        clicks[idx] = rng.uniform(0.6, 1.0, idx.size)
        sos = signal.butter(2, p["cutoff"], fs=sr, output="sos")
        x = _norm(signal.sosfilt(sos, clicks))
        x = x + p["rumble"] * _norm(signal.sosfilt(sos, rng.standard_normal(n)))
        return x * (1 + p["am"] * np.sin(2 * np.pi * p["am_rate"] * t))
    if cls == "jackhammer":
        period = sr / p["rate"]
        onsets = np.cumsum(period * (1 + p["jitter"] * rng.standard_normal(int(n / period) + 2)))
        m = int(6 * p["decay"] * sr) + 1
        blow = _bandnoise(m, sr, p["lo"], p["hi"], rng) * _env(m, sr, 0.001, p["decay"])
        x = np.zeros(n + m)
        for o in onsets[onsets < n].astype(int):
            x[o:o + m] += blow * rng.uniform(0.7, 1.0)
        x = x[:n]
        gate = (np.sin(2 * np.pi * t / p["burst"] + rng.uniform(0, 6.3)) > 1 - 2 * p["duty"])
        return x * gate
    if cls == "siren":
        f = p["fc"] + p["dev"] * np.sin(2 * np.pi * p["fm"] * t + rng.uniform(0, 6.3))
        f = f * (1 + p["drift"] * t / max(t[-1], 1e-3))
        return _harmonic(f, sr, p["n_harm"], p["rolloff"], rng)
    if cls == "street_music":
        beat = 60.0 / p["bpm"]
        scale = np.array([0, 2, 4, 7, 9, 12, 14, 16])
        x = np.zeros(n)
        for start in np.arange(0, n / sr, beat / 2 if rng.random() < 0.5 else beat):
            s = int(start * sr)
            m = min(n - s, int(beat * p["legato"] * sr) + 1)
            if m <= 1:
                continue
            f = np.full(m, p["root"] * 2 ** (rng.choice(scale) / 12))
            x[s:s + m] += (_harmonic(f, sr, p["n_harm"], p["rolloff"], rng)
                           * _env(m, sr, 0.01, beat * p["legato"]))
            if rng.random() < p["drums"]:
                k = min(m, int(0.15 * sr))
                kick = np.sin(2 * np.pi * 60 * np.arange(k) / sr) * _env(k, sr, 0.002, 0.05)
                x[s:s + k] += 1.5 * kick
                if rng.random() < 0.5:
                    x[s:s + k] += 0.5 * _bandnoise(k, sr, 1500, 8000, rng) * _env(k, sr, 0.001, 0.03)
        return x
    raise ValueError(cls)


def _background(kind, n, sr, rng):
    if kind == 0:  # pink noise
        return _colored(n, rng, 1.0)
    if kind == 1:  # traffic rumble
        return _colored(n, rng, 2.0)
    if kind == 2:  # crowd babble: formant-filtered noise, syllable-rate AM
        t = np.arange(n) / sr
        x = np.zeros(n)
        for _ in range(4):
            fc = rng.uniform(300, 2500)
            am = 0.5 + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 6) * t + rng.uniform(0, 6.3))
            x += am * _norm(_bandnoise(n, sr, 0.7 * fc, 1.3 * fc, rng))
        return x
    return rng.standard_normal(n)  # white noise / hiss


def _make_clip(cls, params, n, sr, seed):
    rng = np.random.default_rng(seed)
    p = _jitter(params, rng)
    x = _norm(_synth(cls, p, n, sr, rng))
    bg = _norm(_background(int(rng.integers(0, 4)), n, sr, rng))
    snr_db = rng.uniform(-6, 12)
    x = x + bg * 10 ** (-snr_db / 20)
    x = x / (np.abs(x).max() + 1e-12) * rng.uniform(0.1, 0.9)
    # quantise to the 16-bit grid: the in-memory clips equal what the wav files decode to
    return (np.clip(np.round(x * 32768), -32768, 32767) / 32768).astype(np.float32)


# --------------------------------------------------------------------------- public
def make_urban_sounds(root=None, *, n_per_class=40, n_folds=10, sr=22050, min_duration=0.5,
                      max_duration=4.0, random_state=0):
    """Synthesise an 8-class, ``n_folds``-fold data set of urban-like sounds.

    Classes are named as the paper's 8 UrbanSound8K sources: air conditioners
    (coloured noise and hum), car horns (two-tone harmonic honks), dog barks
    (short gliding harmonic bursts), drilling (gated harmonic whine), idling
    engines (low-pass firing pulses), jackhammers (impulse trains of noise
    blows), sirens (sinusoidal FM sweeps) and street music (notes and drums).
    Each "source recording" gives one to three clips in one fold; parameters
    overlap between classes; every clip is mixed with a background noise at a
    random SNR in [-6, 12] dB and given a random gain and a duration in
    [``min_duration``, ``max_duration``] s.

    Parameters
    ----------
    root : str, path-like or None, default=None
        If given, also write the official UrbanSound8K layout there
        (``metadata/UrbanSound8K.csv``, ``audio/fold<k>/*.wav``, 16-bit PCM)
        and fill ``filenames``. Written to a temporary directory and renamed,
        so a failure leaves nothing behind. If ``root`` already holds a set
        generated with the same arguments it is reused (the cache); if it
        holds anything else an error is raised rather than overwriting it.
    n_per_class : int, default=40
        Clips per class (spread evenly over the folds).
    n_folds : int, default=10
    sr : int, default=22050
    min_duration, max_duration : float, default=0.5, 4.0
    random_state : int, default=0
        Same value, same data, bit for bit.

    Returns
    -------
    Bunch
        As :func:`load_urbansound8k` (``filenames``, ``target``,
        ``target_names``, ``fold``, ``salience``, ``fsID``, ``class_id``)
        plus ``data`` (object array of float32 waveforms at ``sr``),
        ``slice_file_name``, ``sr`` and ``clip_seconds`` (``max_duration``: the length
        every clip is analysed at, as UrbanSound8K's 4 s). ``filenames`` is None
        without ``root``.

    Examples
    --------
    >>> from sklearn_metricaudio import make_urban_sounds
    >>> d = make_urban_sounds(n_per_class=4, n_folds=2, random_state=0)
    >>> d.data.shape, d.data[0].dtype, sorted(set(d.fold.tolist()))
    ((32,), dtype('float32'), [1, 2])
    >>> list(d.target_names)[:3]
    ['air_conditioner', 'car_horn', 'dog_bark']
    """
    if not isinstance(n_per_class, (int, np.integer)) or n_per_class < 1:
        raise ValueError(f"n_per_class must be a positive integer, got {n_per_class!r}")
    if not isinstance(n_folds, (int, np.integer)) or n_folds < 1:
        raise ValueError(f"n_folds must be a positive integer, got {n_folds!r}")
    if not 0 < min_duration <= max_duration:
        raise ValueError(f"need 0 < min_duration <= max_duration, got {min_duration}, {max_duration}")
    if isinstance(random_state, np.random.Generator):
        random_state = int(random_state.integers(np.iinfo(np.int32).max))
    elif random_state is None or isinstance(random_state, np.random.RandomState):
        random_state = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    config = dict(version=_VERSION, n_per_class=int(n_per_class), n_folds=int(n_folds),
                  sr=int(sr), min_duration=float(min_duration),
                  max_duration=float(max_duration), random_state=int(random_state))

    if root is not None:
        root = Path(root).expanduser()
        stamp = root / _STAMP
        if stamp.is_file() and json.loads(stamp.read_text()) == config:
            return _read_cached(root, config)
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(
                f"'{root}' exists and does not hold a synthetic set made with these arguments "
                f"({config}); pass an empty or new directory"
            )
        if root.is_dir():
            root.rmdir()

    seed_root = np.random.SeedSequence(random_state)
    plan_rng = np.random.default_rng(seed_root.spawn(1)[0])  # child 0: the plan
    rows = []
    next_fsid = 100000
    for target, cls in enumerate(PAPER8_CLASSES):
        # clips of this class, fold by fold, grouped into sources of 1-3 slices
        per_fold = np.full(n_folds, n_per_class // n_folds)
        per_fold[: n_per_class % n_folds] += 1
        for fold_idx in plan_rng.permutation(n_folds):
            left = int(per_fold[fold_idx])
            while left > 0:
                n_slices = min(left, int(plan_rng.integers(1, 4)))
                params = _source_params(cls, plan_rng)
                for s in range(n_slices):
                    dur = plan_rng.uniform(min_duration, max_duration)
                    rows.append(dict(cls=cls, target=target, fold=int(fold_idx) + 1,
                                     fsID=next_fsid, slice=s, params=params, duration=dur))
                left -= n_slices
                next_fsid += 1
    seeds = seed_root.spawn(len(rows))  # children 1..n (spawn continues the count): the clips
    data = [_make_clip(r["cls"], r["params"], max(int(r["duration"] * sr), 1), sr, seed)
            for r, seed in zip(rows, seeds)]

    bunch = Bunch(
        data=np.empty(len(data), dtype=object),
        target=np.array([r["target"] for r in rows], dtype=np.int64),
        target_names=np.asarray(PAPER8_CLASSES, dtype=object),
        fold=np.array([r["fold"] for r in rows], dtype=np.int64),
        salience=np.ones(len(rows), dtype=np.int64),
        fsID=np.array([r["fsID"] for r in rows], dtype=np.int64),
        class_id=np.array([_CLASS_ID[r["cls"]] for r in rows], dtype=np.int64),
        slice_file_name=np.array(
            [f"{r['fsID']}-{_CLASS_ID[r['cls']]}-0-{r['slice']}.wav" for r in rows], dtype=object),
        sr=int(sr),
        clip_seconds=float(max_duration),
        filenames=None,
        DESCR=f"make_urban_sounds({config})",
    )
    bunch.data[:] = data
    if root is not None:
        _write_layout(root, bunch, rows, config)
        bunch.filenames = np.array(
            [str(root / "audio" / f"fold{f}" / name)
             for f, name in zip(bunch.fold, bunch.slice_file_name)], dtype=object)
    return bunch


def make_backgrounds(n_samples, sr=22050, *, random_state=0):
    """The synthetic set's four background noises, as recordings of ``n_samples`` samples.

    Pink noise, traffic rumble (1/f**2 noise), crowd babble (formant-filtered noise at
    syllable-rate amplitude modulation) and white noise, in that order: the backgrounds
    that :func:`make_urban_sounds` mixes into its clips, for use as
    :class:`~sklearn_metricaudio.augment.BackgroundNoise`'s default backgrounds.

    Parameters
    ----------
    n_samples : int
        Length of each background.
    sr : int, default=22050
        Sample rate (the babble's formants and modulation are in Hz).
    random_state : int, default=0
        Same value, same backgrounds.

    Returns
    -------
    ndarray of shape (4, n_samples), float32
        Each row with an RMS of 0.1 (-20 dBFS).

    Examples
    --------
    >>> from sklearn_metricaudio.datasets import make_backgrounds
    >>> B = make_backgrounds(8000, sr=8000)
    >>> B.shape, B.dtype, [round(float(r), 3) for r in np.sqrt((B ** 2).mean(axis=1))]
    ((4, 8000), dtype('float32'), [0.1, 0.1, 0.1, 0.1])
    """
    if not isinstance(n_samples, (int, np.integer)) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(sr, (int, np.integer)) or sr < 1:
        raise ValueError(f"sr must be a positive integer, got {sr!r}")
    rng = np.random.default_rng(random_state)
    return np.stack([0.1 * _norm(_background(kind, int(n_samples), sr, rng))
                     for kind in range(4)]).astype(np.float32)


def _write_layout(root, bunch, rows, config):
    sr = bunch.sr
    with atomic_directory(root) as tmp:
        for f in range(1, config["n_folds"] + 1):
            (tmp / "audio" / f"fold{f}").mkdir(parents=True)
        (tmp / "metadata").mkdir()
        with open(tmp / "metadata" / "UrbanSound8K.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["slice_file_name", "fsID", "start", "end", "salience", "fold",
                        "classID", "class"])
            for i, r in enumerate(rows):
                start = 4.0 * r["slice"]
                end = start + bunch.data[i].size / sr
                w.writerow([bunch.slice_file_name[i], r["fsID"], f"{start:.6f}", f"{end:.6f}", 1,
                            r["fold"], _CLASS_ID[r["cls"]], r["cls"]])
                sf.write(tmp / "audio" / f"fold{r['fold']}" / bunch.slice_file_name[i],
                         bunch.data[i], sr, subtype="PCM_16")  # the directory is atomic
        (tmp / _STAMP).write_text(json.dumps(config))


def _read_cached(root, config):
    meta = load_urbansound8k(root, classes="paper8", salience=None)
    data = np.empty(len(meta.filenames), dtype=object)
    data[:] = [load_audio(f, sr=None)[0] for f in meta.filenames]
    meta.data = data
    meta.slice_file_name = np.array([Path(f).name for f in meta.filenames], dtype=object)
    meta.sr = config["sr"]
    meta.clip_seconds = float(config["max_duration"])
    meta.DESCR = f"make_urban_sounds({config}) read from cache at {root}"
    return meta
