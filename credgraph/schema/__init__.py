"""Domain models: identifiers, regions, personal-data protection, bundle rows."""
