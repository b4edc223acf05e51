"""Tests of the {{ cookiecutter.package_name }} package."""

import os
import signal

# scikit-learn's array API conformance check runs only when SciPy's array API
# support is switched on, which has to happen before SciPy is first imported.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

# One OpenMP thread per test process, set before scikit-learn loads its OpenMP
# runtime: `make test` runs one process per core (pytest-xdist), and each
# process using every core would oversubscribe them. On a busy machine that
# makes fitting and predicting many times slower, even in a single process.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# A shell starts a background job (`make test &`) with Ctrl-C ignored, and the
# console scripts the tests start would inherit that: the tests that press
# Ctrl-C need them to take it, as they do when started from a terminal.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)
