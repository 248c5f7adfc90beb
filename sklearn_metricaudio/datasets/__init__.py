"""Data sets: UrbanSound8K, ESC-50 and ESC-10 in their official layouts; your own labelled
recordings (a folder per class, or a CSV manifest); a synthetic stand-in."""

from ._folds import predefined_fold_cv
from ._home import get_data_home
from .detect import detect_layout, load_dataset
from .esc50 import load_esc50
from .own import audio_files, load_folder, load_manifest
from .synthetic import make_backgrounds, make_urban_sounds
from .urbansound8k import PAPER8_CLASSES, US8K_CLASSES, load_urbansound8k, urbansound8k_cv

__all__ = ["load_urbansound8k", "urbansound8k_cv", "load_esc50", "load_folder", "load_manifest",
           "audio_files", "load_dataset", "detect_layout", "predefined_fold_cv", "get_data_home",
           "make_urban_sounds", "make_backgrounds", "PAPER8_CLASSES", "US8K_CLASSES"]
