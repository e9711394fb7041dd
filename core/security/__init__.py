"""Security helpers: password hashing (sessions and authorisation come with the web issue)."""
