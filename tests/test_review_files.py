"""The review files of a rendered project, and the answers they are made from.

With a CI provider, a project gets a CODEOWNERS file naming the ``code_owners``
answer and a pull- or merge-request template holding the model-change review
of the ML Test Score (Model 1); the ``tracking_uri`` answer reaches
``config.yaml``. Bad answers to either stop the rendering in one line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException

from baked import BakedProject, Cookies, bake, try_bake
from helpers import choices, cookiecutter_options, load_hook

pre = load_hook("pre_gen_project")

NAMES = {"project_name": "Penguin Predictor", "organization": "Palmer Station Lab"}
CODE_OWNERS = "@palmer-station-lab/ml-reviewers jane.doe@example.com"
# Characters YAML treats specially (&, quotes, #): config.yaml must quote them.
TRACKING_URI = "https://mlflow.example.com:8443/api?workspace=ml&team='penguins'#x"
DEFAULT_TRACKING_URI = cookiecutter_options()["tracking_uri"]
NO_GIT = {"init_git": "no"}

# The review files each CI provider adds, and no other does.
REVIEW_FILES = {
    "github": [".github/CODEOWNERS", ".github/pull_request_template.md"],
    "gitlab": [".gitlab/CODEOWNERS", ".gitlab/merge_request_templates/Default.md"],
    "none": [],
}
# What a reviewer is asked for, as the request template words it.
CHECKLIST = [
    "**Configuration**: the `config.yaml` keys that changed",
    "`model` hyperparameters",
    "**Data**: a new source (`data.path`)",
    "the run's `data.sha256` tag",
    "**Gate result**: the two lines `uv run penguin-predictor train` printed",
    "`Registered version ...`",
    "the link to that run in",
    "**Model card**: the link to the run's `model_card.md` artifact",
    "**Checks**: `make check` passes",
]


@pytest.fixture(scope="module")
def projects(cookies_session: Cookies) -> dict[str, BakedProject]:
    """One project per CI provider, with a tracking server and two owners."""
    return {
        ci: bake(
            cookies_session,
            **NAMES,
            code_owners=CODE_OWNERS,
            tracking_uri=TRACKING_URI,
            ci=ci,
            **NO_GIT,
        )
        for ci in choices("ci")
    }


@pytest.fixture(scope="module")
def default_project(cookies_session: Cookies) -> BakedProject:
    """A project with the default answers to ``code_owners`` and ``tracking_uri``."""
    return bake(cookies_session, **NAMES, **NO_GIT)


def rules(codeowners: str) -> list[str]:
    """Return the lines of a CODEOWNERS file that are neither blank nor comments."""
    return [
        line
        for line in codeowners.splitlines()
        if line.strip() and not line.startswith("#")
    ]


def tracking(project: BakedProject) -> dict[str, Any]:
    """Return the ``tracking`` section of the project's ``config.yaml``."""
    config: dict[str, Any] = yaml.safe_load(project.read_text("config.yaml"))
    section: dict[str, Any] = config["tracking"]
    return section


def request_template(project: BakedProject) -> str:
    """Return the project's pull- or merge-request template."""
    return project.read_text(REVIEW_FILES[project.answers["ci"]][1])


def test_every_ci_choice_has_its_review_files() -> None:
    assert set(REVIEW_FILES) == set(choices("ci"))


@pytest.mark.parametrize("ci", choices("ci"))
def test_review_files_come_only_with_their_ci_provider(
    projects: dict[str, BakedProject], ci: str
) -> None:
    project = projects[ci]

    for provider, files in REVIEW_FILES.items():
        for relative in files:
            assert project.has_file(relative) == (provider == ci), relative
    assert project.path.joinpath(".gitlab").exists() == (ci == "gitlab")


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_codeowners_give_every_file_to_the_answer(
    projects: dict[str, BakedProject], ci: str
) -> None:
    codeowners = projects[ci].read_text(REVIEW_FILES[ci][0])

    assert rules(codeowners) == [f"* {CODE_OWNERS}"]


def test_default_code_owners_are_the_organizations_reviewers(
    default_project: BakedProject,
) -> None:
    owners = default_project.answers["code_owners"]

    assert owners == "@palmer-station-lab/ml-reviewers"
    assert pre.check_code_owners("code_owners", owners) is None
    assert rules(default_project.read_text(".github/CODEOWNERS")) == [f"* {owners}"]


@pytest.mark.parametrize("ci", ["github", "gitlab"])
def test_request_template_holds_the_model_review(
    projects: dict[str, BakedProject], ci: str
) -> None:
    template = request_template(projects[ci])

    for item in CHECKLIST:
        assert item in template, item
    assert template.count("- [ ] ") == 5
    assert f"the team's server: {TRACKING_URI}" in template


def test_both_providers_ask_the_same_review(
    projects: dict[str, BakedProject],
) -> None:
    github, gitlab = (request_template(projects[ci]) for ci in ["github", "gitlab"])

    assert github.replace("so does CI", "so does the pipeline") == gitlab


def test_request_template_without_a_server_says_why_the_link_matters(
    default_project: BakedProject,
) -> None:
    template = request_template(default_project)

    assert "reviewers cannot open a local `mlflow.db`" in template
    assert "the team's server:" in template


def test_readiness_page_names_the_reviewers_and_stays_manual(
    projects: dict[str, BakedProject],
) -> None:
    for ci, project in projects.items():
        page = project.read_text("docs/production-readiness.md")
        (row,) = [line for line in page.splitlines() if "are reviewed" in line]
        assert "| manual (0.5) |" in row
        assert f"`{CODE_OWNERS}`" in row
        for relative in REVIEW_FILES[ci]:
            assert f"`{relative}`" in row


def test_tracking_uri_reaches_config_yaml(projects: dict[str, BakedProject]) -> None:
    for project in projects.values():
        assert tracking(project)["uri"] == TRACKING_URI


def test_default_tracking_uri_leaves_config_yaml_unset(
    default_project: BakedProject,
) -> None:
    assert DEFAULT_TRACKING_URI == "sqlite:///mlflow.db"
    assert "uri" not in tracking(default_project)
    assert "  # uri: http://mlflow.example.com" in default_project.read_text(
        "config.yaml"
    )


BAD_REVIEW_ANSWERS = [
    pytest.param("code_owners", "nobody", id="owner-without-at"),
    pytest.param("tracking_uri", "http://u:p@host", id="uri-with-credentials"),
    pytest.param("tracking_uri", "ftp://x", id="uri-ftp"),
]


@pytest.mark.parametrize(("field", "value"), BAD_REVIEW_ANSWERS)
def test_bad_answer_is_one_line_and_leaves_nothing(
    field: str,
    value: str,
    cookies: Cookies,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    result = try_bake(cookies, **{field: value}, **NO_GIT)

    assert isinstance(result.exception, FailedHookException)
    assert result.project_path is None
    # pytest-cookies bakes into <tmp_path>/cookies/bakeNN, left empty.
    (bake_dir,) = (tmp_path / "cookies").iterdir()
    assert list(bake_dir.iterdir()) == []
    err = capfd.readouterr().err
    errors = [line for line in err.splitlines() if "Error:" in line]
    assert len(errors) == 1
    assert errors[0].startswith(f"Error: {field} ")
    assert ":p@" not in err
