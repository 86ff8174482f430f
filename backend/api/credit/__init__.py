"""Credit linkage (信用记录、规则、惩戒提议) API."""
