"""kubelite_nodeagent."""
