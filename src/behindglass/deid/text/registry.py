"""Recognizers behind one registry: each owns one kind of evidence for PHI in text.

A recognizer is a small class with a ``name``, the ``labels`` it can report and a
``detect(text, context)`` method yielding :class:`Detection` objects with offsets into
``text``. The :class:`Registry` keeps them by name so a site can add its own, switch one
off, or replace one, without touching the analyzer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from behindglass.core.errors import DeidError
from behindglass.deid.text.model import Detection

if TYPE_CHECKING:
    from behindglass.deid.text.site_lists import SiteLists


@dataclass(frozen=True)
class Context:
    """What every recognizer may consult besides the text itself.

    ``site_lists`` are the deny-lists built from the site's own structured data (or None);
    ``patient`` is the key of the patient the note is about, when the caller knows it.
    """

    site_lists: SiteLists | None = None
    patient: str | None = None
    extra: dict[str, object] = field(default_factory=dict)


class Recognizer(ABC):
    """One source of evidence. Subclasses set ``name`` and ``labels``."""

    name: str = ""
    labels: tuple[str, ...] = ()

    @abstractmethod
    def detect(self, text: str, context: Context) -> Iterable[Detection]:
        """Yield detections with offsets into ``text``."""


class Registry:
    """Named recognizers, in the order they were added."""

    def __init__(self, recognizers: Iterable[Recognizer] = ()) -> None:
        self._items: dict[str, Recognizer] = {}
        for recognizer in recognizers:
            self.add(recognizer)

    def add(self, recognizer: Recognizer, *, replace: bool = False) -> None:
        if not recognizer.name:
            raise DeidError(f"{type(recognizer).__name__} has no name")
        if recognizer.name in self._items and not replace:
            raise DeidError(f"a recognizer named {recognizer.name!r} is already registered; "
                            "pass replace=True to replace it")
        self._items[recognizer.name] = recognizer

    def remove(self, name: str) -> Recognizer:
        try:
            return self._items.pop(name)
        except KeyError:
            raise DeidError(f"no recognizer named {name!r}; registered: "
                            f"{', '.join(self._items) or '(none)'}") from None

    def __getitem__(self, name: str) -> Recognizer:
        return self._items[name]

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[Recognizer]:
        return iter(list(self._items.values()))

    def names(self) -> list[str]:
        return list(self._items)
