"""The readable terminal summary of one graded submission."""
from __future__ import annotations

import os
import sys
import textwrap

from .results import SubmissionResult, listed_problems
from .textsafe import for_terminal


def _colour(enabled: bool):
    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if enabled else text
    return paint


def summary(result: SubmissionResult, verbose: bool = True, colour: bool | None = None) -> str:
    if colour is None:
        colour = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    paint = _colour(colour)
    # Everything below that a submission can influence goes through for_terminal: bounded, no escapes.
    lines = [paint(f"Graded {for_terminal(result.submission, 300)} ({result.kind})", "1")]
    for problem in listed_problems(result.problems):
        lines += textwrap.wrap(f"! {for_terminal(problem, 1000)}", 100, subsequent_indent="  ")
    for key, (title, points) in result.parts.items():
        tests = [test for test in result.tests if test.part == key]
        got = result.part_score(key)
        seconds = sum(test.seconds for test in tests)
        mark = paint("●", "32" if got == points else ("33" if got > 0 else "31"))
        lines.append(f"{mark} {title:<42} {got:>6.2f} / {points:<6g} {seconds:6.1f} s   [{key}]")
        if not verbose:
            continue
        for test in tests:
            sign = paint("✔", "32") if test.passed else paint("=", "33") if test.same_mistake_as else paint("✘", "31")
            lines.append(f"    {sign} {for_terminal(test.name, 200)[:72]:<72} {test.score:>5.2f}/{test.max_score:<5.2f}")
            if not test.passed:
                feedback = for_terminal(test.feedback(), 400).strip()
                first = feedback.splitlines()[0] if feedback else ""
                lines += [paint(line, "2") for line in textwrap.wrap(first, 96, initial_indent="        ",
                                                                       subsequent_indent="        ")][:4]
    lines.append(paint(f"Total {result.score:g} / {result.max_score:g}", "1")
                 + f"   in {result.execution_time:.1f} s ("
                 + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in result.timings.items()
                             if not name.startswith("part ")) + ")")
    if result.missing_protections:
        missing = for_terminal("; ".join(result.missing_protections), 1000)
        lines.append(paint(f"Sandbox incomplete: missing {missing}", "33"))
    else:
        lines.append("Sandbox: bubblewrap (own filesystem view, no network, own process namespace, unprivileged).")
    return "\n".join(lines)
