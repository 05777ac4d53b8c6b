"""kubelite_apiserver."""
IMPLEMENTED = True
