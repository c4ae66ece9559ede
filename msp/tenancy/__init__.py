"""Tenancy: the MSP's clients (tenants) and the scoping of every tenant-owned row."""
