"""EU Digital COVID Certificates on the host: the device's DSC trust table
(table.py), trust-list import (trustlist.py), test issuance (issue.py)."""
