"""A local stand-in for the Mitos (ΕΜΔΔ) API: a synthetic data set and a server that speaks its protocol."""
