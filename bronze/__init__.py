"""Bronze layer: landing files -> `bronze.events_raw`, every line exactly as received."""
