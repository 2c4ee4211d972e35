"""The procedure catalogue: Mitos sync and what the offices serve."""
