"""Segments (四度 / RFM): the member base scored, and saved filters over it (API.md "Segments")."""
