"""Settings for the whole suite."""

from __future__ import annotations

import os
import tempfile

# The SLA policy remembers a country's holidays in a cache folder (sevtriage.sla.holiday_table); the suite, and
# the programs it starts, keep theirs in a temporary folder instead of the user's ~/.cache.
if not os.environ.get("SEVTRIAGE_CACHE_DIR"):
    os.environ["SEVTRIAGE_CACHE_DIR"] = tempfile.mkdtemp(prefix="sevtriage-test-cache-")
