"""Errors raised by the scoring models."""


class FitError(Exception):
    """A model could not be fitted: too little data, a degenerate sample or no convergence."""
