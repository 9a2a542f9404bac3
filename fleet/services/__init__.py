"""Fleet business logic as plain functions on a SQLAlchemy Session: the API,
the CLI and the broker bridge all call these (libraries first)."""
