"""pynet's lab: small qemu VMs on a throwaway bridge (vm.py) for tests and `pynet lab`."""
