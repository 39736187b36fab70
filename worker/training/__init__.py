"""The training core: backbones and stage maps, param groups, schedules, data, the loop.

It knows nothing of HTTP, SQL or queues (an import-linter contract keeps it so); it
takes a `TrainConfig`, reports through callbacks and returns a result.
"""
