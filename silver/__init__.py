"""Silver layer: Bronze rows parsed, standardized, quality-gated, deduplicated, or quarantined."""
