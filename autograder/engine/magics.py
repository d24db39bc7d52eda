"""IPython syntax in a cell turned into the plain Python a kernel would run, minus the shell.

IPython rewrites a line only where a logical line starts (not inside brackets,
strings or backslash continuations), so ``!= 3`` on a continuation line stays
Python. A cell magic that runs its body as Python (``%%time``, ``%%capture``,
``%%timeit`` (run once here), ``%%prun``, ``%%debug``) keeps its body; any
other cell magic (``%%bash``, ``%%writefile``, ``%%html``...) is dropped and
reported. ``%time expr`` runs ``expr``; other line magics, shell escapes and
help (``obj?``) become ``pass``; ``x = !cmd`` gives ``x = []`` (no command runs).
Every line keeps its number, so tracebacks point at the student's lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

RUN_BODY = frozenset({"time", "timeit", "capture", "prun", "debug"})  # cell magics whose body is Python
RUN_STATEMENT = frozenset({"time", "timeit", "prun", "debug"})  # line magics that run their argument
OPTIONS_WITH_VALUE = frozenset({"-n", "-r", "-p", "-s", "-T", "-D", "-l"})
_ASSIGNMENT = re.compile(r"([A-Za-z_][\w.]*(?:\s*,\s*[A-Za-z_][\w.]*)*)\s*=\s*([!%])(.*)", re.S)
_ESCAPES = ("%", "!", "?", "/", ",", ";")


@dataclass
class Transformed:
    source: str
    problems: list[str] = field(default_factory=list)  # for the student: what was not run, and why


def transform(source: str) -> Transformed:
    """``source`` (one cell) with IPython syntax replaced as described above."""
    lines = source.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        name, _, args = lines[first].lstrip()[2:].partition(" ")
        if name not in RUN_BODY:
            return Transformed("\n" * (len(lines) - 1), [
                f"its cell magic %%{name[:40]} was not run: the grader runs only Python, never "
                "shell commands, files or other languages"])
        setup = _statement(args) if name == "timeit" else ""  # %%timeit's line holds setup code
        lines[first] = setup
    return Transformed("\n".join(_transform_lines(lines)))


def _transform_lines(lines: list[str]) -> list[str]:
    out, scanner, escape_continues = [], _Scanner(), False
    for line in lines:
        if escape_continues:  # an escape's backslash continuation belongs to the escape
            out.append("")
            escape_continues = line.endswith("\\")
            continue
        if scanner.at_logical_start():
            replaced = _replace_escape(line)
            if replaced is not None:
                out.append(replaced)
                escape_continues = line.endswith("\\")
                continue
        last = scanner.feed(line)
        starts_here = scanner.started_line
        if starts_here and scanner.at_logical_start() and last == "?":  # `obj?` or `obj??`: help
            out.append(_indent(line) + "pass")
            continue
        out.append(line)
    return out


def _replace_escape(line: str) -> str | None:
    """The Python for an escaped line (``%magic``, ``!cmd``, ``x = !cmd``...), None for plain Python."""
    stripped, indent = line.lstrip(), _indent(line)
    assignment = _ASSIGNMENT.fullmatch(stripped)
    if assignment:
        target, escape, rest = assignment.groups()
        if escape == "!":
            return f"{indent}{target} = []"
        name, _, args = rest.lstrip("%").partition(" ")
        value = _statement(args) if name == "time" else ""
        return f"{indent}{target} = {value or 'None'}"
    if not stripped.startswith(_ESCAPES):
        return None
    if stripped.startswith("%") and not stripped.startswith("%%"):
        name, _, args = stripped[1:].partition(" ")
        statement = _statement(args) if name in RUN_STATEMENT else ""
        return indent + (statement or "pass")
    if stripped[0] in "/,;" and len(stripped) > 1 and (stripped[1].isalpha() or stripped[1] == "_"):
        return indent + _autocall(stripped[0], stripped[1:])
    return indent + "pass"  # shell escape, help, a cell magic below the first line


def _autocall(escape: str, content: str) -> str:
    """IPython's ``/f a b`` -> ``f(a, b)``, ``,f a b`` -> ``f("a", "b")``, ``;f a b`` -> ``f("a b")``."""
    name, _, args = content.partition(" ")
    if escape == "/":
        return f"{name}({', '.join(args.split())})"
    if escape == ",":
        return f"{name}({', '.join(repr(arg) for arg in args.split())})"
    return f"{name}({args.strip()!r})"


def _statement(args: str) -> str:
    """The statement after a magic's options (``-n 10 -r 3 f(x)`` -> ``f(x)``)."""
    words = args.strip().rstrip("\\").split(" ")
    while words and words[0].startswith("-") and words[0] != "-":
        option = words.pop(0)
        if option in OPTIONS_WITH_VALUE and words:
            words.pop(0)
    return " ".join(words).strip()


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


class _Scanner:
    """Where Python's logical lines start: bracket depth, open strings, backslash continuations."""

    def __init__(self):
        self.depth, self.quote, self.continued, self.started_line = 0, None, False, False

    def at_logical_start(self) -> bool:
        return self.depth == 0 and self.quote is None and not self.continued

    def feed(self, line: str) -> str:
        """Advance over one physical line; returns its last code character (outside strings and comments)."""
        self.started_line = self.at_logical_start()
        last, i, n = "", 0, len(line)
        while i < n:
            char = line[i]
            if self.quote:
                if char == "\\":
                    i += 2
                elif line.startswith(self.quote, i):
                    i, self.quote, last = i + len(self.quote), None, char
                else:
                    i += 1
                continue
            if char == "#":
                break
            if char in "\"'":
                self.quote = line[i:i + 3] if line[i:i + 3] in ('"""', "'''") else char
                i += len(self.quote)
                continue
            if char in "([{":
                self.depth += 1
            elif char in ")]}":
                self.depth = max(0, self.depth - 1)
            if not char.isspace():
                last = char
            i += 1
        ends_with_backslash = line.endswith("\\") and "#" not in line[i:]
        if self.quote in ("'", '"') and not ends_with_backslash:
            self.quote = None  # an unterminated one-line string: a syntax error Python will report
        self.continued = self.quote is None and ends_with_backslash
        return last
