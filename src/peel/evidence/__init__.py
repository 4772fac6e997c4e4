"""Digital evidence for disclosure: case material in, review, schedules (issue 7)."""
