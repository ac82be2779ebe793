"""pynet's minimal container runtime: namespaces held by a holder process, the command's process,
cgroups, /etc files, the container lifecycle (`pynet run/stop/rm/exec`), and the networks as
`pynet create/network/topology` manage them. It attaches containers through cni.libcni, as any
runtime does, and never imports cni.plugins (the plugins are executables to it)."""
