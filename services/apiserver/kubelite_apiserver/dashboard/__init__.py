"""The dashboard: a web UI the apiserver serves at /dashboard/ (static files, no server state).

The page itself holds no data and is public, like /version; everything it shows it reads from
the API with the user's own credentials (a bearer token it keeps in the tab's sessionStorage,
or the browser's client certificate), so RBAC decides what each user sees and may do. The
scripts never build HTML from API data (textContent only), and the Content-Security-Policy
allows nothing but this origin.
"""

from __future__ import annotations

from importlib import resources

PREFIX = "/dashboard"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
SECURITY_HEADERS = [
    (b"content-security-policy", b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                 b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-cache"),
]


def is_dashboard(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


def serve(path: str) -> tuple[int, bytes, bytes]:
    """(status, content type, body) for a path under /dashboard; "/dashboard" itself redirects."""
    rest = path[len(PREFIX):].lstrip("/") or "index.html"
    name = rest.rsplit("/", 1)[-1]
    suffix = name[name.rfind("."):] if "." in name else ""
    if "/" in rest or suffix not in _TYPES or name.startswith("."):
        return 404, b"text/plain; charset=utf-8", b"404 page not found\n"
    try:
        body = resources.files(__package__).joinpath("static", name).read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        return 404, b"text/plain; charset=utf-8", b"404 page not found\n"
    return 200, _TYPES[suffix].encode(), body
