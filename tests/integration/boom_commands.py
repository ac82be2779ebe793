"""A plugin commands module whose ADD fails unexpectedly (for the skeleton's error path)."""


def add(request):
    raise ZeroDivisionError("boom in the middle of ADD")


def delete(request):
    return None


def check(request):
    return None
