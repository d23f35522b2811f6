"""HTTP API, dashboard and webhook receivers. Verifies, reads state, enqueues; never syncs inline."""
