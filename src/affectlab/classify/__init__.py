"""Classifiers (scikit-learn estimators) and their registry.

Every registered classifier exposes ``decision_function`` of shape ``(n_samples, n_classes)``
(also for two classes) for decision-level fusion.
"""

from affectlab.classify.fusion import FusionNetwork, FusionNetworkCV, MeanProbabilityFusion, stack_decisions
from affectlab.classify.pls import PLSClassifier, pls2
from affectlab.classify.registry import (
    MultinomialLogisticRegression,
    OvRLinearSVC,
    create_classifier,
    list_classifiers,
    register_classifier,
)
from affectlab.classify.search import InnerCVSearch, inner_folds, search_subsample
from affectlab.classify.svm import DEFAULT_C_GRID, LinearSVMCV

__all__ = [
    "create_classifier",
    "list_classifiers",
    "register_classifier",
    "FusionNetwork",
    "FusionNetworkCV",
    "MeanProbabilityFusion",
    "stack_decisions",
    "InnerCVSearch",
    "LinearSVMCV",
    "PLSClassifier",
    "MultinomialLogisticRegression",
    "OvRLinearSVC",
    "DEFAULT_C_GRID",
    "inner_folds",
    "pls2",
    "search_subsample",
]
