"""isoperf."""
