"""Server-rendered dashboard pages (Jinja2 templates in /templates)."""
