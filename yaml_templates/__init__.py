"""Installed as island_ssh.resources.yaml_templates: the Pod, PV and PVC templates (package data)."""
