"""Flask extensions, created unbound; ``create_app`` binds them. (Flask-Migrate is bound by
``create_app`` itself, only for the whole app: it imports Alembic, which `msp plan` never needs.)
"""

from __future__ import annotations

from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect

from msp.db import Base

db = SQLAlchemy(model_class=Base)
csrf = CSRFProtect()
