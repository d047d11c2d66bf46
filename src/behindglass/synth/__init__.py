"""Realistic multi-site synthetic OMOP CDM v5.4 data (``behindglass synth``).

Each built-in profile is a different kind of network member (population, disease burden,
care and prescribing patterns, coding habits, outcome risks); ``generate_site`` writes one
site's data set as CSV files that ``behindglass omop load`` reads.
"""

from behindglass.synth.generate import BLOCK, SynthReport, generate_site
from behindglass.synth.profile_catalog import PROFILES
from behindglass.synth.profiles import Profile

__all__ = ["BLOCK", "PROFILES", "Profile", "SynthReport", "generate_site"]
