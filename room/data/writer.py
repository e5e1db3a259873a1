"""Sequence writer: atomic per-frame files, ``frames.jsonl`` appended last, resumable.

Crash safety: every file goes to a temporary sibling first and is renamed into place
(``os.replace``); a frame's line is appended to ``frames.jsonl`` only after all its files exist,
so a frame listed there is complete. :meth:`SequenceWriter.open` on an existing folder keeps the
committed frames, drops a torn last line and stray temporaries, and returns where to resume.
A sequence is finished when ``preview.mp4`` (written last) exists.

One writer per folder: :meth:`SequenceWriter.open` takes the folder's writer lock
(:class:`room.data.lock.WriterLock`) before touching anything; a second writer gets a
DatasetError naming the holder. :meth:`finish` and :meth:`close` release it (the kernel releases
it when the process dies, so the next run takes over a killed run's folder).

Disk full (ENOSPC), read-only or permission errors become :class:`DatasetError` with a message
saying what to do; what was committed before stays valid.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from room import fileio
from room.data import formats, schema
from room.data.lock import WriterLock
from room.data.preview import panel_modalities, preview_edge, preview_row, write_preview
from room.errors import DatasetError
from room.types import Frame

PREVIEW_MEMORY_BYTES = 256 * 2**20
# modality -> (zlib level, cv2 PNG strategy, cv2 PNG row filters); others: formats'
# defaults. Chosen on six frames of the default 600 x 600 sequence (sizes and CPU times per
# file, pixels identical): the writer threads' PNG work is the largest CPU cost of a generated
# frame, and every file here is smaller or within 15 kB of cv2's default filters at level 5/6.
PNG_SETTINGS = {
    # KITTI flow: the Sub filter at level 5: 213 kB in 36 ms (all filters at level 6: 201 kB
    # in 85 ms; level 3: 250 kB)
    "flow": (5, None, cv2.IMWRITE_PNG_FILTER_SUB),
    # the noisy sensor image: run-length coding at level 1 (487 kB in 29 ms; filtered level 3
    # is larger and slower)
    "rgb": (1, cv2.IMWRITE_PNG_STRATEGY_RLE, None),
    # the clean render: libpng's fast filters, filtered strategy, level 1 (437 kB in 21 ms;
    # level 3 with all filters: 430 kB in 46 ms)
    "rgb_clean": (1, cv2.IMWRITE_PNG_STRATEGY_FILTERED, cv2.IMWRITE_PNG_FAST_FILTERS),
    # 16-bit depth: Sub filter, filtered strategy, level 5 (119 kB in 21 ms; was 124 in 26)
    "depth": (5, cv2.IMWRITE_PNG_STRATEGY_FILTERED, cv2.IMWRITE_PNG_FILTER_SUB),
    # normals: unfiltered rows at level 6 compress best (183 kB in 23 ms; all filters at
    # level 5: 254 kB in 44 ms)
    "normals": (6, None, cv2.IMWRITE_PNG_FILTER_NONE),
    # face ids (piecewise-constant 16-bit): Up filter, run-length coding (140 kB in 8 ms;
    # all filters at level 5: 128 kB in 27 ms)
    "face_id": (6, cv2.IMWRITE_PNG_STRATEGY_RLE, cv2.IMWRITE_PNG_FILTER_UP),
}



class _KittiPair(tuple):
    """(flow, valid) carrying its KITTI uint16 encoding, computed once per frame."""

    def __new__(cls, pair, kitti: np.ndarray):
        obj = super().__new__(cls, pair)
        obj.kitti = kitti
        return obj

def _remove_temporaries(folder: Path, keep: tuple[str, ...] = ()) -> None:
    """Delete the hidden temporary files (room.fileio.atomic_path's ``.NAME.XXXX.ext``) that a
    killed writer left in ``folder``: we hold the folder's lock, so no live writer owns them."""
    for tmp in folder.glob(".*"):
        if tmp.is_file() and tmp.name not in keep:
            tmp.unlink(missing_ok=True)


@contextmanager
def dataset_io(what: Path | str) -> Iterator[None]:
    """Turn OSErrors raised while writing ``what`` into DatasetError with a clear remedy."""
    try:
        yield
    except DatasetError:
        raise
    except OSError as e:
        if e.errno == errno.ENOSPC:
            msg = (f"disk full while writing {what}: free some space (or choose another out=) "
                   "and rerun the same command; frames already written are complete and the "
                   "run resumes after the last one")
        elif e.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            msg = (f"cannot write {what}: the folder is read-only or not writable "
                   f"({e.strerror}); choose a writable output folder with out=DIR")
        else:
            msg = f"could not write {what}: {e}"
        raise DatasetError(msg) from e


def frame_record(frame: Frame, files: dict[str, str], extra: dict[str, Any] | None) -> dict:
    """The frames.jsonl line of one frame (exact pose as 16 floats, row-major)."""
    rec = {
        "index": int(frame.index),
        "time_s": float(frame.time_s),
        "T_world_cam": [float(x) for x in frame.T_world_cam.reshape(-1)],
        "files": files,
        "meta": frame.meta,
    }
    rec.update(extra or {})
    return rec


class SequenceWriter:
    """Writes one sequence folder. Usage::

        w = SequenceWriter(path, info, config_yaml, n_frames, modalities)
        start = w.open()            # frames already committed (0 for a new folder)
        for ...: w.write_frame(canonical_frame, flows..., extra=...)
        w.finish()                  # poses_tum.txt + preview.mp4

    With ``background=True`` a frame is encoded and committed on a worker thread while the
    caller computes the next one; ``write_frame`` first waits for the previous frame's commit
    (and raises its error), :meth:`wait` and :meth:`finish` wait for the last. Commit order and
    atomicity are the same as in the foreground.
    """

    def __init__(self, path: str | Path, info: dict, config_yaml: str, n_frames: int,
                 modalities: tuple[str, ...] = schema.RIGID_MODALITIES,
                 pointcloud_stride: int = 1, preview_size: int = 0, preview_fps: int = 10,
                 background: bool = False, flow_format: str = "kitti"):
        unknown = set(modalities) - set(schema.ALL_MODALITIES)
        if unknown:
            raise DatasetError(f"unknown modalities {sorted(unknown)}; "
                               f"choose from {schema.ALL_MODALITIES}")
        missing = set(schema.REQUIRED_MODALITIES) - set(modalities)
        if missing:
            raise DatasetError(f"modalities {sorted(missing)} are required in every dataset")
        if flow_format not in schema.FLOW_FORMATS:
            raise DatasetError(f"flow format {flow_format!r} not in {schema.FLOW_FORMATS}")
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.flow_format = flow_format
        self.encodings = schema.encodings(flow_format)
        modalities = set(modalities)
        if flow_format == "kitti":  # one KITTI file holds a direction's flow and validity
            for d in ("flow_fwd", "flow_bwd"):
                if {d, f"{d}_valid"} & modalities:
                    modalities |= {d, f"{d}_valid"}
        self.modalities = tuple(m for m in schema.ALL_MODALITIES if m in modalities)
        self.stride = int(pointcloud_stride)
        self.preview_size = int(preview_size)
        self.preview_fps = int(preview_fps)
        self.info = dict(info, n_frames=self.n_frames, modalities=list(self.modalities),
                         pointcloud_stride=self.stride, flow_format=flow_format,
                         encodings={m: self.encodings[m] for m in self.modalities},
                         path_templates={m: self._template(m) for m in self.modalities})
        self.config_yaml = config_yaml
        self.n_done = 0
        self._rows: dict[int, np.ndarray] = {}  # preview rows of frames written by this run
        self._pool: Any = None  # encoder threads, started with the first frame
        self.background = bool(background)
        self._committer: Any = None  # the one background commit thread
        self._pending: Any = None  # Future of the frame being committed
        self.lock = WriterLock(self.path)

    def _template(self, m: str) -> str:
        e = self.encodings[m]
        return f"{e['dir']}/{{index:0{schema.NAME_DIGITS}d}}.{e['ext']}"

    # --- state -----------------------------------------------------------------------

    @property
    def finished(self) -> bool:
        return (self.path / schema.PREVIEW_FILE).exists() or (
            self.preview_size <= 0 and (self.path / schema.POSES_FILE).exists()
            and self._count_lines() == self.n_frames)

    def _count_lines(self) -> int:
        f = self.path / schema.FRAMES_FILE
        if not f.exists():
            return 0
        return sum(1 for line in f.read_bytes().split(b"\n") if line.strip())

    def open(self) -> int:
        """Take the folder's writer lock, then create or resume the folder; returns the
        number of committed frames."""
        with dataset_io(self.path):
            self.lock.acquire()
            self.path.mkdir(parents=True, exist_ok=True)
            info_text = json.dumps(self.info, indent=1, sort_keys=True) + "\n"
            self._check_or_write(schema.CONFIG_FILE, self.config_yaml)
            self._check_or_write(schema.INFO_FILE, info_text)
            for m in self.modalities:
                d = self.path / self.encodings[m]["dir"]
                d.mkdir(exist_ok=True)
                _remove_temporaries(d)
            _remove_temporaries(self.path, keep=(self.lock.path.name,))
            self.n_done = self._recover_frames()
        return self.n_done

    def _check_or_write(self, name: str, text: str) -> None:
        f = self.path / name
        if f.exists():
            if f.read_text() != text:
                raise DatasetError(
                    f"{self.path} already holds a sequence made with different settings "
                    f"({name} differs); choose another out=DIR or delete that folder")
        else:
            fileio.write_atomic(f, text.encode())

    def _recover_frames(self) -> int:
        f = self.path / schema.FRAMES_FILE
        if not f.exists():
            return 0
        raw = f.read_bytes()
        lines = raw.split(b"\n")
        good = []
        for k, line in enumerate(lines[:-1]):  # the part after the last newline is torn
            try:
                rec = json.loads(line)
            except ValueError:
                break
            if rec.get("index") != k:
                break
            good.append(line)
        kept = b"".join(x + b"\n" for x in good)
        if kept != raw:
            fileio.write_atomic(f, kept)
        return len(good)

    # --- frames ----------------------------------------------------------------------

    def write_frame(self, frame: Frame, flow_fwd: tuple[np.ndarray, np.ndarray] | None = None,
                    flow_bwd: tuple[np.ndarray, np.ndarray] | None = None,
                    pointcloud: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                    extra: dict[str, Any] | None = None,
                    scene_flow: np.ndarray | None = None) -> None:
        """Write frame ``self.n_done`` (must be canonical, see schema.canonical_frame), then
        commit it by appending its line to frames.jsonl. ``flow_*`` = (flow, valid);
        ``scene_flow`` (H, W, 3) m (a moving scene's, see schema)."""
        i = self.n_done
        if frame.index != i:
            raise DatasetError(f"frames must be written in order: expected {i}, got {frame.index}")
        if float(frame.depth.max(initial=0.0)) > schema.DEPTH_MAX_M:
            raise DatasetError(f"depth beyond {schema.DEPTH_MAX_M} m cannot be stored in 16-bit "
                               "PNG; lower the camera far plane")
        if scene_flow is not None and float(np.abs(scene_flow).max(initial=0.0)) > \
                schema.SCENE_FLOW_MAX_M:
            raise DatasetError(f"scene flow beyond {schema.SCENE_FLOW_MAX_M * 1e3:.2f} mm per "
                               "frame cannot be stored; raise trajectory.frame_rate_hz or lower "
                               "motion.amplitude_m")
        self.wait()
        job = (i, frame, flow_fwd, flow_bwd, (pointcloud, scene_flow), extra)
        if self.background:
            if self._committer is None:
                from concurrent.futures import ThreadPoolExecutor

                self._committer = ThreadPoolExecutor(max_workers=1)
            self._pending = self._committer.submit(self._commit, *job)
        else:
            self._commit(*job)
        self.n_done += 1

    def wait(self, quiet: bool = False) -> None:
        """Wait until the frame being committed in the background is on disk; raise its
        error unless ``quiet`` (used while another error is already on its way up)."""
        pending, self._pending = self._pending, None
        if pending is None:
            return
        try:
            pending.result()
        except Exception:
            if not quiet:
                raise

    def _commit(self, i: int, frame: Frame, flow_fwd, flow_bwd, pointcloud, extra) -> None:
        """Encode and write frame ``i``'s files, then append its line to frames.jsonl. The
        preview row is made on the encoder threads beside the files."""
        if flow_fwd is not None and self.flow_format == "kitti":
            kitti = schema.encode_kitti_flow(*flow_fwd)  # once, for the file and the preview
            flow_fwd = _KittiPair(flow_fwd, kitti)
        row = None
        if self.preview_size > 0 and self._keep_rows():
            row = self._pool_submit(self._preview_row, frame, flow_fwd)
        blobs = self._encode(frame, flow_fwd, flow_bwd, *pointcloud)
        files = {}
        with dataset_io(self.path):
            for rel, data in blobs.items():
                fileio.write_atomic(self.path / rel, data)
            for m in self.modalities:
                if schema.has_file(m, i, self.n_frames):
                    files[m] = schema.rel_path(m, i, self.encodings)
            line = json.dumps(frame_record(frame, files, extra), sort_keys=True) + "\n"
            with open(self.path / schema.FRAMES_FILE, "ab") as f:
                f.write(line.encode())
        if row is not None:
            self._rows[i] = row.result()

    def _pool_submit(self, fn, *args):
        """Run ``fn(*args)`` on the encoder threads (cv2 and numpy release the GIL)."""
        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor

            self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
        return self._pool.submit(fn, *args)

    def _keep_rows(self) -> bool:
        """Keep preview rows in memory only while they take < 256 MB (else finish() decodes)."""
        row = preview_edge(self.preview_size) ** 2 * 3 * len(panel_modalities(self.modalities))
        return self.n_frames * row < PREVIEW_MEMORY_BYTES

    def _preview_row(self, frame: Frame, flow_fwd) -> np.ndarray:
        """The frame's preview row from memory: the arrays the reader would decode."""
        mods = panel_modalities(self.modalities)
        h, w = frame.intrinsics.shape
        d = {"rgb": frame.rgb, "depth": frame.depth, "normals": frame.normals,
             "segmentation": frame.segmentation}
        if isinstance(flow_fwd, _KittiPair):  # as the reader decodes it
            d["flow_fwd"], d["flow_fwd_valid"] = schema.decode_kitti_flow(flow_fwd.kitti)
        elif flow_fwd is not None:
            d["flow_fwd"] = np.asarray(flow_fwd[0], np.float32)
            d["flow_fwd_valid"] = np.asarray(flow_fwd[1], bool)
        else:
            d["flow_fwd"], d["flow_fwd_valid"] = np.zeros((h, w, 2), np.float32), \
                np.zeros((h, w), bool)
        return preview_row(d, mods, frame.intrinsics.far, frame.intrinsics.width,
                           preview_edge(self.preview_size))

    def _encode(self, frame, flow_fwd, flow_bwd, pointcloud,
                scene_flow=None) -> dict[str, bytes]:
        """Encoded bytes of every file of this frame, by path relative to the folder (a KITTI
        flow file serves two modalities). The encoders (cv2's PNG, numpy's byte
        copies) release the GIL, so they run side by side on a few threads: the bytes are the
        same, and the writing of a 600 x 600 frame takes about half the time on 2 cores."""
        i, n = frame.index, self.n_frames
        jobs = {}
        for m in self.modalities:
            rel = schema.rel_path(m, i, self.encodings)
            if schema.has_file(m, i, n) and rel not in jobs:
                jobs[rel] = self._encoder(m, frame, flow_fwd, flow_bwd, pointcloud,
                                          self.flow_format, scene_flow)
        futures = {m: self._pool_submit(job) for m, job in jobs.items()}
        return {m: f.result() for m, f in futures.items()}

    @staticmethod
    def _encoder(m: str, frame, flow_fwd, flow_bwd, pointcloud, flow_format: str = "kitti",
                 scene_flow=None):
        """A no-argument function that encodes modality ``m`` of the frame."""
        png = formats.encode_png
        if m == "rgb":
            return lambda: png(frame.rgb, *PNG_SETTINGS["rgb"])
        if m == "rgb_clean":
            return lambda: png(frame.rgb_clean, *PNG_SETTINGS["rgb_clean"])
        if m in ("depth", "normals", "segmentation", "face_id"):
            enc = getattr(schema, f"encode_{m}")
            return lambda: png(enc(getattr(frame, m)), *PNG_SETTINGS.get(m, (None, None, None)))
        if m in ("flow_fwd", "flow_bwd", "flow_fwd_valid", "flow_bwd_valid"):
            pair = flow_fwd if m.startswith("flow_fwd") else flow_bwd
            if pair is None:
                raise DatasetError(f"frame {frame.index} needs {m} but none was given")
            if isinstance(pair, _KittiPair):
                return lambda: png(pair.kitti, *PNG_SETTINGS["flow"])
            if flow_format == "kitti":
                return lambda: png(schema.encode_kitti_flow(*pair), *PNG_SETTINGS["flow"])
            if m.endswith("valid"):
                return lambda: png(pair[1].astype(np.uint8) * np.uint8(255))
            return lambda: formats.encode_flo(pair[0])
        if m == "pointcloud":
            if pointcloud is None:
                raise DatasetError(f"frame {frame.index} needs a point cloud but none was given")
            return lambda: formats.encode_ply(*pointcloud)
        if m == "scene_flow":
            if scene_flow is None:
                raise DatasetError(f"frame {frame.index} needs scene flow but none was given")
            return lambda: png(schema.encode_scene_flow(scene_flow), *PNG_SETTINGS["flow"])
        raise DatasetError(f"no encoder for modality {m!r}")

    # --- end of sequence -------------------------------------------------------------

    def finish(self) -> None:
        """Regenerate poses_tum.txt from frames.jsonl and write the preview (last)."""
        from room.data.reader import read_records

        self.wait()
        for pool in (self._committer, self._pool):
            if pool is not None:
                pool.shutdown()
        self._committer = self._pool = None
        with dataset_io(self.path):
            recs = read_records(self.path)
            if len(recs) != self.n_frames:
                raise DatasetError(f"{self.path}: finish() after {len(recs)} of "
                                   f"{self.n_frames} frames")
            times = np.array([r["time_s"] for r in recs])
            poses = np.array([np.reshape(r["T_world_cam"], (4, 4)) for r in recs])
            fileio.write_atomic(self.path / schema.POSES_FILE, formats.encode_tum(times, poses))
            if self.preview_size > 0:
                write_preview(self.path, self.path / schema.PREVIEW_FILE, self.preview_size,
                              self.preview_fps, self._rows)
        self.close()

    def close(self) -> None:
        """Stop the worker threads and release the writer lock (idempotent)."""
        self.wait(quiet=True)
        for pool in (self._committer, self._pool):
            if pool is not None:
                pool.shutdown()
        self._committer = self._pool = None
        self.lock.release()
