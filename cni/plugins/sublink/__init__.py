"""What macvlan and ipvlan share: a link of one kind on a host interface (its master), moved into
the container. `config` reads either plugin's configuration (and says what differs between the two
kinds), `commands` does ADD/DEL/CHECK/STATUS/GC for a kind; cni.plugins.macvlan and
cni.plugins.ipvlan bind them to theirs."""
