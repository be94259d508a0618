"""RViz markers of a chunk: the planned EE path and its gripper events (base frame, metres)."""

import numpy as np
from geometry_msgs.msg import Point
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

OPEN_COLOR = ColorRGBA(r=0.1, g=0.8, b=0.1, a=1.0)
CLOSE_COLOR = ColorRGBA(r=0.9, g=0.1, b=0.1, a=1.0)
PATH_COLOR = ColorRGBA(r=0.2, g=0.4, b=1.0, a=1.0)


def chunk_markers(start_m: np.ndarray, steps: np.ndarray, frame_id: str, stamp) -> MarkerArray:
    """Markers of a chunk starting at ``start_m`` (m), replacing the previous chunk's.

    A line strip through the cumulative displacements, and a sphere where the gripper changes
    (green = opens, red = closes).
    """
    points = [np.asarray(start_m, float)]
    for step in steps:
        points.append(points[-1] + step[:3])
    path = Marker(ns="chunk_path", id=0, type=Marker.LINE_STRIP, action=Marker.ADD)
    path.header.frame_id, path.header.stamp = frame_id, stamp
    path.scale.x = 0.004
    path.color = PATH_COLOR
    path.pose.orientation.w = 1.0
    path.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points]
    markers = [Marker(action=Marker.DELETEALL), path]
    previous = None
    for i, step in enumerate(steps):
        is_open = step[3] >= 0.5
        if previous is not None and is_open != previous:
            event = Marker(ns="gripper_events", id=i, type=Marker.SPHERE, action=Marker.ADD)
            event.header.frame_id, event.header.stamp = frame_id, stamp
            event.scale.x = event.scale.y = event.scale.z = 0.015
            event.color = OPEN_COLOR if is_open else CLOSE_COLOR
            event.pose.orientation.w = 1.0
            p = points[i + 1]
            event.pose.position = Point(x=float(p[0]), y=float(p[1]), z=float(p[2]))
            markers.append(event)
        previous = is_open
    return MarkerArray(markers=markers)
