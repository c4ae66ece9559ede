"""marshmallow schemas of the API: pure validation and shaping, no database access."""
