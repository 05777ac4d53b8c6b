"""kubelite_scheduler."""
