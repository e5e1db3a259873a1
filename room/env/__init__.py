"""env stage: the Gymnasium environment ``room/BronchoscopyNav-v0`` (sim + render).

``import room.env`` registers the id with Gymnasium; ``gymnasium.make("room/BronchoscopyNav-v0")``
then builds :class:`~room.env.nav.BronchoscopyNavEnv`. It sits above ``render`` (observations
are rendered tip images) and below ``data``.
"""

from __future__ import annotations

from room.env.nav import ENV_ID, BronchoscopyNavEnv, EnvConfig, close_renderers, register

__all__ = ["ENV_ID", "BronchoscopyNavEnv", "EnvConfig", "close_renderers", "register"]
