"""Use cases of the service: each owns its transaction; routes and the worker call them."""
