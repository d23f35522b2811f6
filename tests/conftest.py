"""Suite-wide test settings.

Hypothesis explores new random examples on every local run, so developers keep finding edge cases;
under CI (``CI=true``) it is derandomized, so a run's outcome depends only on the code under test.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
