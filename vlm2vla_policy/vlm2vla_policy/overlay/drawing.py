"""Draw an :class:`~vlm2vla_policy.overlay.view.OverlayView` onto a camera frame (OpenCV).

The frame is RGB ``uint8`` (H x W x 3) and so are the colours below. A frame narrower than
``OverlayConfig.min_width_px`` is first enlarged (``cv2.resize``, bilinear) so the text stays
legible; the camera model is scaled with it. What is drawn:

- a band at the top: the loop's state, the subtask (number / count) and the motion plan;
- the chunk's path, projected from the base frame: from the gripper's position when the chunk
  began (a filled :data:`START` disc) through the target after each step; executed steps as thick
  :data:`EXECUTED` lines with filled dots, pending ones as thin :data:`PENDING` lines with hollow
  dots; a step that closes the gripper ends in a square instead of a dot;
- the gripper now, a :data:`GRIPPER` cross;
- a band at the bottom: the last verdict (:data:`DONE` or :data:`NOT_DONE` text) or a note.
"""

from __future__ import annotations

import cv2
import numpy as np

from vlm2vla_policy.overlay.camera import PinholeCamera
from vlm2vla_policy.overlay.config import OverlayConfig
from vlm2vla_policy.overlay.view import OverlayView

Colour = tuple[int, int, int]
START: Colour = (255, 0, 255)  # the path's first point: the gripper when the chunk began
EXECUTED: Colour = (40, 220, 40)
PENDING: Colour = (255, 190, 0)
GRIPPER: Colour = (0, 230, 255)
DONE: Colour = (90, 255, 90)
NOT_DONE: Colour = (255, 90, 90)
TEXT: Colour = (255, 255, 255)
_BAND: Colour = (0, 0, 0)
_BAND_ALPHA = 0.55  # opacity of the text bands
_SHIFT = 4  # fractional bits of drawn coordinates: sub-pixel placement (1/16 px)
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_REFERENCE_WIDTH_PX = 640  # sizes below are for a frame this wide and scale with it


def draw_overlay(
    rgb: np.ndarray,
    view: OverlayView,
    camera: PinholeCamera | None,
    config: OverlayConfig | None = None,
) -> np.ndarray:
    """The annotated copy of ``rgb`` (maybe enlarged); ``camera`` None draws text only."""
    config = config or OverlayConfig()
    image = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width = image.shape[:2]
    if width < config.min_width_px:
        size = (config.min_width_px, round(height * config.min_width_px / width))
        image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    else:
        image = image.copy()
    unit = image.shape[1] / _REFERENCE_WIDTH_PX  # sizes scale with the frame
    note = view.note
    if camera is not None:
        camera = camera.scaled(image.shape[1] / camera.width)
        _draw_path(image, view, camera, unit)
    elif len(view.path_m):
        note = note or "no camera_info: the chunk's path is not drawn"
    _draw_text(image, view, note, unit)
    return image


def image_point(camera: PinholeCamera, point_m: np.ndarray) -> tuple[float, float] | None:
    """Where ``draw_overlay`` puts a base-frame point in a frame ``camera`` sees; None behind."""
    pixels, front = camera.project(point_m)
    return (float(pixels[0, 0]), float(pixels[0, 1])) if front[0] else None


def _fixed(point: np.ndarray) -> tuple[int, int]:
    """A pixel (pixel-centre coordinates) as cv2's fixed-point coordinates."""
    return (round(float(point[0]) * (1 << _SHIFT)), round(float(point[1]) * (1 << _SHIFT)))


def _draw_path(image: np.ndarray, view: OverlayView, camera: PinholeCamera, unit: float) -> None:
    scale = 1 << _SHIFT
    if len(view.path_m) >= 1:
        pixels, front = camera.project(view.path_m)
        for i in range(len(pixels) - 1):
            if not (front[i] and front[i + 1]):
                continue
            done = i < view.executed
            colour = EXECUTED if done else PENDING
            thickness = max(1, round((3 if done else 2) * unit))
            a, b = _fixed(pixels[i]), _fixed(pixels[i + 1])
            cv2.line(image, a, b, colour, thickness, cv2.LINE_AA, _SHIFT)
            radius = max(2, round(4 * unit)) * scale
            closes = i < len(view.gripper_open) and view.gripper_open[i] < 0.5
            fill = -1 if done else max(1, round(unit))
            if closes:
                corner = np.array([radius, radius])
                cv2.rectangle(image, tuple(np.subtract(b, corner)), tuple(np.add(b, corner)),
                              colour, fill, cv2.LINE_AA, _SHIFT)  # fmt: skip
            else:
                cv2.circle(image, b, radius, colour, fill, cv2.LINE_AA, _SHIFT)
    if view.gripper_m is not None:
        now = image_point(camera, view.gripper_m)
        if now is not None:
            arm = max(3, round(7 * unit)) * scale
            x, y = _fixed(np.array(now))
            thickness = max(1, round(unit))
            cv2.line(image, (x - arm, y), (x + arm, y), GRIPPER, thickness, cv2.LINE_AA, _SHIFT)
            cv2.line(image, (x, y - arm), (x, y + arm), GRIPPER, thickness, cv2.LINE_AA, _SHIFT)
    if len(view.path_m) and front[0]:
        # Last and without anti-aliasing: the first point keeps its exact colour on top.
        radius = max(2, round(5 * unit)) * scale
        cv2.circle(image, _fixed(pixels[0]), radius, START, -1, cv2.LINE_8, _SHIFT)


def _draw_text(image: np.ndarray, view: OverlayView, note: str, unit: float) -> None:
    font = (0.5 * unit, max(1, round(unit)))
    line_px = round(20 * unit)
    where = f"subtask {view.subtask_number}/{view.subtask_count}: {view.subtask}"
    top = [f"{view.state} | {where}" if view.subtask_count else view.state]
    if view.plan:
        top.append(f"plan: {view.plan}")
    _band(image, 0, line_px * len(top) + round(6 * unit))
    for row, text in enumerate(top):
        _text(image, text, (round(6 * unit), line_px * (row + 1)), TEXT, font)
    bottom = []
    if view.verdict:
        bottom.append((view.verdict, DONE if view.verdict_done else NOT_DONE))
    if note:
        bottom.append((note, TEXT))
    if not bottom:
        return
    height = image.shape[0]
    first = height - line_px * len(bottom) - round(6 * unit)
    _band(image, first, height)
    for row, (text, colour) in enumerate(bottom):
        baseline = first + line_px * (row + 1) - round(2 * unit)
        _text(image, text, (round(6 * unit), baseline), colour, font)


def _band(image: np.ndarray, top: int, bottom: int) -> None:
    """Darken rows ``top:bottom`` so text on them reads on any scene."""
    rows = image[max(0, top) : max(0, bottom)]
    rows[:] = (rows * (1 - _BAND_ALPHA) + np.array(_BAND) * _BAND_ALPHA).astype(np.uint8)


def _text(image, text: str, origin: tuple[int, int], colour, font: tuple[float, int]) -> None:
    """``text`` from ``origin`` (its baseline), cut with "..." to the image width.

    ``font`` is (scale, thickness) of the Hershey simplex font.
    """
    font_scale, thickness = font
    room = image.shape[1] - 2 * origin[0]
    shown, cut = text, len(text)
    while cut > 0 and cv2.getTextSize(shown, _FONT, font_scale, thickness)[0][0] > room:
        cut -= max(1, cut // 10)
        shown = text[:cut].rstrip() + "..."
    cv2.putText(image, shown, origin, _FONT, font_scale, colour, thickness, cv2.LINE_AA)
