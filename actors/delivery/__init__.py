"""Delivery to and lookups in systems outside: the adapter registry and one adapter per external system."""
