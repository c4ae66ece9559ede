"""Authentication and authorisation: users, memberships, API tokens, web sessions, audit log."""
