"""Queue workers and the training core they run."""
