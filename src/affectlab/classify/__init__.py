"""Classifiers (scikit-learn estimators) and their registry."""

from affectlab.classify.registry import (
    MultinomialLogisticRegression,
    OvRLinearSVC,
    create_classifier,
    list_classifiers,
    register_classifier,
)
from affectlab.classify.search import InnerCVSearch

__all__ = [
    "create_classifier",
    "list_classifiers",
    "register_classifier",
    "InnerCVSearch",
    "MultinomialLogisticRegression",
    "OvRLinearSVC",
]
