"""Fails to import: a dependency it names is missing (for the start-up error test)."""
import no_such_dependency_xyz  # noqa: F401
