"""The example metric: found through its entry point, and its values checked by hand."""

from __future__ import annotations

import pytest
import torch
from colorbench_example_metric import HUE_ERROR, hue_error

from colorbench import measures
from colorbench.measures import ImageBatch, declaration_problem, image_metrics


def test_the_declaration_is_valid_and_registered():
    assert declaration_problem(HUE_ERROR) is None
    measures.refresh()
    assert measures.get_measure("hue_error") is HUE_ERROR
    assert "hue_error" in image_metrics(
        torch.zeros(1, 1, 16, 16), torch.zeros(1, 2, 16, 16), torch.zeros(1, 2, 16, 16)
    )


def test_perfect_prediction_scores_zero_and_a_quarter_turn_ninety():
    l_norm = torch.zeros(2, 1, 8, 8)
    ab_true = torch.zeros(2, 2, 8, 8)
    ab_true[:, 0] = 0.3  # a* = 33: red, chromatic
    ab_quarter = torch.zeros(2, 2, 8, 8)
    ab_quarter[:, 1] = 0.3  # b* = 33: a quarter turn away
    assert hue_error(ImageBatch(l_norm, ab_true, ab_true)).tolist() == [0.0, 0.0]
    assert hue_error(ImageBatch(l_norm, ab_quarter, ab_true)) == pytest.approx(torch.full((2,), 90.0))


def test_gray_truth_has_no_hue_to_miss():
    l_norm, gray = torch.zeros(1, 1, 8, 8), torch.zeros(1, 2, 8, 8)
    assert hue_error(ImageBatch(l_norm, torch.rand(1, 2, 8, 8), gray)).tolist() == [0.0]
