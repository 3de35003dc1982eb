import math

import pytest

from trainer.metrics import average_precision_at_k, catalog_coverage, ndcg_at_k, precision_at_k, recall_at_k

TRUTH = {"a", "c", "f"}
PREDICTED = ["a", "b", "c", "d", "e"]  # hits at ranks 1 and 3


def test_precision_counts_hits_over_k():
    assert precision_at_k(TRUTH, PREDICTED, 5) == pytest.approx(2 / 5)
    assert precision_at_k(TRUTH, PREDICTED, 2) == pytest.approx(1 / 2)


def test_recall_counts_hits_over_relevant():
    assert recall_at_k(TRUTH, PREDICTED, 5) == pytest.approx(2 / 3)
    assert recall_at_k(set(), PREDICTED, 5) == 0.0


def test_ndcg_by_hand():
    dcg = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 / math.log2(2) + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(TRUTH, PREDICTED, 5) == pytest.approx(dcg / ideal)
    assert ndcg_at_k({"a"}, ["a"], 1) == pytest.approx(1.0)


def test_average_precision_by_hand():
    # precision at the hits: 1/1 and 2/3, normalised by min(3, 5) = 3
    assert average_precision_at_k(TRUTH, PREDICTED, 5) == pytest.approx((1 + 2 / 3) / 3)
    assert average_precision_at_k({"z"}, PREDICTED, 5) == 0.0


def test_catalog_coverage():
    assert catalog_coverage([["a", "b"], ["b", "c"]], n_items=6, k=2) == pytest.approx(3 / 6)
    assert catalog_coverage([["a", "b"], ["b", "c"]], n_items=6, k=1) == pytest.approx(2 / 6)
