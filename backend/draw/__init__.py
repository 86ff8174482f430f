"""The verifiable draw: verify_draw.py is both the server's algorithm and the standalone public verifier."""
