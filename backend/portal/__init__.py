"""Server-rendered public portal (一公开): no sign-in, published data only."""

from .views import bp

__all__ = ["bp"]
