"""Webhook receivers: GitHub, GitLab, Bitbucket, Gitea and generic HMAC push events."""
