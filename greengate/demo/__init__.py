"""`greengate demo`: a living District 7 fleet on one command.

The fleet service (SQLite + embedded amqtt + dashboard) runs as a child
process; N simulated gate terminals run the real firmware under the
MicroPython unix port, each provisioned through the real provisioning path
over a pty; a scenario seeds District 7 through the fleet API and feeds the
terminals' scanners, with an F0 case after a minute. docs/demo.md.
"""
