"""Weights catalog: one module per area (image metrics, report metrics, XGeM, competitors), each defining WEIGHTS."""
