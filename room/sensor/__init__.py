"""Sensor stage: the camera after the optics. A clean render -> the bronchoscope's image.

Takes the render stage's :class:`~room.types.Frame` and replaces its ``rgb`` (noise, vignetting,
exposure, blur, glare, bloom, Bayer, JPEG); every ground-truth field stays as rendered. Modules:

- :mod:`~room.sensor.config`: :class:`SensorConfig` (Hydra group ``sensor``) and its parts;
- :mod:`~room.sensor.model`: :class:`SensorModel` (``apply(frame, prev_frame)``);
- :mod:`~room.sensor.stages`: the pure image functions the model chains;
- :mod:`~room.sensor.profile`: :class:`SensorProfile`, fitted values in ``assets/sensor/``;
- :mod:`~room.sensor.fit`, :mod:`~room.sensor.calibrate`: profiles from real frames or their
  statistics, tuned against our renders (``room-fit-sensor``);
- :mod:`~room.sensor.appearance`: :func:`sequence_appearance`, the one per-sequence randomizer
  of the render look and the sensor settings.

Imports are lazy (``from room.sensor import SensorModel`` loads only what it needs).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from room.sensor.appearance import (
        AppearanceSample,
        apply_render_overrides,
        randomize_material,
        randomize_sensor,
        sample_appearance,
        sequence_appearance,
    )
    from room.sensor.config import (
        AppearanceRandomization,
        BayerConfig,
        BloomConfig,
        ColourConfig,
        ExposureConfig,
        GlareConfig,
        GradingConfig,
        JpegConfig,
        LocalToneConfig,
        MotionBlurConfig,
        NoiseConfig,
        SensorConfig,
        ToneConfig,
        VignettingConfig,
    )
    from room.sensor.model import SensorModel
    from room.sensor.profile import SensorProfile, load_profile

__all__ = [
    # config
    "SensorConfig", "ExposureConfig", "VignettingConfig", "NoiseConfig", "BayerConfig",
    "ColourConfig", "ToneConfig", "GradingConfig", "JpegConfig", "MotionBlurConfig", "BloomConfig",
    "LocalToneConfig", "GlareConfig", "AppearanceRandomization",
    # model, profile
    "SensorModel", "SensorProfile", "load_profile",
    # appearance
    "sequence_appearance", "AppearanceSample", "sample_appearance", "randomize_sensor",
    "randomize_material", "apply_render_overrides",
]

_WHERE = {  # public name -> the module that defines it
    **dict.fromkeys(("SensorConfig", "ExposureConfig", "VignettingConfig", "NoiseConfig",
                     "BayerConfig", "ColourConfig", "ToneConfig", "GradingConfig", "JpegConfig",
                     "MotionBlurConfig", "BloomConfig", "LocalToneConfig", "GlareConfig",
                     "AppearanceRandomization"), "config"),
    "SensorModel": "model", "SensorProfile": "profile", "load_profile": "profile",
    **dict.fromkeys(("sequence_appearance", "AppearanceSample", "sample_appearance",
                     "randomize_sensor", "randomize_material", "apply_render_overrides"),
                    "appearance"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'room.sensor' has no attribute {name!r}")
    return getattr(importlib.import_module(f"room.sensor.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
