"""esi.testing: an ESI + EVE SSO simulator over real HTTP, and a pytest plugin (work in progress)."""
