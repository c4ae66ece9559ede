"""Domains: the client domains an MSP takes to DMARC p=reject, with per-domain settings."""
