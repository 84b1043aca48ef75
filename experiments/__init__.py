"""Experiment specs (sweeps, paper reproductions) shipped with einsim."""
