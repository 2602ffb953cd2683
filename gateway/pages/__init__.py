"""The member's pages (claim, wallet): server-rendered from the same services as the API."""
