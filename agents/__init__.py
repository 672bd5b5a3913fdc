"""The roles: architect, contractors, checker, trainer, evaluator."""
