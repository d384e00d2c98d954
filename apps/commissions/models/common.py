"""Field options shared by the commissions models."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Q

PERCENT = {
    "max_digits": 9,
    "decimal_places": 4,
    "validators": [MinValueValidator(0), MaxValueValidator(100)],
}
_CURRENCY_CHECK = Q(currency__regex=r"^[A-Z]{3,4}$")
