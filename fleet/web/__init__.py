"""Operators' dashboard (server-rendered, Vietnamese + English).

Owned by the dashboard work; mounted by fleet/api/main.py."""
