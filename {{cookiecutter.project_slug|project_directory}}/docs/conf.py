"""Sphinx configuration of the documentation that ``make docs`` builds.

The name, author and version come from the installed distribution's metadata,
so ``pyproject.toml`` stays their only source.
"""

import re
from email.utils import getaddresses
from importlib.metadata import metadata

from docutils.nodes import Element, TextElement
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment

_metadata = metadata("{{ cookiecutter.project_slug }}")

project = _metadata["Name"]
author = ", ".join(
    name for name, _ in getaddresses(_metadata.get_all("Author-email") or []) if name
)
release = _metadata["Version"]
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx_click",
]
exclude_patterns = ["_build"]

autodoc_default_options = {"members": True}
autodoc_member_order = "bysource"
# Show numpy's ArrayLike by name instead of as the long union it stands for.
autodoc_type_aliases = {"ArrayLike": "numpy.typing.ArrayLike"}

napoleon_google_docstring = False
napoleon_numpy_docstring = True
# numpydoc types are prose ("ndarray of shape (n_samples,)", "float,
# default=0.1"): show them as written, in Attributes too, instead of
# cross-referencing each word.
napoleon_use_param = False
napoleon_use_rtype = False
napoleon_custom_sections = [("Attributes", "params_style")]

html_theme = "furo"
# The copyright holder is named in LICENSE, which is not package metadata.
html_show_copyright = False

# Every cross-reference must resolve (``-n``), except to the standard library
# and third-party packages: their documentation is not part of this build
# (intersphinx would download it at build time).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(collections\.abc|datetime|logging|pathlib|subprocess|typing)\.\w+"),
    (
        r"py:.*",
        r"(click|fairlearn|matplotlib|mlflow|np|numpy|optuna|pandas|pandera|pd"
        r"|prometheus_client|pyarrow|pydantic|pydantic_core|pydantic_settings|pyspark"
        r"|scipy|sklearn|starlette)\..+",
    ),
    # Autodoc cannot evaluate a signature naming a class imported for type
    # checking only (matplotlib's Figure, kept out of model loading; PySpark's
    # classes, an optional extra), so it shows that signature as written:
    # leave its bare class names unlinked. It shows the arguments of a
    # Callable as written too (Path).
    (r"py:class", r"Column|DataFrame|Figure|Path|Pipeline|SparkSession"),
]

# Members that libraries add to the project's classes, with their docstrings.
_GENERATED_MEMBERS = re.compile(
    r"model_config"  # pydantic's settings of a model
    r"|set_\w+_request"  # scikit-learn's metadata routing
)


def _skip_generated(  # noqa: PLR0917 (Sphinx's event signature)
    app: Sphinx, what: str, name: str, obj: object, skip: bool, options: object
) -> bool | None:
    """Skip library-generated members and NamedTuple field accessors.

    Skipping ``model_config`` also avoids a Sphinx 9 bug (sphinx-doc/sphinx
    issue 14337): documenting an attribute of a pydantic model rewrites
    pydantic's own annotations, and importing MLflow afterwards fails.
    """
    namedtuple_field = (getattr(obj, "__doc__", None) or "").startswith(
        "Alias for field number"
    )
    if _GENERATED_MEMBERS.fullmatch(name) or namedtuple_field:
        return True
    return None


def _hide_model_signature(  # noqa: PLR0917 (Sphinx's event signature)
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: object,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str, None] | None:
    """Show configuration models without pydantic's generated signature.

    Their fields are the keys of ``config.yaml``, described in the user guide.
    """
    if what == "class" and hasattr(obj, "model_fields"):
        return "", None
    return None


def _resolve_imported_name(
    app: Sphinx, env: BuildEnvironment, node: Element, contnode: TextElement
) -> Element | None:
    """Resolve a name a docstring uses as imported, like ``DataError``.

    Sphinx looks such a name up in the current module only; this finds it
    wherever it is documented. An ambiguous name is still reported.
    """
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or node.get("refspecific") or "." in target:
        return None
    node["refspecific"] = True
    return env.domains["py"].resolve_xref(
        env,
        node["refdoc"],
        app.builder,
        node["reftype"],
        target,
        node,
        contnode,
    )


def setup(app: Sphinx) -> None:
    """Connect the hooks above."""
    app.connect("autodoc-skip-member", _skip_generated)
    app.connect("autodoc-process-signature", _hide_model_signature)
    app.connect("missing-reference", _resolve_imported_name)
