"""Statistics of cases, kept incrementally from the case events (issue 17, part 8)."""
