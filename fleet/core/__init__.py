"""Fleet service core: settings, database, security, errors, logging, metrics."""
