"""ANPR leads: vehicles read near a set of crimes, scored against their own background, with
a chance figure that accounts for multiplicity, and the keeper behind each, explained; and
convoys (vehicles travelling with a target, `peel.leads.convoy`)."""

from __future__ import annotations

from peel.leads.crimes import Crime, by_filter, by_refs, parse_day
from peel.leads.find import THRESHOLD, authorised_find, find_leads
from peel.leads.score import Params

__all__ = [
    "THRESHOLD",
    "Crime",
    "Params",
    "authorised_find",
    "by_filter",
    "by_refs",
    "find_leads",
    "parse_day",
]
