"""The dashboard: server-rendered HTML pages, a little JavaScript, live updates over SSE."""
