"""kubelite_proxy."""
