"""learn stage: monocular depth fine-tuning / evaluation and camera-pose evaluation.

Depth (needs the extra ``room[learn]``: torch, transformers; imported lazily):

- :mod:`room.learn.data`: samples from room datasets with resizing/cropping/flipping that keep
  depth metric and the intrinsics consistent; sequence-level splits.
- :mod:`room.learn.models`: built-in U-Net, Depth Anything V2 and DPT (local weights only).
- :mod:`room.learn.losses`: SiLog, scale-and-shift-invariant and gradient-matching losses.
- :mod:`room.learn.metrics` (numpy only): AbsRel, SqRel, RMSE, RMSE log, delta thresholds with
  median / least-squares (depth or disparity) / metric alignment.
- :mod:`room.learn.train`, :mod:`room.learn.evaluate`: ``room-finetune-depth``,
  ``room-eval-depth``.

Pose (numpy + OpenCV only):

- :mod:`room.learn.pose`: ATE after Sim(3)/SE(3) Umeyama alignment, RPE, TUM files.
- :mod:`room.learn.vo`: classical VO baseline (ORB/SIFT; PnP with depth or essential matrix).
- :mod:`room.learn.pose_run`: ``room-eval-pose``.
"""
