"""Weekly figures: per grid and kind over a period, from the cases and their audit trail."""
