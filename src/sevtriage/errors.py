"""Errors a user can cause. The CLI and the API turn them into messages and exit codes, never tracebacks."""

from __future__ import annotations

from dataclasses import dataclass


class SevtriageError(Exception):
    """Base class of every error sevtriage raises on purpose."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong in a configuration file, with where it is."""

    file: str
    line: int | None
    message: str
    rule_id: str | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        rule = f" [rule {self.rule_id}]" if self.rule_id else ""
        return f"{where}:{rule} {self.message}"


class ConfigError(SevtriageError):
    """A rules, policy or model file is unusable. Carries every problem found, each with file and line."""

    def __init__(self, problems: list[Problem] | Problem | str) -> None:
        if isinstance(problems, str):
            problems = [Problem(file="<config>", line=None, message=problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = problems
        super().__init__("\n".join(str(p) for p in problems))


class InputError(SevtriageError):
    """A request (or a row of an input file) is unusable; the message says why."""


class NotStored(SevtriageError):
    """A decision that could not be stored; the caller must not treat it as done.

    `retryable`: the store was out of reach, so the same call may succeed later. Otherwise the store refused
    this request itself; the message says why, without the request's text.
    """

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable
