"""Hydra config files of the trainer (package data; also reachable as the top-level conf/)."""
