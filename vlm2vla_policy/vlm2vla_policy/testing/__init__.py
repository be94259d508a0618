"""Test support shipped with the library: the pytest plugin and tiny-model factories."""
