"""Sweeps: from a `SweepSpec` to trials and their configs, on Optuna.

`space` turns a trial's parameters into config overrides and a `TrainConfig`, and checks a
spec against its base config before anything is stored; `study` makes Optuna's samplers,
pruners, studies and storage, and connects a trial to the training core's per-epoch callback.
No HTTP, SQL tables or queues here: the sweep service and the worker build on it.
"""
