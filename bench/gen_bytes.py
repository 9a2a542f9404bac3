"""Print a bytes constant as Python source for the generated firmware tables
(gen_ed25519_base.py, gen_p256_base.py): one literal per 32 bytes inside
parentheses, so the module freezes into flash as one bytes object."""


def print_bytes(name, data, width=32):
    print(name + " = (")
    for i in range(0, len(data), width):
        print("    b'" + "".join("\\x%02x" % c for c in data[i:i + width]) + "'")
    print(")")
