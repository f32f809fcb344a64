"""A country's public holidays, from the holidays package, remembered on disk between runs.

Importing the holidays package imports all of its ~250 country modules (about 0.1 s, an eighth of
`sevtriage classify --text`), whatever one country is asked for. So the dates of the years most
deadlines fall in (FIRST_YEAR..LAST_YEAR) are written once to a small JSON file named after the
package's release, and read from there afterwards without importing the package. A file from another
release, another country, or one that is damaged is never used: it is recomputed and replaced. Days
outside those years, and every day when no cache folder can be used, are asked of the package itself.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import json
import os
import re
import tempfile
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "CountryHolidays",
    "UnknownCountryError",
    "default_cache_dir",
    "installed_holidays_version",
]

FIRST_YEAR = 1990
LAST_YEAR = 2079
# English names, whatever the process locale, so that explanations read the same everywhere.
_LANGUAGE = "en_US"
_FORMAT = 1
_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,16}$")


class UnknownCountryError(ValueError):
    """The holidays package does not know the country (or the subdivision)."""


def default_cache_dir() -> Path | None:
    """Where tables are kept: ``SEVTRIAGE_CACHE_DIR`` ("off" for nowhere), else the XDG cache folder."""
    chosen = os.environ.get("SEVTRIAGE_CACHE_DIR", "").strip()
    if chosen.lower() == "off":
        return None
    if chosen:
        return Path(chosen)
    xdg = os.environ.get("XDG_CACHE_HOME", "").strip()
    base = Path(xdg) if xdg else Path(os.environ.get("HOME", "~")).expanduser() / ".cache"
    return base / "sevtriage"


def installed_holidays_version() -> str | None:
    """The holidays package's release, read from its installed metadata without importing the package.

    (`importlib.metadata.version` costs about 40 ms here, a third of what the cache saves: it reads every
    distribution on the path. The package's own folder sits next to its ``holidays-X.dist-info``.)
    """
    try:
        spec = importlib.util.find_spec("holidays")
        if spec is None or not spec.submodule_search_locations:
            return None
        folder = Path(next(iter(spec.submodule_search_locations))).parent
        for info in sorted(folder.glob("holidays-*.dist-info")):
            with (info / "METADATA").open(encoding="utf-8") as metadata:
                for line in metadata:
                    if line.startswith("Version:"):
                        return line.partition(":")[2].strip() or None
                    if not line.strip():
                        break  # the headers end at the first empty line
    except (ImportError, OSError, ValueError):
        return None
    return None


class CountryHolidays:
    """``day in table`` and ``table.get(day)`` (the holiday's English name) for one country and subdivision.

    ``cache_dir`` None reads nothing from disk and asks the package for every day.
    Raises `UnknownCountryError` for a country or subdivision the package does not know.
    """

    def __init__(self, country: str, subdivision: str | None, *, cache_dir: Path | None) -> None:
        self.country = country
        self.subdivision = subdivision
        self._package_table: Any = None
        self._lock = threading.Lock()
        self._days: dict[date, str] | None = None
        self._version = installed_holidays_version() if cache_dir is not None else None
        file = self._cache_file(cache_dir)
        if file is not None:
            self._days = self._read(file)
            if self._days is None:
                self._days = self._table_years()
                _write_atomically(file, self._document(self._days))
        else:
            self._package()  # checks the country now, as the calendar always did

    def __contains__(self, day: object) -> bool:
        return self.get(day) is not None

    def get(self, day: object) -> str | None:
        """The holiday's name on ``day``, or None."""
        if isinstance(day, datetime):
            day = day.date()
        if not isinstance(day, date):
            return None
        if self._days is not None and FIRST_YEAR <= day.year <= LAST_YEAR:
            return self._days.get(day)
        table = self._package()
        return str(table.get(day)) if day in table else None

    # -- the package -----------------------------------------------------------------------------------------

    def _package(self) -> Any:
        with self._lock:
            if self._package_table is None:
                package: Any = importlib.import_module("holidays")
                try:
                    self._package_table = package.country_holidays(
                        self.country, subdiv=self.subdivision, language=_LANGUAGE
                    )
                except NotImplementedError as error:
                    raise UnknownCountryError(str(error)) from None
            return self._package_table

    def _table_years(self) -> dict[date, str]:
        table = self._package()
        return {day: str(table.get(day)) for day in _every_holiday(table)}

    # -- the file --------------------------------------------------------------------------------------------

    def _cache_file(self, cache_dir: Path | None) -> Path | None:
        version = self._version
        if cache_dir is None or version is None:
            return None
        subdivision = self.subdivision or "_"
        if not (_SAFE.match(self.country) and _SAFE.match(subdivision) and _SAFE.match(version.replace(".", "-"))):
            return None
        return cache_dir / f"holidays-{version}-{self.country}-{subdivision}-{_LANGUAGE}-v{_FORMAT}.json"

    def _document(self, days: dict[date, str]) -> dict[str, object]:
        return {
            "format": _FORMAT,
            "holidays_version": self._version,
            "country": self.country,
            "subdivision": self.subdivision,
            "language": _LANGUAGE,
            "first_year": FIRST_YEAR,
            "last_year": LAST_YEAR,
            "days": {day.isoformat(): name for day, name in sorted(days.items())},
        }

    def _read(self, file: Path) -> dict[date, str] | None:
        """The file's days, or None when it is missing, damaged or made for something else."""
        try:
            document = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError):
            return None
        if not isinstance(document, dict):
            return None
        expected = self._document({})
        if any(document.get(key) != value for key, value in expected.items() if key != "days"):
            return None
        raw = document.get("days")
        if not isinstance(raw, dict):
            return None
        days: dict[date, str] = {}
        for key, name in raw.items():
            if not isinstance(name, str):
                return None
            try:
                day = date.fromisoformat(key)
            except (TypeError, ValueError):
                return None
            if not FIRST_YEAR <= day.year <= LAST_YEAR:
                return None
            days[day] = name
        return days


def _every_holiday(table: Any) -> list[date]:
    # Asking for the years fills the package's table (it expands on demand, a year at a time).
    for year in range(FIRST_YEAR, LAST_YEAR + 1):
        date(year, 1, 1) in table  # noqa: B015 - the lookup expands that year
    return sorted(day for day in table if FIRST_YEAR <= day.year <= LAST_YEAR)


def _write_atomically(file: Path, document: dict[str, object]) -> None:
    """Write the table next to its final name and rename it, so a reader never sees half a file.

    A folder that cannot be made or written only costs speed: nothing is raised.
    """
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".holidays-", suffix=".tmp", dir=file.parent)
    except OSError:
        return
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(document, out, ensure_ascii=False, separators=(",", ":"))
        # Public dates, not secrets: readable by other users of a shared cache folder (mkstemp makes it 0600).
        os.chmod(temporary, 0o644)
        os.replace(temporary, file)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
