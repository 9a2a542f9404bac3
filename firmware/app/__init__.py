# Service wiring for main.py: config, pins, supervisor, the services.
VERSION = "0.1.0"


def unload(*names):
    """Forget modules that only boot or a rare path needs (scanner set-up,
    the SETUP service): once nothing else holds their functions or classes,
    their module object, dict and code structures are garbage; a later
    import loads them again. The caller drops its own references first and
    runs gc.collect() after. docs/memory.md lists what this saves."""
    import sys

    for name in names:
        if sys.modules.pop(name, None) is None:
            continue
        # a package keeps its imported submodules as attributes
        parts = name.rsplit(".", 1)
        parent = sys.modules.get(parts[0]) if len(parts) == 2 else None
        if parent is not None:
            try:
                delattr(parent, parts[1])
            except (AttributeError, KeyError):  # MicroPython: KeyError
                pass
