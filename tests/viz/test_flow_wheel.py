"""Flow colour wheel: the legend's colour for a direction is the colour of that flow."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from room.data.preview import colorize_flow
from room.viz.panels import flow_color, flow_wheel


def _hue_deg(rgb) -> float:
    hsv = cv2.cvtColor(np.asarray(rgb, np.uint8).reshape(1, 1, 3), cv2.COLOR_RGB2HSV_FULL)
    return float(hsv[0, 0, 0]) * 360 / 256


# image coordinates: u right, v down. Expected hues of the HSV wheel: right red (0),
# down 90 deg, left cyan (180), up 270 deg (OpenCV 8-bit hue has 2-degree steps).
DIRECTIONS = {"right": ((1, 0), 0.0), "down": ((0, 1), 90.0), "left": ((-1, 0), 180.0),
              "up": ((0, -1), 270.0)}


@pytest.mark.parametrize("name", sorted(DIRECTIONS))
def test_known_directions_have_expected_hue_and_match_the_wheel(name):
    (du, dv), hue = DIRECTIONS[name]
    c = flow_color(5.0 * du, 5.0 * dv, max_px=5.0)
    assert abs((_hue_deg(c) - hue + 180) % 360 - 180) <= 3.0, (name, c)
    assert c.max() == 255  # full magnitude -> full value
    wheel = flow_wheel(65, max_px=5.0)
    r = 32
    # a point 0.9 of the way to the rim in that direction: 0.9 x 5 px flow
    px = wheel[r + int(round(0.9 * r * dv)), r + int(round(0.9 * r * du))]
    np.testing.assert_allclose(px, flow_color(4.5 * du, 4.5 * dv, 5.0), atol=8)


def test_right_is_red_and_magnitude_is_value():
    full = flow_color(4.0, 0.0, 4.0)
    half = flow_color(2.0, 0.0, 4.0)
    np.testing.assert_array_equal(full, [255, 0, 0])
    assert 120 <= half[0] <= 135 and half[1] == half[2] == 0
    np.testing.assert_array_equal(flow_color(0.0, 0.0, 4.0), [0, 0, 0])


def test_wheel_is_a_disc_with_black_centre_and_white_outside():
    w = flow_wheel(101, max_px=2.0)
    assert w.shape == (101, 101, 3) and w.dtype == np.uint8
    np.testing.assert_array_equal(w[50, 50], [0, 0, 0])
    np.testing.assert_array_equal(w[0, 0], [255, 255, 255])
    # every hue appears on the rim: 36 directions give distinct colours
    ang = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    rim = {tuple(w[int(50 + 48 * np.sin(a)), int(50 + 48 * np.cos(a))]) for a in ang}
    assert len(rim) >= 30


def test_invalid_flow_is_black():
    flow = np.full((4, 4, 2), 3.0, np.float32)
    valid = np.zeros((4, 4), bool)
    assert colorize_flow(flow, valid, 3.0).max() == 0
