"""Word tokens with their offsets and whether the line they sit on is written in capitals.

In an ALL-CAPS line (ICU nursing notes, old dictation systems) capitalisation says nothing
about names, so recognizers fall back to context and lexicons there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Letters, with inner apostrophes and hyphens (O'Neil, Jean-Pierre, DeAngelo-O'Hara).
WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
_CAPS_MIN_LETTERS = 12


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str
    caps_line: bool

    @property
    def lower(self) -> str:
        return self.text.lower()

    @property
    def capitalised(self) -> bool:
        """Starts with a capital (in a caps line every word does)."""
        return self.text[0].isupper()

    @property
    def initial(self) -> bool:
        return len(self.text) == 1 and self.text.isupper()


def caps_lines(text: str) -> list[tuple[int, int, bool]]:
    """``(start, end, is_caps)`` for every line of ``text``."""
    out = []
    pos = 0
    for line in text.splitlines(keepends=True):
        letters = [c for c in line if c.isalpha()]
        upper = sum(c.isupper() for c in letters)
        is_caps = len(letters) >= _CAPS_MIN_LETTERS and upper >= 0.75 * len(letters)
        out.append((pos, pos + len(line), is_caps))
        pos += len(line)
    return out


def tokenize(text: str) -> list[Token]:
    lines = caps_lines(text)
    tokens = []
    line_index = 0
    for m in WORD.finditer(text):
        while line_index < len(lines) - 1 and m.start() >= lines[line_index][1]:
            line_index += 1
        caps = lines[line_index][2] if lines else False
        tokens.append(Token(m.start(), m.end(), m.group(), caps))
    return tokens


def text_is_caps(text: str) -> bool:
    letters = [c for c in text if c.isalpha()]
    return bool(letters) and sum(c.isupper() for c in letters) >= 0.75 * len(letters)
