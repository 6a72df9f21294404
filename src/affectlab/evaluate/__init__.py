"""Evaluation: protocols and metrics (experiment runs and their run folders: :mod:`affectlab.experiments`)."""

from affectlab.evaluate.metrics import (
    accuracy,
    ccc,
    classification_metrics,
    confusion_matrix,
    macro_f1,
    pearson,
    regression_metrics,
    rmse,
    uar,
)
from affectlab.evaluate.protocols import (
    FixedSplit,
    Fold,
    GroupKFoldProtocol,
    LeaveOneGroupOut,
    Protocol,
    check_disjoint_groups,
    make_protocol,
)

__all__ = [
    "FixedSplit",
    "Fold",
    "GroupKFoldProtocol",
    "LeaveOneGroupOut",
    "Protocol",
    "accuracy",
    "ccc",
    "check_disjoint_groups",
    "classification_metrics",
    "confusion_matrix",
    "macro_f1",
    "make_protocol",
    "pearson",
    "regression_metrics",
    "rmse",
    "uar",
]
