"""Tests of the {{ cookiecutter.package_name }} package."""

import os

# scikit-learn's array API conformance check runs only when SciPy's array API
# support is switched on, which has to happen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
