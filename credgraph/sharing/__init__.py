"""Asking partner cities (区域信用共享, SPEC §8): their configuration and the HTTP client."""
