"""Conformance: run upstream Stigmem vector files against any node (see ``runner``)."""

from stigmem_vault.conformance.runner import (
    Outcome,
    Vector,
    VectorResult,
    load_vectors,
    run_conformance,
    run_vectors,
    summary,
)

__all__ = ["Outcome", "Vector", "VectorResult", "load_vectors", "run_conformance", "run_vectors",
           "summary"]
