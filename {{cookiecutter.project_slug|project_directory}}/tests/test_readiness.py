"""The production-readiness page keeps its sums, and its claims point at real checks."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
PAGE = PROJECT / "docs" / "production-readiness.md"
SECTIONS = ("Data", "Model", "Infrastructure", "Monitoring")
STATUS = re.compile(r"(automated|manual|not yet) \((1|0\.5|0)\)")
ROW = re.compile(r"^\| (\d) \| (.+?) \| (.+?) \| (.*) \|$")
SECTION_TOTAL = re.compile(r"^\| \| \*\*(\w+) score\*\* \| \*\*([\d.]+)\*\* \| \|$")
SCORE_ROW = re.compile(r"^\| \{ref\}`(\w+) <[\w-]+>` \| ([\d.]+) \|$")
FINAL_SCORE = re.compile(
    r"^\| \*\*ML Test Score\*\* \(the lowest\) \| \*\*([\d.]+)\*\* \|$"
)
CODE = re.compile(r"`([^`]+)`")


@dataclass(frozen=True)
class Row:
    """One test of the rubric as the page states it."""

    section: str
    number: int
    status: str
    points: float
    covered_by: str


def read_page() -> tuple[list[Row], dict[str, float], dict[str, float], float]:
    """Return the page's rows, its section totals, its score table and final score."""
    rows, totals, scores = [], {}, {}
    final = float("nan")
    section = ""
    for line in PAGE.read_text(encoding="utf-8").splitlines():
        if line.startswith("## ") and line[3:] in SECTIONS:
            section = line[3:]
        elif match := ROW.match(line):
            status = STATUS.fullmatch(match[3])
            assert status, f"row {section} {match[1]} has no status: {match[3]!r}"
            points = float(status[2])
            rows.append(Row(section, int(match[1]), status[1], points, match[4]))
        elif match := SECTION_TOTAL.match(line):
            totals[match[1]] = float(match[2])
        elif match := SCORE_ROW.match(line):
            scores[match[1]] = float(match[2])
        elif match := FINAL_SCORE.match(line):
            final = float(match[1])
    return rows, totals, scores, final


def defined_tests() -> set[str]:
    """Return the name of every test function of the project's test suite."""
    names: set[str] = set()
    for path in (PROJECT / "tests").glob("test_*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names.update(
            node.name
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
        )
    return names


def checks_named(covered_by: str, tests: set[str]) -> tuple[list[str], list[str]]:
    """Return the tests, test files and CI files ``covered_by`` names, and the unknown.

    Names in backticks count: a test function (``test_...``), or a path under
    ``tests/`` or of a CI configuration.
    """
    found: list[str] = []
    unknown: list[str] = []
    for name in CODE.findall(covered_by):
        if re.fullmatch(r"test_\w+", name):
            (found if name in tests else unknown).append(name)
        elif name.startswith(("tests/", ".github/", ".gitlab-ci.yml")):
            (found if (PROJECT / name).exists() else unknown).append(name)
    return found, unknown


def test_every_section_has_its_seven_tests_once() -> None:
    rows, _, _, _ = read_page()

    for section in SECTIONS:
        numbers = [row.number for row in rows if row.section == section]
        assert numbers == list(range(1, 8)), section


def test_section_totals_are_the_sums_of_their_rows() -> None:
    rows, totals, scores, _ = read_page()

    for section in SECTIONS:
        summed = sum(row.points for row in rows if row.section == section)
        assert totals[section] == summed, section
        assert scores[section] == summed, section


def test_the_score_is_the_lowest_section() -> None:
    _, totals, _, final = read_page()

    assert final == min(totals[section] for section in SECTIONS)


@pytest.mark.parametrize("section", SECTIONS)
def test_every_automated_row_names_a_check_that_exists(section: str) -> None:
    rows, _, _, _ = read_page()
    tests = defined_tests()

    for row in rows:
        if row.section != section or row.status != "automated":
            continue
        found, unknown = checks_named(row.covered_by, tests)
        assert found, f"{section} {row.number} names no test or CI step"
        assert not unknown, f"{section} {row.number} names missing {unknown}"
