"""The whole system on one machine: ``python -m deploy.local`` (what ``make run`` runs)."""
