"""Evaluation protocol of the papers: the models, the fold loop, tables and figures."""

from .ins_report import format_ins_table, ins_by_class, plot_ins
from .augmentation import deformed_features
from .deployable import fit_pipeline, outlier_fit_params
from .enrollment import enrolled_accuracy, enrollment_draws
from .models import (MARGIN_PRESETS, MODEL_NAMES, PAPER_BALANCED_ACCURACY, paper_baselines,
                     paper_models)
from .protocol import (FEATURE_TITLES, compute_features, compute_model_features,
                       evaluate_models, feature_pipeline, input_duration, model_deformations,
                       model_inputs)
from .display import check_figures, format_confusion_table, save_confusion_png, save_roc_png
from .folds import evaluate_folds, per_class_auc

__all__ = ["evaluate_folds", "compute_features", "compute_model_features", "input_duration",
           "model_inputs", "evaluate_models", "feature_pipeline", "format_confusion_table",
           "paper_baselines", "paper_models", "per_class_auc", "save_confusion_png",
           "save_roc_png", "check_figures", "format_ins_table", "plot_ins", "ins_by_class",
           "MODEL_NAMES", "PAPER_BALANCED_ACCURACY", "FEATURE_TITLES", "MARGIN_PRESETS",
           "deformed_features", "model_deformations", "enrollment_draws",
           "enrolled_accuracy", "fit_pipeline", "outlier_fit_params"]
