"""Conditions over contacts: the whitelist, validation, the SQL compiler and sampling.

A tree is JSON: ``{"all": [...]}``, ``{"any": [...]}``, ``{"not": {...}}`` or a
condition ``{"field": "city", "op": "eq", "value": "Turku"}``. Target groups
and saved filters both use it.
"""

from .compiler import Compiler, condition_holds, email_domain, matching_ids, strpos
from .fields import FIELDS, OPERATOR_LABELS, Field, FieldType
from .sampling import sample
from .validation import CriteriaError, check, validate

__all__ = [
    "FIELDS",
    "OPERATOR_LABELS",
    "Compiler",
    "CriteriaError",
    "Field",
    "FieldType",
    "check",
    "condition_holds",
    "email_domain",
    "matching_ids",
    "sample",
    "strpos",
    "validate",
]
