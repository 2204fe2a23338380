# Generated from openapi.yaml by `python -m codegen`. Do not edit by hand.
"""info.version of the openapi.yaml this client was generated from."""

API_VERSION = "0.3.0"
