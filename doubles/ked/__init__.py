"""A local double of the ΚΕΔ notification-centre lookup (SOAP)."""
