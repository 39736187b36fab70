"""Stagewise: fine-tune image classifiers with a learning rate per network stage."""
