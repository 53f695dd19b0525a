"""Clients the agents share, created inside the worker's event loop."""

from __future__ import annotations

import redis.asyncio as aioredis

from abm.directory.store import DirectoryStore
from abm.privacy.suppression import SuppressionList
from abm.settings import CommonSettings


def redis_client(settings: CommonSettings) -> aioredis.Redis:
    return aioredis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=5,
        socket_timeout=10,
        health_check_interval=30,
    )


async def open_directory(settings: CommonSettings) -> DirectoryStore:
    return DirectoryStore(redis_client(settings), settings.redis_prefix)


def open_suppression(settings: CommonSettings) -> SuppressionList:
    """The suppression list, with the copy the hot path reads refreshed every
    `ABM_PRIVACY_REFRESH_S`."""
    return SuppressionList(
        redis_client(settings),
        settings.redis_prefix,
        settings.pseudonym_secret(),
        refresh_s=settings.privacy_refresh_s,
    )


class SharedStores:
    """The directory and a Redis client that the account-figures timer and the account pages
    share, opened on first use (inside the worker's event loop, which does not exist yet when
    the app is built)."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self._opened: tuple[DirectoryStore, aioredis.Redis] | None = None

    async def get(self) -> tuple[DirectoryStore, aioredis.Redis]:
        if self._opened is None:
            self._opened = (await open_directory(self.settings), redis_client(self.settings))
        return self._opened
