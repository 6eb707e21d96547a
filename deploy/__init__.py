"""Deployment: the local development stack (``make run``), compose and Kubernetes manifests."""
