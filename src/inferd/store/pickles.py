"""Whether unpickling a byte stream would run code: a walk of its opcodes, never an unpickling.

``pickle.load`` executes opcodes one at a time from the first byte, whatever the protocol: a
pickle need not open with PROTO, need not end where the file ends, and may hide its imports behind
a literal of any length. So the walk starts at byte 0 and follows every opcode until STOP, or
until the first one the unpickler itself would fail on (an unknown opcode, a malformed argument,
a stack underflow, the end of the stream). The stack is kept as the unpickler keeps it: a depth
and the mark stack that fences it, with pickletools' stack effect of each opcode.

The stream counts as a pickle when, before that point,

- an import (GLOBAL, INST, STACK_GLOBAL or an extension code) is followed by an opcode that uses
  what was imported: a call (REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX), an item or attribute
  store (APPEND(S), SETITEM(S), ADDITEMS) or STOP; code runs, even if garbage follows; or
- STOP is reached with nothing but whitespace after it: a whole pickle, if only of plain data.

GLOBAL and INST name ``module name`` lines; names that are not Python identifiers cannot be
imported, so they end the walk (text whose first lines happen to parse as opcodes is not a
pickle). Length-prefixed arguments are skipped with ``seek``, so a literal of any size costs no
memory (short text is read, to name what a STACK_GLOBAL imports); newline-terminated ones are
decoded as the unpickler would, up to :data:`MAX_LINE`.
"""

from __future__ import annotations

import io
import pickletools
import re
import warnings
from dataclasses import dataclass, field
from typing import BinaryIO

#: A stream still parsing as opcodes after this many is a pickle, whatever it holds.
MAX_OPCODES = 1 << 20
#: Newline-terminated arguments longer than this are skipped undecoded (a long STRING literal).
MAX_LINE = 1 << 20

_IMPORTS = frozenset({"GLOBAL", "INST", "STACK_GLOBAL", "EXT1", "EXT2", "EXT4"})
_USES = frozenset(
    {"REDUCE", "BUILD", "INST", "OBJ", "NEWOBJ", "NEWOBJ_EX", "APPEND", "APPENDS", "SETITEM"}
    | {"SETITEMS", "ADDITEMS", "STOP"}
)
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_OPCODES = {ord(op.code): op for op in pickletools.opcodes}
# Width and signedness of the length prefix of each variable-length argument kind.
_PREFIXES = {
    pickletools.TAKEN_FROM_ARGUMENT1: (1, False),
    pickletools.TAKEN_FROM_ARGUMENT4: (4, True),
    pickletools.TAKEN_FROM_ARGUMENT4U: (4, False),
    pickletools.TAKEN_FROM_ARGUMENT8U: (8, False),
}
_HIGHEST_PROTOCOL = 5
_TEXT_LITERALS = frozenset({"SHORT_BINUNICODE", "BINUNICODE"})
# Opcodes that change no stack item: text pushed before them still names a STACK_GLOBAL.
_NO_PUSH = frozenset({"MEMOIZE", "PUT", "BINPUT", "LONG_BINPUT", "FRAME", "PROTO"})
_NAME_BYTES = 256


class _Halt(Exception):
    """The unpickler would stop here with an error: nothing after this point runs."""


@dataclass(slots=True)
class _Machine:
    """The unpickler's stack shape: ``depth`` items, fenced by the depths in ``marks``."""

    depth: int = 0
    marks: list[int] = field(default_factory=list)

    def pop(self, count: int) -> None:
        fence = self.marks[-1] if self.marks else 0
        if self.depth - count < fence:
            raise _Halt
        self.depth -= count

    def apply(self, op: pickletools.OpcodeInfo) -> None:
        before = op.stack_before
        if pickletools.markobject in before:
            if not self.marks:
                raise _Halt
            self.depth = self.marks.pop()  # everything above the mark goes with it
            self.pop(before.index(pickletools.markobject))
        elif op.name == "POP" and self.marks and self.marks[-1] == self.depth:
            self.marks.pop()
        else:
            self.pop(len(before))
        if op.name == "MARK":
            self.marks.append(self.depth)
        else:
            self.depth += len(op.stack_after)


