"""Silver layer: Bronze rows parsed, standardized, quality-gated, deduplicated, or quarantined."""
import os

# Before any module of this layer imports Great Expectations: no usage analytics sent from here.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
