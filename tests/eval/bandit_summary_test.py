"""The quickstart's comparison rule: rises / holds / falls, beyond sampling error."""

import pytest

from cfgrl_tf.eval.bandit_summary import trend


def _row(reward, std=0.1, n=2000):
    return {"reward": reward, "reward_std": std, "num_samples": n}


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (0.50, 0.93, "rises"),
        (0.929, 0.929, "holds"),
        # 2 standard errors of the difference: 2 * sqrt(2 * 0.1**2 / 2000) = 0.00632.
        (0.900, 0.906, "holds"),
        (0.900, 0.907, "rises"),
        (0.900, 0.894, "holds"),
        (0.900, 0.893, "falls"),
    ],
)
def test_trend(a, b, expected):
    assert trend(_row(a), _row(b)) == expected


def test_trend_scales_with_sample_size():
    # The same 0.004 step is noise with 2000 samples but a real rise with 200000.
    assert trend(_row(0.9), _row(0.904)) == "holds"
    assert trend(_row(0.9, n=200000), _row(0.904, n=200000)) == "rises"
