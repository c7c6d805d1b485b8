"""``python -m cli``: the upr-align command."""
from cli.main import app

app()
