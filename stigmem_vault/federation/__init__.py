"""Federation over git: scoped projections, signed peer declarations, verified pulls."""
