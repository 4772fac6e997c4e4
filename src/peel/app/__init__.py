"""The app shell: FastAPI JSON API under /api and server-rendered pages."""
