"""room-fit-sensor: fit a sensor/appearance profile from real frames or their statistics.

    room-fit-sensor frames=DIR out=assets/sensor/NAME.json
    room-fit-sensor reference=bronchoscopy_appearance.json calibrate=CLEAN_DIR out=default \
        reference_features=bronchoscopy_features.npz

Settings: room.sensor.fit.FitSensorConfig (conf/fit_sensor.yaml). Library code:
room.sensor.fit / room.sensor.calibrate.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

from omegaconf import DictConfig

from room.compose import hydra_main
from room.config import to_dataclass
from room.errors import ConfigError, RoomError
from room.sensor.fit import FitSensorConfig


def run(cfg: FitSensorConfig) -> Path:
    """Fit (and optionally calibrate) a profile; returns the JSON path written."""
    from room.sensor import calibrate as sc
    from room.sensor import fit as sf
    from room.sensor.config import SensorConfig
    from room.sensor.profile import profile_path

    if (cfg.frames is None) == (cfg.reference is None):
        raise ConfigError("give exactly one of frames=DIR (real frames) or reference=JSON "
                          "(image_stats.py summary)")
    out = profile_path(cfg.out)
    name = cfg.name or out.stem
    if cfg.frames is not None:
        frames = sf.read_frames(cfg.frames)
        prof = sf.fit_profile(frames, name, tone_gamma=cfg.tone_gamma,
                              tone_shoulder=cfg.tone_shoulder,
                              source={"kind": "frames", "folder": Path(cfg.frames).name,
                                      "frames": len(frames)})
    else:
        knobs = sc.ReferenceKnobs(read_fraction=cfg.read_fraction, tone_gamma=cfg.tone_gamma,
                                  tone_shoulder=cfg.tone_shoulder,
                                  vignetting_strength=cfg.vignetting_strength,
                                  vignetting_tan_half_width=cfg.vignetting_tan_half_width)
        prof = sc.profile_from_reference(cfg.reference, name, knobs)
    if cfg.reference_features is not None and cfg.calibrate is None:
        raise ConfigError("reference_features=NPZ fits the colour-rendering curves during "
                          "calibration: give calibrate=CLEAN_DIR too")
    if cfg.calibrate is not None:
        clean = sf.read_frames(cfg.calibrate)
        prof = sc.calibrate_profile(prof, clean, SensorConfig(), cfg.iterations, seed=cfg.seed,
                                    reference_features=cfg.reference_features,
                                    grading_fit=cfg.grading_fit)
        prof = dataclasses.replace(prof, calibration={
            **prof.calibration, "clean_renders": f"{len(clean)} frames from "
            f"{Path(cfg.calibrate).name}", "sensor_config": "SensorConfig() defaults"})
    path = prof.save(out)
    print(f"wrote sensor profile {name!r} to {path}")
    return path


@hydra_main("fit_sensor")
def main(cfg: DictConfig) -> None:
    try:
        run(to_dataclass(FitSensorConfig, cfg))
    except RoomError as e:
        print(f"room-fit-sensor: error: {e}", file=sys.stderr)
        sys.exit(e.exit_code)


if __name__ == "__main__":
    main()
