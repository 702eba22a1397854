"""The fact model: typed values, identifiers, the hybrid logical clock, relation schemas."""
