"""pynet's DNS server: container names on each DNS-enabled network (see docs/dns.md)."""
