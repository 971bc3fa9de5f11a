"""Release compatibility (negative flip rate, backward trust and error compatibility)
against counts by hand."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest

from pytest_compressguard import Comparison, CompressGuardWarning


def test_negative_flip_rate_counts_only_what_the_student_loses():
    """NFR counts teacher-right/student-wrong examples, not the ones the student gains
    (flips counts both), and its failure names the metric, value and bound."""
    import pytest_compressguard as cg

    eye = np.eye(3)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    pt = eye[[0, 1, 2, 0, 1, 0, 1, 2]]  # right on the first five
    ps = eye[[0, 2, 2, 1, 1, 2, 1, 1]]  # loses 1 and 3, gains 5 and 7, both wrong on 6
    guard = Comparison.from_arrays(pt * 0.9 + 0.1 / 3, ps * 0.9 + 0.1 / 3, y, bootstrap=0)
    assert guard.negative_flip_rate() == pytest.approx(2 / 8)
    assert guard.flips() == pytest.approx(4 / 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompressGuardWarning)
        guard.assert_negative_flip_rate(max=0.25)
        with pytest.raises(AssertionError, match=r"negative_flip_rate = 0\.2500 is above") as e:
            cg.assert_negative_flip_rate(guard, max=0.2)
    # the examples shown are the negative flips (1 and 3), not the gains (5 and 7)
    assert "the student gets 2 examples wrong that the teacher gets right" in str(e.value)
    shown = [int(i) for i in re.findall(r"^\s+\[(\d+)\]", str(e.value), re.M)]
    assert shown == [1, 3]


def test_backward_compatibility_counts_trust_and_errors_by_hand():
    """BTC and BEC (Bansal et al. 2019) on the NFR example above, their empty-set values, and
    a failure that lists the negative flips."""
    eye = np.eye(3)
    y = np.array([0, 1, 2, 0, 1, 2, 0, 1])
    pt = eye[[0, 1, 2, 0, 1, 0, 1, 2]]  # right on 0-4
    ps = eye[[0, 2, 2, 1, 1, 2, 1, 1]]  # right on 0, 2, 4, 5, 7; wrong on 1, 3, 6
    guard = Comparison.from_arrays(pt * 0.9 + 0.1 / 3, ps * 0.9 + 0.1 / 3, y, bootstrap=200)
    assert guard.value("backward_trust_compatibility") == pytest.approx(3 / 5)  # {0, 2, 4}
    assert guard.value("backward_error_compatibility") == pytest.approx(1 / 3)  # {6} of 1, 3, 6
    lo, hi = guard.interval("backward_trust_compatibility")
    assert lo <= 3 / 5 <= hi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CompressGuardWarning)
        with pytest.raises(AssertionError, match=r"backward_trust_compatibility = 0\.6000") as e:
            guard.assert_backward_trust_compatibility(min=0.99)
    shown = [int(i) for i in re.findall(r"^\s+\[(\d+)\]", str(e.value), re.M)]
    assert shown == [1, 3]
    # a teacher with nothing right breaks no trust; a student with no error adds none
    wrong = eye[(y + 1) % 3] * 0.9 + 0.1 / 3
    right = eye[y] * 0.9 + 0.1 / 3
    assert (
        Comparison.from_arrays(wrong, wrong, y, bootstrap=0).value("backward_trust_compatibility")
        == 1.0
    )
    assert (
        Comparison.from_arrays(wrong, right, y, bootstrap=0).value("backward_error_compatibility")
        == 1.0
    )
