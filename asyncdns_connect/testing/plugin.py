"""pytest plugin: the ``dns_server`` fixture (filled in by the testing server work)."""
