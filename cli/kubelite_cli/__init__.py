"""kubelite_cli."""
