"""rclpy QoS profiles to and from the recorded form of ``vlm2vla_policy.bags.qos``.

Recording stores what each publisher offered; playing publishes with the recorded reliability and
durability (when every recorded publisher agreed), so a latched topic stays latched, as
``ros2 bag play`` does. The policy enums of rclpy and rosbags share their values (rmw's).
"""

from collections.abc import Sequence

from rclpy.duration import Duration
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosbags import interfaces as recorded

_NS_PER_S = 1_000_000_000
_CONCRETE = {
    (reliability, durability)
    for reliability in (recorded.QosReliability.RELIABLE, recorded.QosReliability.BEST_EFFORT)
    for durability in (recorded.QosDurability.TRANSIENT_LOCAL, recorded.QosDurability.VOLATILE)
}


def _time(duration: Duration) -> recorded.QosTime:
    return recorded.QosTime(*divmod(duration.nanoseconds, _NS_PER_S))


def recorded_qos(profile: QoSProfile) -> recorded.Qos:
    """The recorded form of a publisher's offered ``profile`` (e.g. from graph discovery)."""
    return recorded.Qos(
        recorded.QosHistory(int(profile.history)),
        profile.depth,
        recorded.QosReliability(int(profile.reliability)),
        recorded.QosDurability(int(profile.durability)),
        _time(profile.deadline),
        _time(profile.lifespan),
        recorded.QosLiveliness(int(profile.liveliness)),
        _time(profile.liveliness_lease_duration),
        profile.avoid_ros_namespace_conventions,
    )


def playback_qos(offered: Sequence[recorded.Qos], fallback: QoSProfile) -> QoSProfile:
    """The profile to republish a topic with: the recorded reliability and durability.

    Keep-last with the recorded depth (``fallback``'s when the recording does not know it, as
    graph discovery reports it). ``fallback`` as a whole when nothing was recorded, the recorded
    publishers disagreed, or a policy was not a concrete one (e.g. unknown).
    """
    policies = {(q.reliability, q.durability) for q in offered}
    if len(policies) != 1 or not policies <= _CONCRETE:
        return fallback
    ((reliability, durability),) = policies
    keep_last = recorded.QosHistory.KEEP_LAST
    depths = [q.depth for q in offered if q.history == keep_last and q.depth > 0]
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=max(depths) if depths else fallback.depth,
        reliability=ReliabilityPolicy(reliability.value),
        durability=DurabilityPolicy(durability.value),
    )
