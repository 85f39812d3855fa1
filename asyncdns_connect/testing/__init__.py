"""A programmable loopback DNS server for tests."""
