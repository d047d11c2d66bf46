"""Waking long-polls: sites waiting for work, researchers waiting for progress.

A site agent asks ``GET /tasks/next?wait=30``. If nothing is pending, the request parks on
the site's :class:`asyncio.Event` instead of polling the database; creating a task for
that site sets the event, and every parked request for it wakes at once. A researcher's
``GET /studies/{id}?wait=…`` parks the same way on the study's event, set whenever one of
its tasks changes state. Keys are ``site_key(name)`` and ``study_key(id)``.

To avoid a lost wake-up, a waiter takes the event *before* it looks in the database: a
task created after the look sets exactly that event. Events are single-use (``notify``
swaps in a fresh one), so a wake-up never leaks into a later wait.
"""

from __future__ import annotations

import asyncio
import threading


def site_key(name: str) -> str:
    return f"site:{name}"


def study_key(study_id: str) -> str:
    return f"study:{study_id}"


class Wakeups:
    """One wake-up event per key, owned by the hub's event loop."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Remember the loop, so threads (sync endpoints) can notify through it."""
        self._loop = loop

    def event(self, key: str) -> asyncio.Event:
        """The event the next notify of ``key`` will set. Call on the event loop."""
        with self._guard:
            ev = self._events.get(key)
            if ev is None:
                ev = self._events[key] = asyncio.Event()
            return ev

    def _fire(self, keys: list[str]) -> None:
        with self._guard:
            fired = [self._events.pop(k) for k in keys if k in self._events]
        for ev in fired:
            ev.set()

    def notify(self, keys: list[str]) -> None:
        """Wake every request waiting on any of ``keys``; safe from any thread."""
        loop = self._loop
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if loop is None or running is loop:
            self._fire(keys)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(self._fire, list(keys))

    def wake_all(self) -> None:
        """On shutdown: release every parked request so the server can stop quickly.

        Always goes through ``call_soon_threadsafe``: this is called from signal handlers,
        which may interrupt the loop anywhere.
        """
        loop = self._loop
        if loop is None:
            return
        with self._guard:
            keys = list(self._events)
        if not loop.is_closed():
            loop.call_soon_threadsafe(self._fire, keys)


async def wait_for(event: asyncio.Event, timeout: float) -> bool:
    """True if ``event`` was set within ``timeout`` seconds."""
    if timeout <= 0:
        return event.is_set()
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        return False
    return True
