"""Real parts for tests: upstream HTTP servers, gateway processes, polling helpers."""
