"""The validity ladder (`xgem-bench validate`): controlled degradations and whether each metric follows them."""
from xgem_bench.validity.ladder import EXPECTED, MIN_RHO, format_validity_table, validate

__all__ = ["EXPECTED", "MIN_RHO", "format_validity_table", "validate"]
