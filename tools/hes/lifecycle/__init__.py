"""Head-end lifecycle operations on meters: firmware updates, key renewal, provisioning, fleet waves."""
