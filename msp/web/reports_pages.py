"""The reports pages: upload report files, the list of received files with their status and
reason, reprocess, and (MSP staff) the unrouted files with "add this domain to a tenant"."""

from __future__ import annotations
