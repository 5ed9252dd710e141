"""Installed as island_ssh.resources.conf: the default config, crontab example and container entry script (package data)."""
