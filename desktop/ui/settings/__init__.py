"""Settings: the providers and their keys."""
