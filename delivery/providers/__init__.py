"""One module per provider, holding all that the service knows of it."""
