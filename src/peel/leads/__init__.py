"""ANPR leads: vehicles near crimes, convoys, and their evaluation against ground truth."""
