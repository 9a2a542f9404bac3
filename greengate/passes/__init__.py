"""GG1 passes on the host: issuer keys, claims, issuing, and the reference verifier.

The reference verifier (verify.py) is an independent CPython implementation
(cbor2 + cryptography) of the exact semantics the firmware's verify/verifier.py
has; tests run both on the same inputs and require the same verdict and reason.
The format itself is specified in docs/pass-format.md.
"""
