"""Read a JSON document one value at a time, so a large import file is never all in memory."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import IO, Any

from knowledge.errors import ImportFailed

_CHUNK = 1 << 20
_BLANK = re.compile(r"[ \t\r\n]*")
_NUMBER_GOES_ON = ("", *"0123456789.eE+-")
TOO_DEEP = "nested too deeply"


def loads(text: str | bytes) -> Any:
    """Decode a JSON text; one nested too deeply is a ValueError, like any other bad JSON.

    The standard decoder recurses once per level and raises RecursionError (not ValueError)
    on a few thousand `[`: a crash for every caller that only expects bad JSON.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(TOO_DEEP) from None


class JsonStream:
    """Decode a JSON document one value at a time, keeping only the current value in memory."""

    def __init__(self, handle: IO[str], name: str) -> None:
        self._handle, self._name = handle, name
        self._decoder = json.JSONDecoder()
        self._buf, self._pos, self._eof = "", 0, False
        self._line, self._col = 1, 1  # where self._buf starts in the file

    def peek(self) -> str:
        """Return the next non-blank character without consuming it ("" at the end)."""
        while True:
            match = _BLANK.match(self._buf, self._pos)
            self._pos = match.end() if match else self._pos
            if self._pos < len(self._buf) or self._eof:
                return self._buf[self._pos : self._pos + 1]
            self._fill()

    def take(self, allowed: str) -> str:
        """Consume the next character, which must be one of `allowed`."""
        char = self.peek()
        if not char or char not in allowed:
            raise self._error(f"Expecting {' or '.join(repr(c) for c in allowed)}", self._pos)
        self._pos += 1
        return char

    def value(self) -> Any:
        """Decode the next complete value, reading more of the file as needed."""
        self.peek()
        while True:
            try:
                value, end = self._decoder.raw_decode(self._buf, self._pos)
            except RecursionError:
                raise self._error(TOO_DEEP, self._pos) from None
            except json.JSONDecodeError as err:
                cut_short = err.msg.startswith("Unterminated") or err.pos >= len(self._buf) - 16
                if self._eof or not cut_short:
                    raise self._error(err.msg, err.pos) from None
            else:  # a number cut off by the end of the buffer ("1e", "12") may go on
                if self._eof or self._buf[end : end + 1] not in _NUMBER_GOES_ON:
                    self._pos = end
                    return value
            self._fill()

    def items(self) -> Iterator[Any]:
        """Yield the values of the array that starts here."""
        for _ in self._entries("[", "]"):
            yield self.value()

    def members(self) -> Iterator[str]:
        """Yield the keys of the object that starts here; the caller reads each value."""
        for _ in self._entries("{", "}"):
            if self.peek() != '"':
                raise self._error("Expecting property name enclosed in double quotes", self._pos)
            key = self.value()
            self.take(":")
            yield key

    def _entries(self, opening: str, closing: str) -> Iterator[None]:
        self.take(opening)
        if self.peek() == closing:
            self._pos += 1
            return
        while True:
            yield
            if self.take("," + closing) == closing:
                return

    def end(self) -> None:
        """Check that nothing but blanks follows the document."""
        if self.peek():
            raise self._error("Extra data", self._pos)

    def _fill(self) -> None:
        self._line, self._col = self._where(self._pos)
        self._buf, self._pos = self._buf[self._pos :], 0
        try:  # read at least what is pending, so re-decoding a huge value stays linear
            chunk = self._handle.read(max(_CHUNK, len(self._buf)))
        except UnicodeDecodeError:
            raise ImportFailed(f"{self._name} is not UTF-8 text; save it as UTF-8") from None
        self._eof = not chunk
        self._buf += chunk

    def _where(self, pos: int) -> tuple[int, int]:
        """Return the line and column in the file of a position in the buffer."""
        newlines = self._buf.count("\n", 0, pos)
        if not newlines:
            return self._line, self._col + pos
        return self._line + newlines, pos - self._buf.rfind("\n", 0, pos)

    def _error(self, message: str, pos: int) -> ImportFailed:
        line, column = self._where(pos)
        where = f"line {line}, column {column}"
        return ImportFailed(f"{self._name} is not valid JSON: {message} at {where}")
