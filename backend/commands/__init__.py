"""CLI commands contributed by domain modules (each module has a register(app) function)."""
