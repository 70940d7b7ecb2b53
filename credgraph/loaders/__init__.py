"""The data bundle: readers, validation, entity resolution, batched idempotent writes."""
