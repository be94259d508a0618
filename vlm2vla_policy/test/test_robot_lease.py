"""The producer's lease on a goal: renewed by its messages, lapsed after lease_timeout_s."""

import math

import pytest

from vlm2vla_policy.robot.lease import Lease


def test_a_lease_lapses_only_after_its_timeout_without_renewal():
    lease = Lease(0.5, now_s=10.0)
    assert not lease.lapsed(10.49)
    assert lease.lapsed(10.51)
    lease.renew(10.4)
    assert not lease.lapsed(10.85)
    assert lease.lapsed(10.95)
    assert lease.silent_s(10.95) == pytest.approx(0.55)


def test_an_older_renewal_does_not_move_the_lease_back():
    lease = Lease(0.5, now_s=10.0)
    lease.renew(11.0)
    lease.renew(10.2)
    assert not lease.lapsed(11.4)


def test_the_reason_names_the_parameter():
    lease = Lease(0.25, now_s=0.0)
    reason = lease.reason(0.3)
    assert "lease lapsed" in reason and "lease_timeout_s = 0.25" in reason and "0.30 s" in reason


def test_a_zero_timeout_disables_the_lease():
    lease = Lease(0.0, now_s=0.0)
    assert not lease.enabled
    assert not lease.lapsed(1e9)


def test_a_negative_timeout_is_refused():
    with pytest.raises(ValueError, match="lease_timeout_s"):
        Lease(-0.1, now_s=0.0)


def test_a_nan_or_infinite_time_lapses_the_lease_and_a_nan_renewal_changes_nothing():
    lease = Lease(0.5, now_s=10.0)
    assert lease.lapsed(math.nan), "silent_s(nan) > timeout is False: NaN must not keep it alive"
    assert lease.lapsed(math.inf)
    lease.renew(math.nan)
    assert lease.renewed_s == 10.0
    assert not lease.lapsed(10.2)
    assert Lease(0.5, now_s=math.nan).lapsed(10.0), "a lease started at NaN is lapsed"
