"""CPython stand-in for MicroPython's `micropython` module.

Only for running firmware modules under CPython in tests (differential checks
against the reference implementation). The MicroPython run is the one that
counts; code emitters (native/viper) become plain functions here.
"""


def const(value):
    return value


def native(func):
    return func


def viper(func):
    return func


def mem_info(*_args):
    return None
