"""kubelite_apiserver."""
