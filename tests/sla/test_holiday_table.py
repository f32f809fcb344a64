"""Country holidays remembered on disk: the same answers as the holidays package, and a cache that cannot lie."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.sla import BusinessCalendar, CalendarError, SlaPolicy
from sevtriage.sla.holiday_table import (
    FIRST_YEAR,
    LAST_YEAR,
    CountryHolidays,
    UnknownCountryError,
    default_cache_dir,
    installed_holidays_version,
)

SK = holidays.country_holidays("SK", language="en_US")
CZ = holidays.country_holidays("CZ", language="en_US")


def _cache_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("holidays-*.json"))


def test_the_installed_version_is_read_without_importing_the_package_the_same_as_the_package_says() -> None:
    assert installed_holidays_version() == holidays.__version__


@pytest.mark.parametrize("cached", [False, True])
def test_every_day_of_the_table_years_answers_as_the_package(tmp_path: Path, cached: bool) -> None:
    if cached:
        CountryHolidays("SK", None, cache_dir=tmp_path)  # writes the table
        assert len(_cache_files(tmp_path)) == 1
    table = CountryHolidays("SK", None, cache_dir=tmp_path)
    day = date(FIRST_YEAR, 1, 1)
    while day.year <= LAST_YEAR:
        assert (day in table) == (day in SK), day
        assert table.get(day) == (str(SK.get(day)) if day in SK else None), day
        day += timedelta(days=1)


_CZ_TABLE = CountryHolidays("CZ", None, cache_dir=None)


@settings(max_examples=60, deadline=None)
@given(st.dates(min_value=date(1900, 1, 1), max_value=date(2200, 12, 31)))
def test_days_outside_the_table_ask_the_package(day: date) -> None:
    table = _CZ_TABLE
    assert (day in table) == (day in CZ)
    assert table.get(day) == (str(CZ.get(day)) if day in CZ else None)


def test_a_subdivision_has_its_own_table(tmp_path: Path) -> None:
    bavaria = CountryHolidays("DE", "BY", cache_dir=tmp_path)
    berlin = CountryHolidays("DE", "BE", cache_dir=tmp_path)
    assert date(2026, 1, 6) in bavaria  # Epiphany: Bavaria, not Berlin
    assert date(2026, 1, 6) not in berlin
    assert len(_cache_files(tmp_path)) == 2
    assert date(2026, 1, 6) in CountryHolidays("DE", "BY", cache_dir=tmp_path)


def test_an_unknown_country_is_an_error_and_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(UnknownCountryError, match="XX"):
        CountryHolidays("XX", None, cache_dir=tmp_path)
    with pytest.raises(CalendarError, match="country must be an ISO code"):
        BusinessCalendar("Europe/Bratislava", country="XX", holiday_cache=tmp_path)
    assert _cache_files(tmp_path) == []


@pytest.mark.parametrize(
    "damage",
    [
        lambda text: "{ not json",
        lambda text: "",
        lambda text: json.dumps({**json.loads(text), "days": {"2026-13-45": "Nonsense"}}),
        lambda text: json.dumps({**json.loads(text), "days": ["2026-01-01"]}),
        lambda text: json.dumps({**json.loads(text), "holidays_version": "0.0.1"}),
        lambda text: json.dumps({**json.loads(text), "country": "CZ"}),
        lambda text: json.dumps({**json.loads(text), "format": 0}),
        lambda text: json.dumps([1, 2, 3]),
    ],
    ids=["not-json", "empty", "bad-date", "days-not-a-map", "other-version", "other-country", "old-format", "list"],
)
def test_a_damaged_or_foreign_cache_file_is_ignored_and_rewritten(tmp_path: Path, damage: object) -> None:
    CountryHolidays("SK", None, cache_dir=tmp_path)
    (file,) = _cache_files(tmp_path)
    good = file.read_text(encoding="utf-8")
    assert callable(damage)
    file.write_text(damage(good), encoding="utf-8")
    table = CountryHolidays("SK", None, cache_dir=tmp_path)
    assert date(2026, 1, 1) in table  # Republic Day
    assert date(2026, 1, 2) not in table
    assert json.loads(file.read_text(encoding="utf-8")) == json.loads(good)


def test_a_cache_from_another_holidays_release_is_never_read(tmp_path: Path) -> None:
    """The file name and the content both carry the release: a stale table (a law changed) is not used."""
    CountryHolidays("SK", None, cache_dir=tmp_path)
    (file,) = _cache_files(tmp_path)
    assert holidays.__version__ in file.name
    data = json.loads(file.read_text(encoding="utf-8"))
    data["days"]["2026-01-02"] = "Made-up holiday"
    data["holidays_version"] = "0.0.1"
    file.write_text(json.dumps(data), encoding="utf-8")
    assert date(2026, 1, 2) not in CountryHolidays("SK", None, cache_dir=tmp_path)


def test_the_cache_file_is_readable_by_everyone_and_no_temporary_file_is_left(tmp_path: Path) -> None:
    CountryHolidays("SK", None, cache_dir=tmp_path)
    (file,) = _cache_files(tmp_path)
    assert file.stat().st_mode & 0o777 == 0o644
    assert [p.name for p in tmp_path.iterdir()] == [file.name]


def test_a_cache_file_is_what_is_answered_from(tmp_path: Path) -> None:
    """Proof that a valid file is read (not recomputed): an edit to it shows in the answers."""
    CountryHolidays("SK", None, cache_dir=tmp_path)
    (file,) = _cache_files(tmp_path)
    data = json.loads(file.read_text(encoding="utf-8"))
    data["days"]["2026-01-02"] = "Edited"
    file.write_text(json.dumps(data), encoding="utf-8")
    assert CountryHolidays("SK", None, cache_dir=tmp_path).get(date(2026, 1, 2)) == "Edited"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_a_folder_that_cannot_be_written_only_costs_speed(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        table = CountryHolidays("SK", None, cache_dir=locked / "sub")
        assert date(2026, 1, 1) in table
    finally:
        locked.chmod(0o700)


def test_a_cache_path_that_is_a_file_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder", encoding="utf-8")
    assert date(2026, 1, 1) in CountryHolidays("SK", None, cache_dir=blocker)
    assert date(2026, 1, 1) in CountryHolidays("SK", None, cache_dir=blocker / "below")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"SEVTRIAGE_CACHE_DIR": "/x/y"}, Path("/x/y")),
        ({"SEVTRIAGE_CACHE_DIR": "off"}, None),
        ({"SEVTRIAGE_CACHE_DIR": ""}, Path("/h/.cache/sevtriage")),
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/sevtriage")),
        ({}, Path("/h/.cache/sevtriage")),
    ],
)
def test_the_cache_folder(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: Path | None) -> None:
    for name in ("SEVTRIAGE_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", "/h")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert default_cache_dir() == expected


def test_a_policy_loaded_from_a_file_uses_the_cache_and_decides_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEVTRIAGE_CACHE_DIR", str(tmp_path))
    cached = SlaPolicy.load()
    assert len(_cache_files(tmp_path)) == 1
    plain = SlaPolicy.from_text(Path(cached.source).read_text(encoding="utf-8"))
    assert plain.calendar.holiday_name(date(2026, 12, 24)) == cached.calendar.holiday_name(date(2026, 12, 24))
    assert cached.calendar.holiday_name(date(2026, 12, 24)) is not None
    start = date(2026, 12, 20)
    for offset in range(40):
        day = start + timedelta(days=offset)
        assert cached.calendar.is_holiday(day) == plain.calendar.is_holiday(day), day


def test_a_calendar_with_a_cache_folder_matches_one_without(tmp_path: Path) -> None:
    with_cache = BusinessCalendar("Europe/Bratislava", country="SK", holiday_cache=tmp_path)
    without = BusinessCalendar("Europe/Bratislava", country="SK")
    for year in (2025, 2026, 2027):
        for month in range(1, 13):
            day = date(year, month, 1)
            while day.month == month:
                assert with_cache.is_holiday(day) == without.is_holiday(day)
                assert with_cache.holiday_name(day) == without.holiday_name(day)
                day += timedelta(days=1)


def test_with_a_warm_cache_the_holidays_package_is_not_imported(tmp_path: Path) -> None:
    """The point of the cache: start-up skips importing the package's 250 country modules (about 0.1 s)."""
    program = (
        "import sys\n"
        "from datetime import date\n"
        "from pathlib import Path\n"
        "from sevtriage.sla.holiday_table import CountryHolidays\n"
        f"table = CountryHolidays('SK', None, cache_dir=Path({str(tmp_path)!r}))\n"
        "print(date(2026, 1, 1) in table, 'holidays' in sys.modules)\n"
    )
    cold = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    warm = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    assert cold.stdout.split() == ["True", "True"]
    assert warm.stdout.split() == ["True", "False"]
