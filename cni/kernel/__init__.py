"""The thin kernel layer: namespaces, links and addresses (over pyroute2)."""
