"""The Rules page's pure parts: per-rule rows from the store's counts, and reading a candidate rule file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sevtriage.errors import ConfigError
from sevtriage.resources import default_rules_path
from sevtriage.review.whatif import MAX_CANDIDATE_BYTES, read_candidate, rule_rows
from sevtriage.rules.rulebook import load_rulebook
from sevtriage.store import Override, RuleCount
from sevtriage.types import Severity


def test_rule_rows_follow_the_file_sum_over_severities_and_keep_rules_only_the_store_knows() -> None:
    book = load_rulebook(default_rules_path())
    counts = [
        # serious-performance matched at severity 2 and, after an edit, at 3: one row, summed.
        RuleCount("serious-performance", Severity.HIGH, matched=10, reviewed=4, agreed=1, overridden=3),
        RuleCount("serious-performance", Severity.MEDIUM, matched=5, reviewed=2, agreed=2, overridden=0),
        RuleCount("retired-rule", Severity.LOW, matched=3, reviewed=1, agreed=0, overridden=1),
    ]
    at = datetime(2026, 11, 24, 10, tzinfo=UTC)
    overrides = [Override("serious-performance", "T-9", "Slow", Severity.HIGH, Severity.MEDIUM, "alice", at, "why")]
    rows = rule_rows(book, counts, overrides)
    assert [r.id for r in rows] == [r.id for r in book.rules] + ["retired-rule"]
    perf = next(r for r in rows if r.id == "serious-performance")
    assert (perf.matched, perf.reviewed, perf.agreed, perf.overridden, perf.live) == (15, 6, 3, 3, True)
    assert perf.precision == pytest.approx(0.5) and perf.override_rate == pytest.approx(0.5)
    assert [o.request_id for o in perf.overrides] == ["T-9"]
    untouched = next(r for r in rows if r.id == "usage-question")
    assert (untouched.matched, untouched.precision, untouched.override_rate) == (0, None, None)
    retired = rows[-1]
    assert (retired.live, retired.severity, retired.strength, retired.override_rate) == (False, 4, None, 1.0)


def test_a_candidate_reads_like_the_same_file_from_disk() -> None:
    source = default_rules_path().read_text(encoding="utf-8")
    on_disk = load_rulebook(default_rules_path())
    for data in (source.encode(), source.replace("\n", "\r\n").encode(), b"\xef\xbb\xbf" + source.encode()):
        candidate = read_candidate(data)
        assert candidate.digest == on_disk.digest and candidate.path == "candidate.yaml"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"  \n", "candidate.yaml: the rule file is empty; paste or upload a severity rules YAML file"),
        (b"rules: []\n\xff\n", "candidate.yaml: the rule file is not UTF-8 text (byte 10); save it as UTF-8"),
        (
            b"#" * (MAX_CANDIDATE_BYTES + 1),
            f"candidate.yaml: the rule file is {MAX_CANDIDATE_BYTES + 1:,} bytes; a candidate may have at most "
            f"{MAX_CANDIDATE_BYTES:,}",
        ),
    ],
)
def test_unreadable_candidates_say_what_is_wrong(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        read_candidate(data)
    assert [str(p) for p in raised.value.problems] == [message]
