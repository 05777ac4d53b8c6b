"""kubelite_controller_manager."""
