"""Words for rendered pages, made up from a random generator: pseudo-words built from syllables, numbers in the
shapes documents hold them (amounts, dates, percentages, codes) and punctuation. No word list: nothing to license,
and every string is printable in the DejaVu and STIX fonts (ASCII only)."""
from __future__ import annotations

import numpy as np

ONSETS = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "w", "z", "br", "ch",
          "cl", "dr", "fl", "gr", "pl", "pr", "sh", "st", "th", "tr", "qu", "sp", "")
NUCLEI = ("a", "e", "i", "o", "u", "y", "ai", "ea", "ee", "ie", "oo", "ou", "au")
CODAS = ("", "", "", "n", "r", "s", "t", "l", "m", "nd", "st", "rk", "ng", "x", "ck")
TRAILING = (",", ".", ";", ":", "!", "?")
UNITS = ("kg", "mm", "cm", "km", "ml", "h", "s")


def _pick(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def pseudo_word(rng: np.random.Generator) -> str:
    syllables = _pick(rng, (1, 1, 2, 2, 2, 3, 3, 4))
    return "".join(_pick(rng, ONSETS) + _pick(rng, NUCLEI) + _pick(rng, CODAS) for _ in range(syllables))


def number(rng: np.random.Generator) -> str:
    shape = int(rng.integers(7))
    if shape == 0:
        return str(int(rng.integers(0, 10_000)))
    if shape == 1:
        return f"{rng.integers(0, 1000)}.{rng.integers(0, 100):02d}"
    if shape == 2:
        return f"{rng.integers(1, 29):02d}/{rng.integers(1, 13):02d}/{rng.integers(1950, 2040)}"
    if shape == 3:
        return f"{rng.integers(0, 101)}%"
    if shape == 4:
        return f"${rng.integers(1, 5000)}.{rng.integers(0, 100):02d}"
    if shape == 5:
        return f"{rng.integers(1, 1000)}{_pick(rng, UNITS)}"
    letters = "".join(chr(ord("A") + int(c)) for c in rng.integers(0, 26, int(rng.integers(1, 4))))
    return f"{letters}-{rng.integers(10, 100_000)}"


def word(rng: np.random.Generator, sentence_start: bool) -> str:
    """One word as it would stand in running text: capitalised at a sentence start, now and then a name, a
    number, an abbreviation in capitals or a word in parentheses."""
    draw = rng.random()
    if draw < 0.12:
        text = number(rng)
    elif draw < 0.16:
        text = pseudo_word(rng).upper()[:5]
    else:
        text = pseudo_word(rng)
        if draw < 0.18:
            text = f"{text}-{pseudo_word(rng)}"
        if sentence_start or rng.random() < 0.08:
            text = text[0].upper() + text[1:]
    if rng.random() < 0.03:
        text = f"({text})"
    return text


class RunningText:
    """Words of running text, read one at a time: sentences of 3 to 14 words ended by a full stop (now and then
    another mark), commas inside. A word peeked at and not taken (it did not fit the line) comes again."""

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._left = 0  # words still to come in this sentence
        self._next: str | None = None

    def peek(self) -> str:
        if self._next is None:
            self._next = self._word()
        return self._next

    def take(self) -> str:
        text = self.peek()
        self._next = None
        return text

    def _word(self) -> str:
        rng = self._rng
        start = self._left == 0
        if start:
            self._left = int(rng.integers(3, 15))
        text = word(rng, start)
        self._left -= 1
        if self._left == 0:
            text += "." if rng.random() < 0.8 else _pick(rng, TRAILING)
        elif rng.random() < 0.08:
            text += ","
        return text