def _read(stream: BinaryIO, count: int) -> bytes:
    data = stream.read(count)
    if len(data) != count:
        raise _Halt
    return data


def _line(stream: BinaryIO) -> bytes | None:
    """One newline-terminated line, or None when it is longer than MAX_LINE (then skipped)."""
    line = stream.readline(MAX_LINE + 1)
    if line.endswith(b"\n"):
        return line
    if len(line) <= MAX_LINE:
        raise _Halt  # the stream ends inside the argument
    while not line.endswith(b"\n"):
        line = stream.readline(MAX_LINE)
        if not line:
            raise _Halt
    return None


def _names(stream: BinaryIO) -> str:
    """The ``module name`` pair of GLOBAL or INST, which must both be importable names."""
    module, name = _line(stream), _line(stream)
    if module is None or name is None:
        raise _Halt
    try:
        pair = (module[:-1].decode("utf-8"), name[:-1].decode("utf-8"))
    except UnicodeDecodeError:
        raise _Halt from None
    if not all(_IDENTIFIER.fullmatch(part) for part in pair):
        raise _Halt
    return ".".join(pair)


def _argument(stream: BinaryIO, op: pickletools.OpcodeInfo, size: int) -> str | None:
    """Consume the argument of ``op``; return GLOBAL's and INST's name, or a short text literal.

    Only STACK_GLOBAL's message uses the literals (the two pushed just before it name what it
    imports); nothing else is decoded from a length-prefixed argument.
    """
    arg = op.arg
    if arg is None:
        return None
    if op.name in ("GLOBAL", "INST"):
        return _names(stream)
    if arg.n >= 0:
        data = _read(stream, arg.n)
        if op.name == "PROTO" and data[0] > _HIGHEST_PROTOCOL:
            raise _Halt
        return None
    if arg.n == pickletools.UP_TO_NEWLINE:
        line = _line(stream)
        if line is not None:
            try:
                with warnings.catch_warnings():
                    # A STRING literal with escapes like '\w' warns as it is decoded.
                    warnings.simplefilter("ignore", DeprecationWarning)
                    arg.reader(io.BytesIO(line))
            except (ValueError, UnicodeDecodeError):
                raise _Halt from None
        return None
    width, signed = _PREFIXES[arg.n]
    length = int.from_bytes(_read(stream, width), "little", signed=signed)
    end = stream.tell() + length
    if length < 0 or end > size:
        raise _Halt
    if op.name in _TEXT_LITERALS and length <= _NAME_BYTES:
        return _read(stream, length).decode("utf-8", "replace")
    stream.seek(end)
    return None


def pickle_verdict(stream: BinaryIO, size: int) -> str | None:
    """Why ``stream`` (at position 0, ``size`` bytes long) is a pickle, or None if it is not.

    The reason completes "a pickle that …" (see the module docstring for when it is one).
    """
    machine = _Machine()
    imported: list[str] = []
    literals: list[str] = []  # text pushed since the last other push, for STACK_GLOBAL's name
    try:
        for _ in range(MAX_OPCODES):
            code = stream.read(1)
            op = _OPCODES.get(code[0]) if code else None
            if op is None:
                return None
            name = _argument(stream, op, size)
            machine.apply(op)
            if op.name == "STACK_GLOBAL" and len(literals) >= 2:
                name = ".".join(literals[-2:])
            if op.name in _IMPORTS:
                imported.append(name or f"a name ({op.name})")
            if op.name in _TEXT_LITERALS and name is not None:
                literals.append(name)
            elif op.name not in _NO_PUSH:
                literals.clear()
            if op.name in _USES and imported:  # INST is both: it imports and calls
                return f"imports {', '.join(imported)} and uses it"
            if op.name == "STOP":
                rest = stream.read(MAX_LINE)
                return "holds plain data" if not rest.strip() and not stream.read(1) else None
    except _Halt:
        return None
    return f"goes on for more than {MAX_OPCODES} opcodes"
