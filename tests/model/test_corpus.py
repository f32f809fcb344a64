"""Labelled data: the readers, the held-out split, and the checks the training corpus must pass."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sevtriage.model.corpus import (
    DataError,
    LabelledRequest,
    choose_heldout,
    counts,
    data_hash,
    near_duplicates,
    read_heldout_ids,
    read_labelled,
    split,
    training_split,
    validation_groups,
)
from sevtriage.types import Severity

DATA = Path(__file__).resolve().parents[2] / "data"
LANGUAGES = {"en", "sk", "cs"}


@pytest.fixture(scope="module")
def corpus() -> list[LabelledRequest]:
    return read_labelled(DATA)


# -- the corpus itself -------------------------------------------------------------------------------


def test_corpus_is_big_enough(corpus: list[LabelledRequest]) -> None:
    assert len(corpus) >= 2500


def test_corpus_has_every_language_and_severity(corpus: list[LabelledRequest]) -> None:
    table = Counter((r.language, int(r.severity)) for r in corpus)
    for language in LANGUAGES:
        for severity in (1, 2, 3, 4):
            assert table[(language, severity)] >= 30, (language, severity)
    assert {r.language for r in corpus} == LANGUAGES


def test_corpus_records_are_complete_and_in_their_language_folder(corpus: list[LabelledRequest]) -> None:
    for record in corpus:
        folder = Path(record.origin.rsplit(":", 1)[0]).parent.name
        assert record.language == folder, record.origin
        assert record.topic, f"{record.origin}: topic is empty"
        assert record.id.upper().startswith(folder.upper() + "-"), record.origin


def test_corpus_ids_are_unique(corpus: list[LabelledRequest]) -> None:
    # read_labelled refuses duplicates; this makes the check explicit and case-insensitive too.
    ids = Counter(r.id.lower() for r in corpus)
    assert [i for i, n in ids.items() if n > 1] == []


def test_corpus_has_no_near_duplicates(corpus: list[LabelledRequest]) -> None:
    pairs = near_duplicates(corpus, threshold=0.9)
    assert [(p.first, p.second, round(p.similarity, 3)) for p in pairs] == []


def test_no_near_duplicates_across_training_fresh_and_challenge_sets(corpus: list[LabelledRequest]) -> None:
    # An evaluation request that paraphrases a training one measures memory, not generalisation.
    others = read_labelled(DATA / "fresh" / "fresh.jsonl") + read_labelled(DATA / "challenge")
    assert len(others) >= 600
    pairs = near_duplicates([*corpus, *others], threshold=0.9)
    assert [(p.first, p.second, round(p.similarity, 3)) for p in pairs] == []


def test_challenge_set_has_every_language_and_severity_and_stays_out_of_training(
    corpus: list[LabelledRequest],
) -> None:
    challenge = read_labelled(DATA / "challenge")
    assert len(challenge) >= 300
    table = Counter((r.language, int(r.severity)) for r in challenge)
    assert all(table[(lang, sev)] >= 15 for lang in LANGUAGES for sev in (1, 2, 3, 4)), table
    assert not {r.id for r in challenge} & {r.id for r in corpus}


def test_heldout_split_is_a_stratified_fifth(corpus: list[LabelledRequest]) -> None:
    held = read_heldout_ids(DATA)
    ids = {r.id for r in corpus}
    assert held <= ids, f"held-out ids not in the corpus: {sorted(held - ids)[:10]}"
    assert 0.15 <= len(held) / len(corpus) <= 0.25
    groups = Counter((r.language, int(r.severity)) for r in corpus if r.id in held)
    assert all(groups[(lang, sev)] >= 5 for lang in LANGUAGES for sev in (1, 2, 3, 4)), groups


# -- reading ---------------------------------------------------------------------------------------------


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_text(text, encoding=encoding)
    return path


def test_csv_with_semicolons_and_bom(tmp_path: Path) -> None:
    text = "id;subject;body;severity\nA-1;Nejde export;Pohoda hlási chybu;high\n"
    path = write(tmp_path / "x.csv", text, "utf-8-sig")
    (record,) = read_labelled(path)
    assert (record.id, record.subject, record.body, record.severity) == ("A-1", "Nejde export", "Pohoda hlási chybu", 2)
    assert record.origin == f"{path}:2"


def test_jsonl_without_ids_gets_file_and_line_ids(tmp_path: Path) -> None:
    rows = [{"subject": "a", "body": "", "severity": 4}, {"subject": "", "body": "b", "severity": "1"}]
    path = write(tmp_path / "x.jsonl", "\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert [(r.id, r.severity) for r in read_labelled(path)] == [("x.jsonl:1", Severity.LOW), ("x.jsonl:2", 1)]


def test_json_list_and_tags(tmp_path: Path) -> None:
    path = write(tmp_path / "x.json", json.dumps([{"id": "k", "body": "b", "severity": 3, "tags": ["a", "b"]}]))
    assert read_labelled(path)[0].tags == ("a", "b")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("x.jsonl", '{"subject": "a", "severity": 2}\n{oops\n', r"x\.jsonl:2: not valid JSON .* each line must be one"),
        ("x.jsonl", "[1, 2]\n", r"x\.jsonl:1: each line must be a JSON object; got list"),
        ("x.jsonl", '{"subject": "a"}\n', r"x\.jsonl:1: the column 'severity' is missing"),
        ("x.jsonl", '{"subject": "a", "severity": 7}\n', r"x\.jsonl:1: severity must be one of 1, 2, 3, 4 .*got 7"),
        ("x.jsonl", '{"subject": " ", "body": "", "severity": 2}\n', r"x\.jsonl:1: subject and body are both empty"),
        ("x.csv", "id,subject,body,severity\n1,a,b,2,extra\n", r"x\.csv:2: more fields than the header has columns"),
        ("x.json", '{"a": 1}', r"x\.json: a \.json data file must hold a list of objects"),
        ("x.txt", "hello", r"x\.txt: unknown data file type '\.txt'; use one of \.jsonl"),
        (
            "x.jsonl",
            '{"id": "A", "subject": "a", "severity": 2}\n{"id": "A", "subject": "b", "severity": 3}\n',
            r"x\.jsonl:2: id 'A' is already used at .*x\.jsonl:1; ids must be unique",
        ),
        ("x.jsonl", "", r"x\.jsonl: contains no labelled requests"),
    ],
)
def test_unusable_files_are_explained(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(DataError, match=message):
        read_labelled(path)


def test_not_utf8_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes("subject,severity\nchyba v exporte ľ,2\n".encode("cp1250"))
    with pytest.raises(DataError, match=r"x\.csv: is not UTF-8 \(byte \d+\); save it as UTF-8"):
        read_labelled(path)


def test_missing_path_and_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder; give a labelled CSV/JSONL file or the data/ folder"):
        read_labelled(tmp_path / "nope.csv")
    with pytest.raises(DataError, match=r"no labelled data files found; expected corpus/<language>/\*\.jsonl"):
        read_labelled(tmp_path)


def test_folder_split_and_file_training(tmp_path: Path) -> None:
    (tmp_path / "corpus" / "en").mkdir(parents=True)
    rows = [{"id": f"EN-{i}", "subject": f"s{i}", "severity": 1 + i % 4} for i in range(8)]
    write(tmp_path / "corpus" / "en" / "part-01.jsonl", "\n".join(json.dumps(r) for r in rows))
    write(tmp_path / "heldout_ids.txt", "# comment\nEN-1\nEN-2\n")
    parts = training_split(tmp_path)
    assert [r.id for r in parts.heldout] == ["EN-1", "EN-2"]
    assert len(parts.train) == 6
    whole = training_split(tmp_path / "corpus" / "en" / "part-01.jsonl")
    assert (len(whole.train), whole.heldout) == (8, [])


# -- facts and the split -------------------------------------------------------------------------------

records_strategy = st.lists(
    st.builds(
        LabelledRequest,
        id=st.text("abcdef0123", min_size=1, max_size=8),
        subject=st.text(max_size=20),
        body=st.just("body"),
        severity=st.sampled_from(list(Severity)),
        language=st.sampled_from(["en", "sk", "cs"]),
    ),
    max_size=40,
    unique_by=lambda r: r.id,
)


@settings(max_examples=50, deadline=None)
@given(records_strategy, st.randoms())
def test_split_and_hash_do_not_depend_on_order(records: list[LabelledRequest], random: object) -> None:
    shuffled = list(records)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert choose_heldout(records) == choose_heldout(shuffled)
    assert data_hash(records) == data_hash(shuffled)
    parts = split(records, choose_heldout(records))
    assert len(parts.train) + len(parts.heldout) == len(records)
    assert not {r.id for r in parts.train} & {r.id for r in parts.heldout}


def test_hash_changes_with_a_label() -> None:
    one = [LabelledRequest("a", "s", "b", Severity.HIGH)]
    other = [LabelledRequest("a", "s", "b", Severity.MEDIUM)]
    assert data_hash(one) != data_hash(other)


def test_counts_and_near_duplicates() -> None:
    records = [
        LabelledRequest("a", "Export to Pohoda fails on payroll day", "", Severity.CRITICAL, "en"),
        LabelledRequest("b", "Export to Pohoda fails on payroll day!", "", Severity.HIGH, "en"),
        LabelledRequest("c", "Ako pridám nadriadeného?", "", Severity.LOW, "sk"),
    ]
    assert counts(records) == {"severity": {"1": 1, "2": 1, "4": 1}, "language": {"en": 2, "sk": 1}}
    (pair,) = near_duplicates(records)
    assert (pair.first, pair.second) == ("a", "b") and pair.similarity > 0.99


def test_validation_groups_are_the_corpus_parts() -> None:
    records = read_labelled(DATA)
    grouping = validation_groups(records, folds=5)
    assert grouping.method == "file"
    parts = {str(p) for p in (DATA / "corpus").glob("*/part-*.jsonl")}
    assert set(grouping.groups) == parts and grouping.count == len(parts)
    assert all(r.origin.startswith(g + ":") for r, g in zip(records, grouping.groups, strict=True))
    assert f"({len(parts)} files" in grouping.description


def test_one_file_falls_back_to_contiguous_blocks(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_text("subject,severity\n" + "".join(f"request {i},{1 + i % 4}\n" for i in range(123)), encoding="utf-8")
    grouping = validation_groups(read_labelled(path), folds=5)
    assert grouping.method == "blocks" and grouping.count == 50
    # Contiguous: a block's rows are neighbours in the file, and blocks differ by at most one row in size.
    changes = sum(a != b for a, b in zip(grouping.groups, grouping.groups[1:], strict=False))
    assert changes == 49
    sizes = [grouping.groups.count(g) for g in set(grouping.groups)]
    assert max(sizes) - min(sizes) <= 1
    assert "50 contiguous blocks of about 2 rows in file order" in grouping.description


# -- messages that point at the right place (issue 10, item 10) --------------------------------------------------


def test_a_bad_csv_record_is_reported_at_the_line_where_it_starts(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text(
        'id,subject,body,severity\nA,Login,"first\nsecond\nthird",1\nB,Export,"one\ntwo",medium\nC,,"",2\n',
        encoding="utf-8",
    )
    with pytest.raises(DataError) as error:
        read_labelled(path)
    assert str(error.value) == f"{path}:7: subject and body are both empty; at least one must hold the request text"
    path.write_text('id,subject,body,severity\nA,Login,"first\nsecond",1,extra\nB,x,y,2\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"x\.csv:2: more fields than the header has columns"):
        read_labelled(path)


def test_text_columns_under_other_names_are_named_as_missing(tmp_path: Path) -> None:
    path = tmp_path / "tickets.csv"
    path.write_text("id,summary,description,severity\nA,Login fails,Nobody can log in,1\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_labelled(path)
    assert str(error.value) == (
        f"{path}:1: the header has no 'subject' or 'body' column (found: id, summary, description, severity); "
        "name the request text columns subject and body"
    )
    lines = tmp_path / "tickets.jsonl"
    lines.write_text(json.dumps({"id": "A", "summary": "Login fails", "severity": 1}) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as error:
        read_labelled(lines)
    assert str(error.value) == (
        f"{lines}:1: no 'subject' or 'body' field (found: id, summary, severity); "
        "name the request text fields subject and body"
    )
