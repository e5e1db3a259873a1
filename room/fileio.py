"""Files that appear whole or not at all, and the one (bit-exact) MP4 encoder.

- :func:`atomic_path`: a context manager yielding a temporary sibling of ``path`` (same suffix,
  so writers that look at the extension work); on success it replaces ``path`` with it, on any
  error it is removed. Every writer in ``room`` that must not leave a partial file goes through it.
- :func:`write_atomic`: bytes or text to ``path`` through :func:`atomic_path`.
- :func:`write_mp4`: H.264 frames to an MP4 (imageio-ffmpeg) atomically, with bit-exact,
  single-threaded settings so the same frames give the same bytes.

Base module: imports nothing from room's stages.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# bitexact flags drop encoder version strings and timestamps; one thread keeps x264's
# decisions independent of the machine's core count.
FFMPEG_PARAMS = ["-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
                 "-threads", "1", "-x264-params", "threads=1"]


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file next to ``path`` (same suffix, usual file mode); write it inside
    the ``with`` block. On success it atomically replaces ``path``; on error it is deleted and
    ``path`` is untouched. OSErrors propagate."""
    path = Path(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give it the usual file mode
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass
        raise


def write_atomic(path: str | Path, data: bytes | str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)


def write_mp4(path: str | Path, frames: Iterable[np.ndarray], fps: int = 10,
              crf: int = 23) -> Path:
    """Encode ``frames`` (equal-size (H, W, 3) uint8 RGB, H and W multiples of 16) into the MP4
    ``path`` (H.264, yuv420p, bit-exact) atomically. Frames are consumed lazily."""
    import imageio_ffmpeg

    path = Path(path)
    it = iter(frames)
    first = next(it, None)
    if first is None:
        raise ValueError(f"no frames to encode into {path}")
    h, w = first.shape[:2]
    with atomic_path(path) as tmp:
        gen = imageio_ffmpeg.write_frames(
            str(tmp), (w, h), fps=fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, bitrate=None, macro_block_size=16,
            ffmpeg_log_level="error",
            output_params=["-crf", str(int(crf)), "-preset", "veryfast", *FFMPEG_PARAMS])
        try:
            gen.send(None)
            gen.send(np.ascontiguousarray(first))
            for frame in it:
                gen.send(np.ascontiguousarray(frame))
        finally:
            gen.close()
    return path


def check_output_dir(path: str | Path, what: str = "out") -> Path:
    """Raise :class:`~room.errors.ConfigError` unless ``path`` is, or can become, a writable
    folder: checked before any work, so a run never fails at its end on a bad output path. The
    nearest existing ancestor must be a folder we may write into; returns the absolute path."""
    from room.errors import ConfigError

    p = Path(path).expanduser().absolute()
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError(f"{what}={path}: {probe} is a file, not a folder; choose another "
                          f"{what}=")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ConfigError(f"{what}={path}: {probe} is not writable (read-only or another "
                          f"user's); choose another {what}= or change its permissions")
    return p
