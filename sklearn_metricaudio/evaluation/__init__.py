"""Evaluation protocol of the papers: fold loop, tables, figures."""

from .report import (PAPER_BALANCED_ACCURACY, evaluate_folds, format_confusion_table,
                     paper_baselines, per_class_auc, save_confusion_png, save_roc_png)

__all__ = ["evaluate_folds", "format_confusion_table", "paper_baselines", "per_class_auc",
           "save_confusion_png", "save_roc_png", "PAPER_BALANCED_ACCURACY"]
