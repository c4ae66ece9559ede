"""Publishing (issue 12): the engine's approved records written through each domain's DNS
provider, compare-and-swap, audited, then verified by the ordinary DNS check."""
