"""Framework-neutral metrics on numpy arrays (torch tensors and jax arrays are converted)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu()
    return np.asarray(x)


def accuracy(predictions, labels) -> float:
    """Share of ``predictions`` (class ids, or ``[N, C]`` scores: argmax taken) equal to ``labels``."""
    predictions, labels = _np(predictions), _np(labels)
    if predictions.ndim == labels.ndim + 1:
        predictions = predictions.argmax(-1)
    if predictions.shape != labels.shape:
        raise ValueError(f"predictions {predictions.shape} and labels {labels.shape} differ in shape")
    return float((predictions == labels).mean())


def roc_auc(scores, labels) -> float:
    """Area under the ROC curve: the chance a random positive scores above a random negative."""
    return float(roc_auc_score(_np(labels), _np(scores)))


def majority_baseline(train_labels, test_labels) -> float:
    """Accuracy of always predicting the most common training label."""
    values, counts = np.unique(_np(train_labels), return_counts=True)
    return float((_np(test_labels) == values[counts.argmax()]).mean())


def pairwise_auc(scores, labels) -> float:
    """ROC-AUC by its definition: the share of (positive, negative) pairs in which the positive
    scores higher, ties counting one half. ``O(P * N)`` memory: for small inputs and teaching;
    :func:`roc_auc` computes the same number from ranks."""
    scores, labels = _np(scores).astype(np.float64), _np(labels)
    pos, neg = scores[labels == 1], scores[labels == 0]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("AUC needs at least one positive and one negative label")
    diff = pos[:, None] - neg[None, :]
    return float((diff > 0).mean() + 0.5 * (diff == 0).mean())
